// Defaults for the `PlatformTransferService` requirements that an iOS shim has no use
// for, so a service written for iOS implements only what URLSession does. Must never
// hold policy: a refusal here only tells the core to hand work to the OS as usual.

import Foundation

extension PlatformTransferService {
    /// iOS has no job that keeps an app running for its own transfers (a background task
    /// from `beginBackgroundTask` lasts seconds): refused, so Ferry hands work to the
    /// background session as without `keepAppRunning`.
    public func keepAppRunning(remainingBytes: Int64) throws {
        throw PlatformError.Refused(
            reason: "this platform cannot keep the app running; Ferry hands work to the OS")
    }

    /// Nothing to end: `keepAppRunning` never started anything.
    public func letAppStop() {}
}
