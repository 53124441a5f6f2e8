// `BackgroundURLSessionTransferService` driven by the real core against `ferry-testkit
// serve`, on FoundationNetworking's URLSession (`.default` configuration: Linux has no
// background sessions): delegate callbacks reach the core, tasks are found by their
// taskDescription, and reports that arrive while the core is closed are journaled and
// applied at the next open, including the force-quit path, without duplicate uploads.
import Foundation
import XCTest
import Ferry
@testable import FerryBackgroundTransfers
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class BackgroundTransfersServiceTests: XCTestCase {
    private var scratch: Scratch!
    private var base: String!
    /// Files at least this big are handed to the service.
    private let threshold: Int64 = 64 * 1024

    override func setUpWithError() throws {
        LogCapture.install()
        scratch = try Scratch()
        base = try Testkit.baseURL()
    }

    override func tearDown() async throws {
        HoldingURLProtocol.failAll(with: NSError(domain: NSURLErrorDomain, code: NSURLErrorCancelled))
        try await Testkit.setFaults("{}")
        scratch?.remove()
    }

    private var journalFile: URL { scratch.dir.appendingPathComponent("Ferry/reports.json") }

    private func service(_ configuration: URLSessionConfiguration = .default) throws -> BackgroundURLSessionTransferService {
        try BackgroundURLSessionTransferService(
            configuration: configuration, reportJournal: journalFile, events: BackgroundSessionEvents())
    }

    private func open(_ service: BackgroundURLSessionTransferService, attach: Bool = true) async throws -> TransferQueue {
        var config = defaultQueueConfig(databasePath: scratch.databasePath)
        config.largeFileThreshold = threshold
        config.appState = .foreground
        let queue = try await TransferQueue.openWithPlatform(config: config, platform: service)
        if attach { service.attach(queue) }
        return queue
    }

    /// The handoff key each transfer runs under, once all of them run on the platform.
    private func platformKeys(_ queue: TransferQueue, _ ids: [UUID]) async throws -> [UUID: String] {
        var keys: [UUID: String] = [:]
        try await eventually("\(ids.count) transfers on the platform") {
            for id in ids {
                if case .running(.platform(let key)) = try await queue.get(id: id).state { keys[id] = key }
            }
            return keys.count == ids.count
        }
        return keys
    }

    private func enqueueFiles(_ queue: TransferQueue, _ prefix: String, count: Int) async throws -> [(id: UUID, path: String, data: Data)] {
        var files: [(UUID, String, Data)] = []
        for index in 0..<count {
            let name = "f\(index).bin"
            let (file, data) = try scratch.randomFile(name, count: Int(threshold))
            let id = try await queue.enqueue(upload: .put(file, to: base + prefix + name))
            files.append((id, "/\(prefix)\(name)", data))
        }
        return files
    }

    /// A session that does not list its tasks in time makes `outstanding()` throw, so the
    /// core keeps its records instead of taking every OS upload for lost.
    func testOutstandingThatCannotAnswerInTimeThrows() throws {
        let shim = try service()
        shim.taskListTimeout = 0.2
        shim.listTasks = { _, _ in } // never answers
        XCTAssertThrowsError(try shim.outstanding()) { error in
            guard case PlatformError.Refused(let reason) = error else {
                return XCTFail("expected PlatformError.Refused, got \(error)")
            }
            XCTAssertTrue(reason.contains("did not list its tasks"), reason)
        }
        shim.invalidate()
    }

    /// One call opens the queue with a background session's shim attached: a large file
    /// goes through the session and its report reaches the core.
    func testOneCallOpensAQueueWithItsBackgroundSessionAttached() async throws {
        try await bounded(120, "testOneCallOpensAQueueWithItsBackgroundSessionAttached") {
            var config = QueueConfig(databasePath: self.scratch.databasePath)
            config.largeFileThreshold = self.threshold
            config.appState = .foreground
            let (queue, shim) = try await TransferQueue.openWithBackgroundSession(
                config: config, configuration: .default, reportJournal: self.journalFile,
                events: BackgroundSessionEvents())
            let prefix = Testkit.uniquePrefix("one-call")
            let files = try await self.enqueueFiles(queue, prefix, count: 1)
            // At or above the threshold in the foreground, the file goes to the OS lane: it
            // succeeds only if the attached shim's report reached the core.
            let done = try await queue.awaitResult(id: files[0].id)
            XCTAssertEqual(done.state, .succeeded)
            let received = try await Testkit.received()
            XCTAssertEqual(received[files[0].path]?.sha256, SHA256.hex(files[0].data))
            XCTAssertEqual(try shim.outstanding(), [], "the finished task is no longer outstanding")
            shim.detach()
            try await queue.shutdown()
            shim.invalidate()
        }
    }

    /// didSendBodyData reaches the core as progress and didCompleteWithError with the
    /// response as the outcome; the transfer succeeds with its bytes stored once.
    func testDelegateCallbacksReachTheCore() async throws {
        try await bounded(120, "testDelegateCallbacksReachTheCore") { try await self.runDelegateCallbacksReachTheCore() }
    }

    private func runDelegateCallbacksReachTheCore() async throws {
        let prefix = Testkit.uniquePrefix("shim-delegate")
        let size = 32 * Int(threshold)
        // Read slowly so the upload outlasts several of the core's progress ticks.
        try await Testkit.setFaults("""
            {"scripted": [{"when": "first_to_path", "path": "/\(prefix)big.bin", "count": 1,
                           "fault": {"slow_read": {"bytes_per_second": \(size / 2)}}}]}
            """)
        let shim = try service()
        let queue = try await open(shim)
        let log = ProgressLog()
        let subscription = queue.subscribe(observer: log)
        let (file, data) = try scratch.randomFile("big.bin", count: size)
        let id = try await queue.enqueue(upload: .put(file, to: base + prefix + "big.bin"))
        let keys = try await platformKeys(queue, [id])
        let key = try XCTUnwrap(keys[id])
        try await queue.waitIdle()
        subscription.unsubscribe()

        let after = try await queue.get(id: id)
        XCTAssertEqual(after.state, .succeeded)
        let sent = log.progress(of: id)
        XCTAssertGreaterThan(shim.progressReportsForwarded, 1, "didSendBodyData is forwarded as it happens")
        // The client hands the whole body to the loopback socket at once, so the bytes seen
        // are the body's; that the core saw them before the success proves the path.
        XCTAssertTrue(sent.contains { $0 > 0 && $0 <= Int64(size) },
                      "progress from didSendBodyData reached the core before the success: \(sent)")
        let received = try await Testkit.received()
        XCTAssertEqual(received["/\(prefix)big.bin"]?.sha256, SHA256.hex(data))
        XCTAssertEqual(received["/\(prefix)big.bin"]?.storedCount, 1)
        await shim.pruneDeliveredReports()
        XCTAssertFalse(shim.queuedReportKeys.contains(key), "an applied report leaves the journal")
        try await queue.shutdown()
        shim.invalidate()
    }

    /// Tasks carry their handoff key as taskDescription: getAllTasks answers
    /// outstanding(), and cancel(key) finds and cancels that one task.
    func testTaskDescriptionCorrelatesTasksWithHandoffs() async throws {
        try await bounded(120, "testTaskDescriptionCorrelatesTasksWithHandoffs") {
            try await self.runTaskDescriptionCorrelatesTasksWithHandoffs()
        }
    }

    private func runTaskDescriptionCorrelatesTasksWithHandoffs() async throws {
        let shim = try service(HoldingURLProtocol.configuration())
        let queue = try await open(shim)
        let files = try await enqueueFiles(queue, Testkit.uniquePrefix("shim-correlate"), count: 2)
        let keys = try await platformKeys(queue, files.map(\.id))
        try await eventually("2 tasks held") { HoldingURLProtocol.heldCount == 2 }

        XCTAssertEqual(try shim.outstanding(), keys.values.sorted())
        let first = try XCTUnwrap(keys[files[0].id])
        shim.cancel(handoffKey: first)
        try await eventually("the cancelled task is gone") { HoldingURLProtocol.heldCount == 1 }
        XCTAssertEqual(try shim.outstanding(), [try XCTUnwrap(keys[files[1].id])])
        XCTAssertFalse(shim.queuedReportKeys.contains(first), "a cancelled task's report is not kept")
        try await queue.shutdown()
        shim.invalidate()
    }

    /// The app was suspended and killed with uploads in flight; the OS finished them and
    /// the shim journaled the completions while Ferry was closed. At the next open the
    /// transfers are still on the platform, the replayed reports finish them, and nothing
    /// is uploaded twice.
    func testCompletionsWhileClosedAreAppliedAtOpenWithoutReupload() async throws {
        try await bounded(120, "testCompletionsWhileClosedAreAppliedAtOpenWithoutReupload") {
            try await self.runCompletionsWhileClosedAreAppliedAtOpenWithoutReupload()
        }
    }

    private func runCompletionsWhileClosedAreAppliedAtOpenWithoutReupload() async throws {
        let prefix = Testkit.uniquePrefix("shim-closed")
        let scripted = (0..<3).map {
            "{\"when\": \"first_to_path\", \"path\": \"/\(prefix)f\($0).bin\", \"count\": 1, \"fault\": {\"delay\": {\"ms\": 3000}}}"
        }
        try await Testkit.setFaults("{\"scripted\": [\(scripted.joined(separator: ","))]}")
        let before = try await Testkit.stats()
        let first = try service()
        let q1 = try await open(first)
        let files = try await enqueueFiles(q1, prefix, count: 3)
        let keys = try await platformKeys(q1, files.map(\.id))
        // Recorded as running on the platform comes first; the service's start follows.
        try await eventually("3 tasks started") { try first.outstanding().count == 3 }
        first.detach()
        try await q1.shutdown()

        try await eventually("3 completions journaled") { first.queuedReportKeys.count == 3 }
        XCTAssertEqual(first.queuedReportKeys, keys.values.sorted())
        first.invalidate()

        try await relaunchAndReplay(files, keys, since: before)
    }

    /// The user force-quits with uploads in flight: iOS cancels every task
    /// (NSURLErrorCancelledReasonUserForceQuitApplication) while Ferry is gone. The shim
    /// journals the cancellations; reopening applies them as "cancelled by user", the
    /// transfers are sent again and end Succeeded, each stored once.
    func testForceQuitCancellationsAreReplayedAtOpen() async throws {
        try await bounded(120, "testForceQuitCancellationsAreReplayedAtOpen") {
            try await self.runForceQuitCancellationsAreReplayedAtOpen()
        }
    }

    private func runForceQuitCancellationsAreReplayedAtOpen() async throws {
        let before = try await Testkit.stats()
        let first = try service(HoldingURLProtocol.configuration())
        let q1 = try await open(first)
        let files = try await enqueueFiles(q1, Testkit.uniquePrefix("shim-forcequit"), count: 3)
        let keys = try await platformKeys(q1, files.map(\.id))
        try await eventually("3 tasks held by the OS") { HoldingURLProtocol.heldCount == 3 }
        XCTAssertEqual(try first.outstanding(), keys.values.sorted())

        // Force-quit: Ferry is gone, then iOS cancels every task.
        first.detach()
        try await q1.shutdown()
        HoldingURLProtocol.failAll(with: HoldingURLProtocol.forceQuit)
        try await eventually("3 cancellations journaled") { first.queuedReportKeys.count == 3 }
        first.invalidate()
        let onDisk = try ReportJournal(file: journalFile)
        for key in keys.values {
            XCTAssertEqual(onDisk.reports[key]?.failure, "cancelled_by_user", "journaled durably as a force-quit")
        }

        // The user opens the app again: a new service over the same journal.
        try await relaunchAndReplay(files, keys, since: before)
    }

    /// A relaunch: a new service over the same journal lists the journaled keys as
    /// outstanding, so the reopened core keeps those transfers on the platform; attaching
    /// replays the reports, after which every transfer has succeeded, each file was stored
    /// once, and the applied reports leave the journal.
    private func relaunchAndReplay(
        _ files: [(id: UUID, path: String, data: Data)], _ keys: [UUID: String], since before: Testkit.Stats
    ) async throws {
        let relaunched = try service()
        XCTAssertEqual(try relaunched.outstanding(), keys.values.sorted(), "journaled reports count as outstanding")
        let q2 = try await open(relaunched, attach: false)
        for file in files {
            let reopened = try await q2.get(id: file.id)
            XCTAssertEqual(reopened.state, .running(lane: .platform(handoffKey: try XCTUnwrap(keys[file.id]))),
                           "kept on the platform at open, waiting for its report")
        }
        relaunched.attach(q2)
        try await q2.waitIdle()
        for file in files {
            let after = try await q2.get(id: file.id)
            XCTAssertEqual(after.state, .succeeded)
            // The answer the OS got while the queue was closed reached the core with the
            // replayed report, body included.
            let answer = try await q2.response(id: file.id)
            let kept = try XCTUnwrap(answer, "the OS task's answer is kept")
            XCTAssertEqual(kept.status, 201)
            let body = String(decoding: kept.body, as: UTF8.self)
            XCTAssertTrue(body.contains("\"\(file.path)\""), body)
            XCTAssertEqual(kept.headers.first { $0.name.lowercased() == "set-cookie" }?.value, "[redacted]")
        }
        try await assertStoredOnce(files, since: before)
        await relaunched.pruneDeliveredReports()
        XCTAssertEqual(relaunched.queuedReportKeys, [])
        try await q2.shutdown()
        relaunched.invalidate()
    }

    /// Each file reached the server intact and exactly once: one request per file since
    /// `before`, none refused as a duplicate.
    private func assertStoredOnce(_ files: [(id: UUID, path: String, data: Data)], since before: Testkit.Stats) async throws {
        let received = try await Testkit.received()
        for file in files {
            XCTAssertEqual(received[file.path]?.sha256, SHA256.hex(file.data), file.path)
            XCTAssertEqual(received[file.path]?.storedCount, 1, file.path)
        }
        let after = try await Testkit.stats()
        XCTAssertEqual(after.requests - before.requests, UInt64(files.count), "one upload request per file")
        XCTAssertEqual(after.duplicatesRefused, before.duplicatesRefused, "no upload was repeated")
    }
}

/// Records the bytes of every progress event, per transfer.
final class ProgressLog: TransferObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [UUID: [Int64]] = [:]

    func onEvent(event: TransferEvent) {
        guard case .progress(let id, let bytesSent, _) = event else { return }
        lock.lock()
        sent[id, default: []].append(bytesSent)
        lock.unlock()
    }

    func onEnd() {}

    func progress(of id: UUID) -> [Int64] {
        lock.lock()
        defer { lock.unlock() }
        return sent[id] ?? []
    }
}
