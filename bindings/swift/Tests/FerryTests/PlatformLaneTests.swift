// The platform lane across the FFI: a `PlatformTransferService` written in Swift
// (`RecordingPlatform`) is driven by the core, uploads handoffs with URLSession, and
// reports back with `platformProgress` / `platformFinished`; the queue's persisted state
// follows. Also reconciliation at open against `outstanding()`.
import Foundation
import XCTest
import Ferry

final class PlatformLaneTests: XCTestCase {
    private var scratch: Scratch!
    private var base: String!

    /// Files at least this big go to the platform in these tests.
    private let threshold: Int64 = 64 * 1024

    override func setUpWithError() throws {
        LogCapture.install()
        scratch = try Scratch()
        base = try Testkit.baseURL()
    }

    override func tearDownWithError() throws {
        scratch?.remove()
    }

    /// A foreground app's queue: the app says so as it opens it.
    private func config(threshold: Int64) -> QueueConfig {
        var config = defaultQueueConfig(databasePath: scratch.databasePath)
        config.largeFileThreshold = threshold
        config.appState = .foreground
        return config
    }

    private func open(_ platform: RecordingPlatform, threshold: Int64) async throws -> TransferQueue {
        let queue = try await TransferQueue.openWithPlatform(config: config(threshold: threshold), platform: platform)
        platform.attach(queue)
        return queue
    }

    /// An app relaunched in the background opens its queue saying so: even a small file,
    /// below the threshold, goes to the OS, and nothing is sent in-process.
    func testAQueueOpenedInTheBackgroundSendsNothingInProcess() async throws {
        try await bounded(120, "testAQueueOpenedInTheBackgroundSendsNothingInProcess") {
            var config = self.config(threshold: Int64.max)
            config.appState = .background
            let platform = RecordingPlatform(.hold)
            let queue = try await TransferQueue.openWithPlatform(config: config, platform: platform)
            platform.attach(queue)
            let prefix = Testkit.uniquePrefix("background")
            let (file, _) = try self.scratch.randomFile("small.bin", count: 4096)
            let id = try await queue.enqueue(upload: .put(file, to: self.base + prefix + "small.bin"))
            let handoffs = try await platform.waitForHandoffs(1)
            XCTAssertEqual(handoffs.map(\.transferId), [id], "even a small file goes to the OS")
            let received = try await Testkit.received()
            XCTAssertNil(received["/\(prefix)small.bin"], "nothing was sent in-process")
            try await queue.shutdown()
        }
    }

    /// A foreground app going to the background says so: from then on even a small file
    /// goes to the OS.
    func testAfterEnterBackgroundEvenASmallFileGoesToTheOS() async throws {
        try await bounded(120, "testAfterEnterBackgroundEvenASmallFileGoesToTheOS") {
            let platform = RecordingPlatform(.hold)
            let queue = try await TransferQueue.openWithPlatform(
                config: self.config(threshold: Int64.max), platform: platform)
            platform.attach(queue)
            try await queue.enterBackground()
            let prefix = Testkit.uniquePrefix("enter-background")
            let (file, _) = try self.scratch.randomFile("small.bin", count: 4096)
            let id = try await queue.enqueue(upload: .put(file, to: self.base + prefix + "small.bin"))
            let handoffs = try await platform.waitForHandoffs(1)
            XCTAssertEqual(handoffs.map(\.transferId), [id], "the small file went to the OS")
            let received = try await Testkit.received()
            XCTAssertNil(received["/\(prefix)small.bin"], "nothing was sent in-process")
            try await queue.shutdown()
        }
    }

    /// `QueueConfig(databasePath:)` is the default configuration, and `open(config:platform:)`
    /// opens with the service it is given.
    func testOneOpenWithDefaultsTakesThePlatformItIsGiven() async throws {
        try await bounded(120, "testOneOpenWithDefaultsTakesThePlatformItIsGiven") {
            XCTAssertEqual(
                QueueConfig(databasePath: self.scratch.databasePath),
                defaultQueueConfig(databasePath: self.scratch.databasePath))
            var config = QueueConfig(databasePath: self.scratch.databasePath)
            config.appState = .background
            let platform = RecordingPlatform(.hold)
            let queue = try await TransferQueue.open(config: config, platform: platform)
            platform.attach(queue)
            let prefix = Testkit.uniquePrefix("open-defaults")
            let (file, _) = try self.scratch.randomFile("small.bin", count: 1024)
            let id = try await queue.enqueue(upload: .put(file, to: self.base + prefix + "small.bin"))
            let handoffs = try await platform.waitForHandoffs(1)
            XCTAssertEqual(handoffs.map(\.transferId), [id])
            try await queue.shutdown()
        }
    }

    func testAQueueConfigLeavesTheAppStateAndNetworkUntoldUntilTheAppSays() {
        let config = defaultQueueConfig(databasePath: "/tmp/x.db")
        XCTAssertNil(config.appState)
        XCTAssertNil(config.network)
    }

    func testQueueConfigCarriesThePlatformPolicy() {
        let config = defaultQueueConfig(databasePath: "/tmp/x.db")
        XCTAssertEqual(config.largeFileThreshold, 8 * 1024 * 1024)
        XCTAssertEqual(config.maxPlatformTasks, 6)
        XCTAssertGreaterThan(config.platformStallTimeout, 0)
        XCTAssertGreaterThan(config.queueStallAfter, 0)
        // A server's Retry-After is honoured for at most 15 minutes.
        XCTAssertEqual(config.retryMaxServerDelay, 15 * 60)
    }

    /// A file at the threshold goes to the Swift service, which uploads it with URLSession;
    /// a small one runs in-process. Both arrive intact and end Succeeded.
    func testLargeFileIsHandedOffUploadedBySwiftAndSucceeds() async throws {
        try await bounded(120, "testLargeFileIsHandedOffUploadedBySwiftAndSucceeds") {
            try await self.runLargeFileIsHandedOffUploadedBySwiftAndSucceeds()
        }
    }

    private func runLargeFileIsHandedOffUploadedBySwiftAndSucceeds() async throws {
        let platform = RecordingPlatform(.upload)
        let queue = try await open(platform, threshold: threshold)
        XCTAssertGreaterThanOrEqual(platform.outstandingCalls, 1, "outstanding() is asked at open")
        let prefix = Testkit.uniquePrefix("platform")
        let (bigFile, bigData) = try scratch.randomFile("big.bin", count: Int(threshold))
        let (smallFile, smallData) = try scratch.randomFile("small.bin", count: 4096)
        let big = try await queue.enqueue(upload: .put(bigFile, to: base + prefix + "big.bin"))
        let small = try await queue.enqueue(upload: .put(smallFile, to: base + prefix + "small.bin"))

        let handoffs = try await platform.waitForHandoffs(1)
        try await queue.waitIdle()

        XCTAssertEqual(handoffs.count, 1, "only the large file goes to the platform")
        let handoff = try XCTUnwrap(handoffs.first)
        XCTAssertEqual(handoff.transferId, big)
        XCTAssertEqual(handoff.expectedBytes, Int64(bigData.count))
        XCTAssertEqual(handoff.method, "PUT")
        XCTAssertEqual(handoff.url, base + prefix + "big.bin")
        XCTAssertFalse(handoff.key.isEmpty)
        let idempotency = handoff.headers.first { $0.name.lowercased() == "idempotency-key" }
        XCTAssertEqual(idempotency?.value, big.uuidString.lowercased(), "the handoff carries the transfer's idempotency key")
        XCTAssertEqual(platform.finishedReports.map(\.key), [handoff.key])
        XCTAssertEqual(platform.finishedReports.first?.status, 201)

        let bigAfter = try await queue.get(id: big)
        let smallAfter = try await queue.get(id: small)
        XCTAssertEqual(bigAfter.state, .succeeded)
        XCTAssertEqual(smallAfter.state, .succeeded)

        let received = try await Testkit.received()
        XCTAssertEqual(received["/\(prefix)big.bin"]?.sha256, SHA256.hex(bigData))
        XCTAssertEqual(received["/\(prefix)big.bin"]?.storedCount, 1)
        XCTAssertEqual(received["/\(prefix)small.bin"]?.sha256, SHA256.hex(smallData))
        try await queue.shutdown()
    }

    /// `keepAppRunning` on iOS: a service without its own `keepAppRunning` refuses (the
    /// package's default), so once the app is in the background the OS carries the work.
    func testAnIOSServiceRefusesToKeepTheAppRunningAndTheOSCarriesTheBackground() async throws {
        try await bounded(120, "testAnIOSServiceRefusesToKeepTheAppRunning") {
            try await self.runAnIOSServiceRefusesToKeepTheAppRunning()
        }
    }

    private func runAnIOSServiceRefusesToKeepTheAppRunning() async throws {
        let platform = RecordingPlatform(.hold)
        XCTAssertThrowsError(try platform.keepAppRunning(remainingBytes: 1))
        var config = config(threshold: Int64.max)
        config.keepAppRunning = true
        let queue = try await TransferQueue.openWithPlatform(config: config, platform: platform)
        platform.attach(queue)
        let prefix = Testkit.uniquePrefix("keep-alive")
        let (first, _) = try scratch.randomFile("first.bin", count: 4096)
        _ = try await queue.enqueue(upload: .put(first, to: base + prefix + "first.bin"))
        try await queue.waitIdle()
        try await queue.enterBackground()
        let (second, _) = try scratch.randomFile("second.bin", count: 4096)
        let id = try await queue.enqueue(upload: .put(second, to: base + prefix + "second.bin"))
        let handoffs = try await platform.waitForHandoffs(1)
        XCTAssertEqual(handoffs.map(\.transferId), [id], "refused: the background goes to the OS")
        try await queue.shutdown()
    }

    /// A handoff left running when the queue closed, whose key the service no longer
    /// reports as outstanding, is queued again at the next open and sent in-process.
    func testOpenRequeuesAHandoffTheServiceNoLongerHas() async throws {
        try await bounded(120, "testOpenRequeuesAHandoffTheServiceNoLongerHas") {
            try await self.runOpenRequeuesAHandoffTheServiceNoLongerHas()
        }
    }

    private func runOpenRequeuesAHandoffTheServiceNoLongerHas() async throws {
        let prefix = Testkit.uniquePrefix("reconcile")
        let (file, data) = try scratch.randomFile("lost.bin", count: Int(threshold) * 2)
        let (id, _) = try await leaveAHandoffRunning(file, to: base + prefix + "lost.bin")

        // The OS lost the task (force-quit): the service reports nothing outstanding. With
        // the threshold out of reach, the transfer then runs in-process.
        let forgetful = RecordingPlatform(.hold, outstanding: [])
        let queue = try await open(forgetful, threshold: .max)
        XCTAssertGreaterThanOrEqual(forgetful.outstandingCalls, 1, "outstanding() is asked at open")
        try await queue.waitIdle()
        let after = try await queue.get(id: id)
        XCTAssertEqual(after.state, .succeeded)
        XCTAssertTrue(forgetful.handoffs.isEmpty)
        let received = try await Testkit.received()
        XCTAssertEqual(received["/\(prefix)lost.bin"]?.sha256, SHA256.hex(data))
        XCTAssertEqual(received["/\(prefix)lost.bin"]?.storedCount, 1)
        try await queue.shutdown()
    }

    /// A handoff whose key the service still reports stays on the platform across the
    /// reopen; the service's report then finishes it.
    func testOpenKeepsAHandoffTheServiceStillHas() async throws {
        try await bounded(120, "testOpenKeepsAHandoffTheServiceStillHas") {
            try await self.runOpenKeepsAHandoffTheServiceStillHas()
        }
    }

    private func runOpenKeepsAHandoffTheServiceStillHas() async throws {
        let prefix = Testkit.uniquePrefix("survivor")
        let (file, data) = try scratch.randomFile("kept.bin", count: Int(threshold))
        let (id, handoff) = try await leaveAHandoffRunning(file, to: base + prefix + "kept.bin")

        let survivor = RecordingPlatform(.hold, outstanding: [handoff.key])
        let queue = try await open(survivor, threshold: .max)
        XCTAssertGreaterThanOrEqual(survivor.outstandingCalls, 1)
        let reopened = try await queue.get(id: id)
        XCTAssertEqual(reopened.state, .running(lane: .platform(handoffKey: handoff.key)))

        // The OS task finishes after the relaunch: the shim uploads and reports it.
        let outcome = await RecordingPlatform.upload(handoff)
        guard case .response(let status, _, _, _) = outcome else { return XCTFail("upload failed: \(outcome)") }
        XCTAssertEqual(status, 201)
        try queue.platformProgress(handoffKey: handoff.key, bytesSent: handoff.expectedBytes, bytesTotal: handoff.expectedBytes)
        try queue.platformFinished(handoffKey: handoff.key, outcome: outcome)
        try await queue.waitIdle()
        let after = try await queue.get(id: id)
        XCTAssertEqual(after.state, .succeeded)
        XCTAssertTrue(survivor.handoffs.isEmpty, "nothing was handed off again")
        let received = try await Testkit.received()
        XCTAssertEqual(received["/\(prefix)kept.bin"]?.sha256, SHA256.hex(data))
        XCTAssertEqual(received["/\(prefix)kept.bin"]?.storedCount, 1)
        try await queue.shutdown()
    }

    /// A Swift error that is not `PlatformError`, thrown from `start`, is a refusal: the
    /// transfer records a platform failure and waits for a retry; nothing crashes.
    func testAnUnexpectedSwiftErrorFromStartIsAPlatformFailure() async throws {
        try await bounded(120, "testAnUnexpectedSwiftErrorFromStartIsAPlatformFailure") {
            try await self.runAnUnexpectedSwiftErrorFromStartIsAPlatformFailure()
        }
    }

    private func runAnUnexpectedSwiftErrorFromStartIsAPlatformFailure() async throws {
        let prefix = Testkit.uniquePrefix("throwing")
        let throwing = RecordingPlatform(.throwUnexpected)
        let queue = try await open(throwing, threshold: threshold)
        let (file, _) = try scratch.randomFile("thrown.bin", count: Int(threshold))
        let id = try await queue.enqueue(upload: .put(file, to: base + prefix + "thrown.bin"))
        let transfer = try await withTimeout(20, "a recorded platform failure") {
            while true {
                let transfer = try await queue.get(id: id)
                if transfer.lastError != nil { return transfer }
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        XCTAssertEqual(transfer.lastError?.kind, .platform)
        XCTAssertTrue(transfer.lastError?.message.contains("unexpectedly") ?? false, "\(String(describing: transfer.lastError))")
        XCTAssertNotEqual(transfer.state, .succeeded)
        XCTAssertNotEqual(transfer.state, .failed)
        try await queue.cancel(id: id)
        try await queue.shutdown()
    }

    /// Opens a queue whose service holds every handoff, enqueues `file`, waits for its
    /// handoff and shuts the queue down with the transfer still on the platform.
    private func leaveAHandoffRunning(_ file: URL, to destination: String) async throws -> (UUID, Handoff) {
        let holder = RecordingPlatform(.hold)
        let queue = try await open(holder, threshold: threshold)
        let id = try await queue.enqueue(upload: .put(file, to: destination))
        let handoffs = try await holder.waitForHandoffs(1)
        let handoff = try XCTUnwrap(handoffs.first)
        XCTAssertEqual(handoff.transferId, id)
        let running = try await queue.get(id: id)
        XCTAssertEqual(running.state, .running(lane: .platform(handoffKey: handoff.key)))
        try await queue.shutdown()
        return (id, handoff)
    }
}
