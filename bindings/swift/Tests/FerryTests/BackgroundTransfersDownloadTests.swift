// Download handoffs on `BackgroundURLSessionTransferService`, on FoundationNetworking's
// URLSession against `ferry-testkit serve`'s files: a segment asked with its `Range` lands
// byte-identical at its segment path and its answer (status, headers) is journaled as the
// report; the whole file when the segment has no end; the OS's file is moved before
// `didFinishDownloadingTo` returns, replacing what was there, and a move that fails is
// reported; a failed task's resume data is kept, handed to the retry of the same segment,
// and when the task made from it fails (only then), a fresh ranged task fetches the
// segment; bytes received are forwarded as progress. The handoffs are made here, as the core
// makes them (the end-to-end test through a queue with `QueueConfig.downloadsToOs` is
// `BackgroundTransfersEndToEndTests`), and the reports are read from the journal, where
// they wait for a queue.
import Foundation
import XCTest
import Ferry
@testable import FerryBackgroundTransfers
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class BackgroundTransfersDownloadTests: ScratchTestCase {
    private var journalFile: URL { scratch.dir.appendingPathComponent("Ferry/reports.json") }

    override func tearDownWithError() throws {
        HoldingURLProtocol.failAll(with: NSError(domain: NSURLErrorDomain, code: NSURLErrorCancelled))
        try super.tearDownWithError()
    }

    private func service(_ configuration: URLSessionConfiguration = .default) throws
        -> BackgroundURLSessionTransferService {
        try BackgroundURLSessionTransferService(
            configuration: configuration, reportJournal: journalFile, events: BackgroundSessionEvents())
    }

    /// A file of `count` random bytes served under a fresh name.
    private func served(_ count: Int) async throws -> (name: String, bytes: Data) {
        let name = "swift-shim-dl-\(UUID().uuidString.lowercased()).bin"
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try await Testkit.serveFile(name, bytes)
        return (name, bytes)
    }

    /// A download handoff as the core makes one: `Range` in its headers unless the segment
    /// is the whole file, the segment file beside the partial.
    private func handoff(
        transfer: UUID = UUID(), attempt: Int = 1, url: String, first: Int64, last: Int64?
    ) -> Handoff {
        let id = transfer.uuidString.lowercased()
        var headers = [Header(name: "Accept-Encoding", value: "identity")]
        if let last { headers.append(Header(name: "Range", value: "bytes=\(first)-\(last)")) }
        return Handoff(
            key: "\(id).\(attempt).0000000\(attempt)", transferId: transfer, bodyPath: "", url: url,
            method: "GET", headers: headers, expectedBytes: 0, allowExpensive: true,
            allowConstrained: true, discretionary: false, ietfInteropVersion: nil,
            download: HandoffDownload(
                first: first, last: last, path: scratch.dir.appendingPathComponent(".ferry-\(id).seg-\(first)").path))
    }

    /// The report journaled for `key`, once there is one.
    private func report(_ shim: BackgroundURLSessionTransferService, _ key: String) async throws -> PlatformOutcome {
        try await eventually("the report of \(key) journaled") { shim.queuedReportKeys.contains(key) }
        return try XCTUnwrap(try ReportJournal(file: journalFile).reports[key]).outcome
    }

    private func header(_ name: String, _ headers: [Header]) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    // MARK: With the server

    /// A bounded segment: the task asks `Range: bytes=first-last` (once, although the
    /// handoff carries it too), the file at the segment path (where an older one is
    /// replaced) holds exactly those bytes, only they were served, and the report carries
    /// the 206 with its `Content-Range`, `Content-Length` and `ETag`.
    func testABoundedSegmentLandsAtItsPathAndItsAnswerIsReported() async throws {
        try await bounded(120, "testABoundedSegmentLandsAtItsPathAndItsAnswerIsReported") {
            let (name, bytes) = try await self.served(300_000)
            let shim = try self.service()
            let handoff = self.handoff(url: try Testkit.fileURL(name), first: 100_000, last: 199_999)
            let path = try XCTUnwrap(handoff.download?.path)
            try Data("an older segment".utf8).write(to: URL(fileURLWithPath: path))

            try shim.start(handoff: handoff)
            let outcome = try await self.report(shim, handoff.key)

            guard case .response(let status, let headers, let body, _) = outcome else {
                return XCTFail("not a response: \(outcome)")
            }
            XCTAssertEqual(status, 206)
            XCTAssertEqual(self.header("Content-Range", headers), "bytes 100000-199999/300000")
            XCTAssertEqual(self.header("Content-Length", headers), "100000")
            XCTAssertNotNil(self.header("ETag", headers))
            XCTAssertEqual(body, Data(), "the bytes are in the segment file, not the report")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes.subdata(in: 100_000..<200_000))
            let servedBytes = try await Testkit.bytesServed(name)
            XCTAssertEqual(servedBytes, 100_000, "only the segment was served")
            XCTAssertEqual(try shim.outstanding(), [handoff.key], "listed until the core applies it")
            shim.invalidate()
        }
    }

    /// A segment without an end from byte 0 is the whole file: no `Range` (so a 200), all
    /// of it at the segment path.
    func testASegmentWithoutAnEndIsTheWholeFile() async throws {
        try await bounded(120, "testASegmentWithoutAnEndIsTheWholeFile") {
            let (name, bytes) = try await self.served(150_000)
            let shim = try self.service()
            let handoff = self.handoff(url: try Testkit.fileURL(name), first: 0, last: nil)
            try shim.start(handoff: handoff)
            let outcome = try await self.report(shim, handoff.key)
            guard case .response(let status, let headers, _, _) = outcome else {
                return XCTFail("not a response: \(outcome)")
            }
            XCTAssertEqual(status, 200)
            XCTAssertNil(self.header("Content-Range", headers))
            let path = try XCTUnwrap(handoff.download?.path)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes)
            shim.invalidate()
        }
    }

    /// A task that fails with resume data leaves it kept (durably: a relaunched service
    /// finds it); the retry of the same segment, under a new key, makes its task from that
    /// data. On Linux FoundationNetworking cannot resume (a task made from resume data
    /// fails), which is the "resume data rejected" path: a fresh ranged task replaces it,
    /// the segment lands whole and only its success is reported; the data is used once.
    func testResumeDataOfAFailedTaskIsUsedByTheRetryWhichFallsBackToAFreshRange() async throws {
        try await bounded(120, "testResumeDataOfAFailedTaskIsUsedByTheRetryWhichFallsBackToAFreshRange") {
            try await self.runResumeDataIsUsedByTheRetry()
        }
    }

    private func runResumeDataIsUsedByTheRetry() async throws {
        let (name, bytes) = try await served(200_000)
        let url = try Testkit.fileURL(name)
        let transfer = UUID()
        let resumeData = Data("the OS's resume data".utf8)

        // The OS holds the task, then the network drops with resume data.
        let first = try service(HoldingURLProtocol.configuration())
        let attempt1 = handoff(transfer: transfer, attempt: 1, url: url, first: 50_000, last: 149_999)
        try first.start(handoff: attempt1)
        try await eventually("the task held") { HoldingURLProtocol.heldCount == 1 }
        HoldingURLProtocol.failAll(with: NSError(
            domain: NSURLErrorDomain, code: NSURLErrorNetworkConnectionLost,
            userInfo: [BackgroundURLSessionTransferService.resumeDataKey: resumeData]))
        guard case .failed(let kind, _) = try await report(first, attempt1.key) else {
            return XCTFail("the failure is reported")
        }
        XCTAssertEqual(kind, .network)
        XCTAssertEqual(first.resumeData.count, 1, "the resume data is kept")
        first.invalidate()

        // The core retries the segment (a new key); a relaunched service holds the data.
        let second = try service()
        var given: [Data] = []
        second.makeResumedTask = { session, data in
            given.append(data)
            return session.downloadTask(withResumeData: data)
        }
        let attempt2 = handoff(transfer: transfer, attempt: 2, url: url, first: 50_000, last: 149_999)
        try second.start(handoff: attempt2)
        XCTAssertEqual(given, [resumeData], "the retry's task is made from the kept data")
        XCTAssertEqual(second.resumeData.count, 0, "resume data is used once")

        let outcome = try await report(second, attempt2.key)
        guard case .response(let status, let headers, _, _) = outcome else {
            return XCTFail("the fresh task's answer is reported, not the resume's failure: \(outcome)")
        }
        XCTAssertEqual(status, 206)
        XCTAssertEqual(header("Content-Range", headers), "bytes 50000-149999/200000")
        XCTAssertEqual(second.resumedTasksStarted, 1)
        XCTAssertEqual(second.resumeFallbacks, 1, "the task made from resume data failed and was replaced once")
        let path = try XCTUnwrap(attempt2.download?.path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes.subdata(in: 50_000..<150_000))
        second.invalidate()
    }

    /// A task made from resume data is replaced only when the resume itself fails: one
    /// that succeeds is reported as it is (the OS resumed; Linux cannot, so the seam makes
    /// a plain ranged task stand for it); one cancelled by a force-quit is reported as the
    /// user's cancellation; one that fails with resume data of its own (it did resume, then
    /// broke) keeps that data and is reported.
    func testOnlyAFailedResumeIsReplaced() async throws {
        try await bounded(120, "testOnlyAFailedResumeIsReplaced") { try await self.runOnlyAFailedResumeIsReplaced() }
    }

    private func runOnlyAFailedResumeIsReplaced() async throws {
        let (name, bytes) = try await served(100_000)
        let url = try Testkit.fileURL(name)
        let resumed = handoff(url: url, first: 0, last: 49_999)
        let shim = try service()
        let request = try HandoffRequest.make(resumed)
        shim.makeResumedTask = { session, _ in session.downloadTask(with: request) }
        let path = try XCTUnwrap(resumed.download?.path)
        shim.resumeData.keep(Data("r".utf8), transfer: resumed.transferId.uuidString.lowercased(),
                             segmentPath: path, request: request)
        try shim.start(handoff: resumed)
        guard case .response(206, _, _, _) = try await report(shim, resumed.key) else {
            return XCTFail("the resumed task's answer is reported")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes.subdata(in: 0..<50_000))
        XCTAssertEqual(shim.resumedTasksStarted, 1)
        XCTAssertEqual(shim.resumeFallbacks, 0)
        shim.invalidate()

        let held = try service(HoldingURLProtocol.configuration())
        defer { held.invalidate() }
        let quit = handoff(url: url, first: 0, last: 49_999)
        let broke = handoff(url: url, first: 50_000, last: 99_999)
        var requests = [try HandoffRequest.make(quit), try HandoffRequest.make(broke)]
        held.makeResumedTask = { session, _ in session.downloadTask(with: requests.removeFirst()) }
        for segment in [quit, broke] {
            held.resumeData.keep(
                Data("r".utf8), transfer: segment.transferId.uuidString.lowercased(),
                segmentPath: try XCTUnwrap(segment.download?.path), request: try HandoffRequest.make(segment))
            try held.start(handoff: segment)
            try await eventually("the resumed task held") { HoldingURLProtocol.heldCount == 1 }
            HoldingURLProtocol.failAll(with: segment.key == quit.key ? HoldingURLProtocol.forceQuit : NSError(
                domain: NSURLErrorDomain, code: NSURLErrorTimedOut,
                userInfo: [BackgroundURLSessionTransferService.resumeDataKey: Data("again".utf8)]))
            _ = try await report(held, segment.key)
        }
        let journal = try ReportJournal(file: journalFile)
        XCTAssertEqual(journal.reports[quit.key]?.failure, "cancelled_by_user")
        XCTAssertEqual(journal.reports[broke.key]?.failure, "network")
        XCTAssertEqual(held.resumeFallbacks, 0, "neither was replaced")
        XCTAssertEqual(held.resumeData.count, 1, "the data the broken resume left is kept")
    }

    /// Bytes a download task receives reach the attached queue as progress
    /// (`didWriteData`), before its file is placed.
    func testBytesReceivedAreForwardedAsProgress() async throws {
        try await bounded(120, "testBytesReceivedAreForwardedAsProgress") {
            let (name, bytes) = try await self.served(400_000)
            let shim = try self.service()
            let queue = try await TransferQueue.openWithPlatform(
                config: defaultQueueConfig(databasePath: self.scratch.databasePath), platform: shim)
            shim.attach(queue)
            let handoff = self.handoff(url: try Testkit.fileURL(name), first: 0, last: nil)
            let path = try XCTUnwrap(handoff.download?.path)
            try shim.start(handoff: handoff)
            try await eventually("the segment placed") { FileManager.default.fileExists(atPath: path) }
            XCTAssertGreaterThan(shim.progressReportsForwarded, 0, "didWriteData is forwarded")
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, bytes.count)
            shim.detach()
            try await queue.shutdown()
            shim.invalidate()
        }
    }

    // MARK: The delegate, called directly

    /// `didFinishDownloadingTo` has moved the file to the segment path, replacing an older
    /// one, by the time it returns (the OS deletes its file then). A file that cannot be
    /// moved makes the report a failure saying so, whatever the server answered.
    func testTheFileIsMovedBeforeTheDelegateReturnsAndAFailedMoveIsReported() throws {
        let shim = try service()
        defer { shim.invalidate() }
        let session = URLSession(configuration: .default)
        defer { session.invalidateAndCancel() }
        let url = try XCTUnwrap(URL(string: "http://127.0.0.1:9/f.bin"))

        let placed = handoff(url: url.absoluteString, first: 0, last: 999)
        let path = try XCTUnwrap(placed.download?.path)
        try Data("older".utf8).write(to: URL(fileURLWithPath: path))
        let task = session.downloadTask(with: try HandoffRequest.make(placed))
        HandoffRequest.configure(task, for: placed)
        let (location, bytes) = try scratch.randomFile("os-temporary", count: 1000)
        shim.urlSession(session, downloadTask: task, didFinishDownloadingTo: location)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes, "moved before returning")
        XCTAssertFalse(FileManager.default.fileExists(atPath: location.path), "moved, not copied")

        var lost = handoff(url: url.absoluteString, first: 0, last: 999)
        let nowhere = scratch.dir.appendingPathComponent("gone/.ferry-x.seg-0").path
        lost.download = HandoffDownload(first: 0, last: 999, path: nowhere)
        let lostTask = session.downloadTask(with: try HandoffRequest.make(lost))
        HandoffRequest.configure(lostTask, for: lost)
        let (other, _) = try scratch.randomFile("os-temporary-2", count: 10)
        shim.urlSession(session, downloadTask: lostTask, didFinishDownloadingTo: other)
        shim.urlSession(session, task: lostTask, didCompleteWithError: nil)
        let report = try XCTUnwrap(try ReportJournal(file: journalFile).reports[lost.key])
        guard case .failed(let kind, let message) = report.outcome else { return XCTFail("\(report.outcome)") }
        XCTAssertEqual(kind, .other)
        XCTAssertTrue(message.contains("could not be moved to \(nowhere)"), message)
    }

    // MARK: Translations

    func testASegmentsRangeAndLabel() throws {
        let url = "http://127.0.0.1:9/f.bin"
        let bounded = handoff(url: url, first: 64, last: 127)
        let request = try HandoffRequest.make(bounded)
        XCTAssertEqual(request.value(forHTTPHeaderField: "Range"), "bytes=64-127")
        XCTAssertEqual(request.httpMethod, "GET")
        XCTAssertEqual(request.value(forHTTPHeaderField: "Accept-Encoding"), "identity")

        var unbounded = bounded
        unbounded.download = HandoffDownload(first: 64, last: nil, path: "/p")
        XCTAssertEqual(try HandoffRequest.make(unbounded).value(forHTTPHeaderField: "Range"), "bytes=64-")
        unbounded.download = HandoffDownload(first: 9, last: 8, path: "/p")
        XCTAssertThrowsError(try HandoffRequest.make(unbounded), "an inverted range is refused")

        let session = URLSession(configuration: .default)
        defer { session.invalidateAndCancel() }
        let task = session.downloadTask(with: request)
        HandoffRequest.configure(task, for: bounded)
        let label = try XCTUnwrap(TaskLabel.read(task))
        XCTAssertEqual(label.key, bounded.key)
        XCTAssertEqual(label.segmentPath, bounded.download?.path)
        XCTAssertEqual(task.countOfBytesClientExpectsToReceive, 64)
        task.taskDescription = "plain.1.key"
        XCTAssertEqual(TaskLabel.read(task)?.key, "plain.1.key")
        XCTAssertNil(TaskLabel.read(task)?.segmentPath, "an upload's label is its key")
    }

    /// Resume data is taken once and only for the same URL and range; a cancelled
    /// transfer's entries go.
    func testResumeDataIsTakenOnceForTheSameRequestOnly() throws {
        let store = ResumeDataStore(directory: scratch.dir.appendingPathComponent("resume"))
        var request = URLRequest(url: try XCTUnwrap(URL(string: "http://127.0.0.1:9/f.bin")))
        request.setValue("bytes=0-9", forHTTPHeaderField: "Range")
        let data = Data("resume".utf8)

        store.keep(data, transfer: "t1", segmentPath: "/d/.ferry-t1.seg-0", request: request)
        XCTAssertEqual(store.take(transfer: "t1", segmentPath: "/d/.ferry-t1.seg-0", request: request), data)
        XCTAssertNil(store.take(transfer: "t1", segmentPath: "/d/.ferry-t1.seg-0", request: request), "used once")

        store.keep(data, transfer: "t1", segmentPath: "/d/.ferry-t1.seg-0", request: request)
        var other = request
        other.setValue("bytes=0-19", forHTTPHeaderField: "Range")
        XCTAssertNil(store.take(transfer: "t1", segmentPath: "/d/.ferry-t1.seg-0", request: other))
        XCTAssertEqual(store.count, 0, "data for another range is dropped")

        store.keep(data, transfer: "t1", segmentPath: "/d/.ferry-t1.seg-0", request: request)
        store.keep(data, transfer: "t1", segmentPath: "/d/.ferry-t1.seg-10", request: request)
        store.keep(data, transfer: "t2", segmentPath: "/d/.ferry-t2.seg-0", request: request)
        XCTAssertEqual(store.count, 3)
        store.discardAll(transfer: ResumeDataStore.transfer(ofKey: "t1.3.0000abcd"))
        XCTAssertEqual(store.count, 1)
        XCTAssertEqual(store.take(transfer: "t2", segmentPath: "/d/.ferry-t2.seg-0", request: request), data)
    }
}
