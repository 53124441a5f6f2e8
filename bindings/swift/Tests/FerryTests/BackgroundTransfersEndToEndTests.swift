// A download carried end to end through the iOS shim by the real core, on FoundationNetworking
// against `ferry-testkit serve`: with `QueueConfig.downloadsToOs` on and the app in the
// background, the core hands the download to `BackgroundURLSessionTransferService` in ranged
// segments, one download task each; each task's file is moved to its segment path and its
// answer reported, the core appends the segment and hands over the next, and the download
// ends Succeeded, byte-identical, every byte served once, no segment or partial file left.
// The Swift side of Kotlin's `HttpDownloaderTest.aDownloadHandedToThePlatform...`.
import Foundation
import XCTest
import Ferry
@testable import FerryBackgroundTransfers
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Passes every call through to the shim, noting the handoffs it is given: how many OS
/// tasks the core asked for, and for which ranges. It decides and changes nothing.
private final class HandoffLog: PlatformTransferService, @unchecked Sendable {
    let shim: BackgroundURLSessionTransferService
    private let lock = NSLock()
    private var handoffs: [Handoff] = []

    init(_ shim: BackgroundURLSessionTransferService) {
        self.shim = shim
    }

    func start(handoff: Handoff) throws {
        lock.lock()
        handoffs.append(handoff)
        lock.unlock()
        try shim.start(handoff: handoff)
    }

    func cancel(handoffKey: String) {
        shim.cancel(handoffKey: handoffKey)
    }

    func outstanding() throws -> [String] {
        try shim.outstanding()
    }

    var started: [Handoff] {
        lock.lock()
        defer { lock.unlock() }
        return handoffs
    }
}

final class BackgroundTransfersEndToEndTests: ScratchTestCase {
    /// The segments the core cuts a download into here.
    private let segment = 64 * 1024

    /// In the background the OS carries every transfer; downloads too, since the shim
    /// carries download handoffs (`downloadsToOs`), in segments of `segment` bytes.
    func testADownloadHandedToTheShimArrivesWholeSegmentBySegment() async throws {
        try await bounded(120, "testADownloadHandedToTheShimArrivesWholeSegmentBySegment") {
            try await self.runADownloadHandedToTheShimArrivesWholeSegmentBySegment()
        }
    }

    private func runADownloadHandedToTheShimArrivesWholeSegmentBySegment() async throws {
        let size = 4 * segment + 1234
        let name = "swift-shim-e2e-\(UUID().uuidString.lowercased()).bin"
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<size).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try await Testkit.serveFile(name, bytes)
        let folder = scratch.dir.appendingPathComponent("downloads", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let destination = folder.appendingPathComponent("big.bin")

        let shim = try BackgroundURLSessionTransferService(
            configuration: .default, reportJournal: scratch.dir.appendingPathComponent("Ferry/reports.json"),
            events: BackgroundSessionEvents())
        let log = HandoffLog(shim)
        var config = defaultQueueConfig(databasePath: scratch.databasePath)
        config.downloadsToOs = true
        config.downloadSegmentBytes = Int64(segment)
        config.appState = .background
        let queue = try await TransferQueue.openWithPlatform(config: config, platform: log)
        shim.attach(queue)

        let id = try await queue.enqueueDownload(download: Download(
            url: try Testkit.fileURL(name), destinationPath: destination.path, expectedSha256: SHA256.hex(bytes)))
        // Polled (bounded) rather than awaited, so a download that never ends fails saying
        // where it stands instead of at the outer bound.
        do {
            try await eventually("the download to end", seconds: 60) {
                switch try await queue.get(id: id).state {
                case .queued, .running: return false
                default: return true
                }
            }
        } catch let timedOut as TimedOut {
            let now = try await queue.get(id: id)
            throw TimedOut(what: "\(timedOut.what): still \(now.state) after \(log.started.count) OS task(s), "
                + "last error \(String(describing: now.lastError))")
        }
        let done = try await queue.get(id: id)
        XCTAssertTrue(done.state.isSucceeded, "\(done.state) \(String(describing: done.lastError))")
        XCTAssertEqual(try Data(contentsOf: destination), bytes, "byte-identical")
        let served = try await Testkit.bytesServed(name)
        XCTAssertEqual(served, UInt64(size), "every byte served once")

        let handoffs = log.started
        XCTAssertEqual(handoffs.count, 5, "one OS task per segment: \(handoffs.map(\.key))")
        XCTAssertTrue(handoffs.allSatisfy { $0.method == "GET" && $0.download != nil })
        XCTAssertEqual(handoffs.compactMap { $0.download?.first }, (0..<5).map { Int64($0 * segment) },
                       "each segment continues where the last one ended")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["big.bin"],
                       "no partial or segment file left")
        // The last report is marked delivered just after the core took it, so this may
        // take a second pass.
        try await eventually("every report applied and out of the journal", seconds: 10) {
            await shim.pruneDeliveredReports()
            return shim.queuedReportKeys.isEmpty
        }
        XCTAssertEqual(try shim.outstanding(), [], "no task or report left")

        shim.detach()
        try await queue.shutdown()
        shim.invalidate()
    }
}
