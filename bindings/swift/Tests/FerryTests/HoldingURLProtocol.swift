// A URLProtocol that holds every request it is given, as nsurlsessiond holds a background
// task, until the test ends them all, for instance with the error iOS delivers after a
// force-quit. Lets the Linux suite put real URLSession tasks into the states a background
// session sees on a device.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class HoldingURLProtocol: URLProtocol, @unchecked Sendable {
    private static let lock = NSLock()
    private static var held: [HoldingURLProtocol] = []

    /// A configuration whose tasks are held by this protocol.
    static func configuration() -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.default
        configuration.protocolClasses = [HoldingURLProtocol.self]
        return configuration
    }

    /// What iOS delivers for every task after the user force-quits the app.
    static let forceQuit = NSError(
        domain: NSURLErrorDomain, code: NSURLErrorCancelled,
        userInfo: [NSURLErrorBackgroundTaskCancelledReasonKey: NSURLErrorCancelledReasonUserForceQuitApplication])

    static var heldCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return held.count
    }

    /// Ends every held request with `error`.
    static func failAll(with error: NSError) {
        lock.lock()
        let requests = held
        held = []
        lock.unlock()
        for request in requests { request.client?.urlProtocol(request, didFailWithError: error) }
    }

    override class func canInit(with request: URLRequest) -> Bool { true }
    override class func canonicalRequest(for request: URLRequest) -> URLRequest { request }

    override func startLoading() {
        Self.lock.lock()
        Self.held.append(self)
        Self.lock.unlock()
    }

    override func stopLoading() {
        Self.lock.lock()
        Self.held.removeAll { $0 === self }
        Self.lock.unlock()
    }
}

/// Polls `condition` every 20 ms until it holds; fails with `TimedOut` after `seconds`
/// (a guard against a hang, not a speed assertion).
func eventually(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while try await !condition() {
        if Date() > deadline { throw TimedOut(what: what) }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}
