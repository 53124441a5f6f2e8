// The iOS shim's translations, without a server: URLSession outcomes to `PlatformOutcome`
// (force-quit → cancelledByUser), handoffs to requests and task settings, the durable
// report journal, and the background-events completion handlers.
import Foundation
import XCTest
import Ferry
@testable import FerryBackgroundTransfers
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class BackgroundTransfersMappingTests: XCTestCase {
    private var scratch: Scratch!

    override func setUpWithError() throws {
        scratch = try Scratch()
    }

    override func tearDownWithError() throws {
        scratch?.remove()
    }

    private func cancelled(reason: Int?) -> NSError {
        var info: [String: Any] = [:]
        if let reason { info[NSURLErrorBackgroundTaskCancelledReasonKey] = reason }
        return NSError(domain: NSURLErrorDomain, code: NSURLErrorCancelled, userInfo: info)
    }

    func testForceQuitCancellationIsCancelledByUser() {
        let outcome = PlatformOutcomeMapping.outcome(
            response: nil, error: cancelled(reason: NSURLErrorCancelledReasonUserForceQuitApplication))
        guard case .failed(let kind, _) = outcome else { return XCTFail("not a failure: \(outcome)") }
        XCTAssertEqual(kind, .cancelledByUser)
    }

    func testOtherCancellationsAreTheSystems() {
        for reason in [NSURLErrorCancelledReasonBackgroundUpdatesDisabled,
                       NSURLErrorCancelledReasonInsufficientSystemResources, nil] {
            XCTAssertEqual(PlatformOutcomeMapping.failureKind(cancelled(reason: reason)), .cancelledBySystem,
                           "reason \(String(describing: reason))")
        }
    }

    func testConnectionErrorsAreNetworkAndTheRestOther() {
        let url = { (code: Int) in NSError(domain: NSURLErrorDomain, code: code) }
        XCTAssertEqual(PlatformOutcomeMapping.failureKind(url(NSURLErrorTimedOut)), .network)
        XCTAssertEqual(PlatformOutcomeMapping.failureKind(url(NSURLErrorNetworkConnectionLost)), .network)
        XCTAssertEqual(PlatformOutcomeMapping.failureKind(url(NSURLErrorNotConnectedToInternet)), .network)
        XCTAssertEqual(PlatformOutcomeMapping.failureKind(url(NSURLErrorFileDoesNotExist)), .other)
        XCTAssertEqual(PlatformOutcomeMapping.failureKind(NSError(domain: "Other", code: NSURLErrorTimedOut)), .other)
    }

    func testAResponseKeepsItsStatusAndHeaders() throws {
        let url = try XCTUnwrap(URL(string: "http://127.0.0.1/x"))
        let response = try XCTUnwrap(HTTPURLResponse(
            url: url, statusCode: 503, httpVersion: "HTTP/1.1",
            headerFields: ["Retry-After": "7", "Content-Length": "0"]))
        let outcome = PlatformOutcomeMapping.outcome(response: response, error: nil)
        guard case .response(let status, let headers, let body, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(body, Data())
        XCTAssertEqual(status, 503)
        XCTAssertEqual(headers.first { $0.name.lowercased() == "retry-after" }?.value, "7")
        XCTAssertEqual(headers.count, 2)
    }

    func testResponseBodiesAreCutAtTheLimitPerTask() {
        var bodies = ResponseBodies(limit: 5)
        bodies.append(Data("abc".utf8), key: "a.1")
        bodies.append(Data("defg".utf8), key: "a.1")
        bodies.append(Data("xy".utf8), key: "b.1")
        let a = bodies.take(key: "a.1")
        XCTAssertEqual(a.data, Data("abcde".utf8))
        XCTAssertTrue(a.truncated)
        let b = bodies.take(key: "b.1")
        XCTAssertEqual(b.data, Data("xy".utf8))
        XCTAssertFalse(b.truncated)
        XCTAssertEqual(bodies.take(key: "a.1").data, Data(), "taken once")
    }

    func testAnErrorWinsOverAResponse() throws {
        let url = try XCTUnwrap(URL(string: "http://127.0.0.1/x"))
        let response = HTTPURLResponse(url: url, statusCode: 200, httpVersion: nil, headerFields: [:])
        let outcome = PlatformOutcomeMapping.outcome(
            response: response, error: NSError(domain: NSURLErrorDomain, code: NSURLErrorNetworkConnectionLost))
        guard case .failed(let kind, let message) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertEqual(kind, .network)
        XCTAssertTrue(message.contains("\(NSURLErrorNetworkConnectionLost)"), message)
    }

    func testNoResponseAndNoErrorIsOther() {
        guard case .failed(.other, _) = PlatformOutcomeMapping.outcome(response: nil, error: nil) else {
            return XCTFail("expected .other")
        }
    }

    private func handoff(body: String, url: String = "http://127.0.0.1:9/up/a.bin",
                         discretionary: Bool = false) -> Handoff {
        Handoff(key: "t1.1", transferId: UUID(), bodyPath: body, url: url, method: "POST",
                headers: [Header(name: "Idempotency-Key", value: "t1"),
                          Header(name: "Content-Type", value: "multipart/form-data; boundary=x")],
                expectedBytes: 1234, allowExpensive: false, allowConstrained: false,
                discretionary: discretionary, ietfInteropVersion: nil)
    }

    func testHandoffBecomesARequestWithItsMethodAndHeaders() throws {
        let (file, _) = try scratch.randomFile("body", count: 16)
        let request = try HandoffRequest.make(handoff(body: file.path))
        XCTAssertEqual(request.url?.absoluteString, "http://127.0.0.1:9/up/a.bin")
        XCTAssertEqual(request.httpMethod, "POST")
        XCTAssertEqual(request.value(forHTTPHeaderField: "Idempotency-Key"), "t1")
        XCTAssertEqual(request.value(forHTTPHeaderField: "content-type"), "multipart/form-data; boundary=x")
        XCTAssertEqual(try HandoffRequest.bodyFile(handoff(body: file.path)).path, file.path)
    }

    func testAMissingBodyOrBadURLIsRefused() throws {
        XCTAssertThrowsError(try HandoffRequest.bodyFile(handoff(body: scratch.dir.appendingPathComponent("gone").path))) {
            XCTAssertTrue("\($0)".contains("body file"), "\($0)")
        }
        XCTAssertThrowsError(try HandoffRequest.make(handoff(body: "/x", url: "not a url")))
    }

    func testTaskCarriesTheKeyAndTheExpectedBytes() throws {
        let (file, _) = try scratch.randomFile("body", count: 16)
        let session = URLSession(configuration: .default)
        defer { session.invalidateAndCancel() }
        let task = session.uploadTask(with: try HandoffRequest.make(handoff(body: file.path)), fromFile: file)
        HandoffRequest.configure(task, for: handoff(body: file.path))
        XCTAssertEqual(task.taskDescription, "t1.1")
        XCTAssertEqual(task.countOfBytesClientExpectsToSend, 1234)
    }

    func testDiscretionaryHandoffsRunOnTheDiscretionarySession() throws {
        let service = try BackgroundURLSessionTransferService(
            configuration: .default, discretionaryConfiguration: .default,
            reportJournal: scratch.dir.appendingPathComponent("r.json"), events: BackgroundSessionEvents())
        defer { service.invalidate() }
        XCTAssertTrue(service.session(for: handoff(body: "/x", discretionary: true)).configuration.isDiscretionary)
        XCTAssertFalse(service.session(for: handoff(body: "/x", discretionary: false)).configuration.isDiscretionary)

        let single = try BackgroundURLSessionTransferService(
            configuration: .default, reportJournal: scratch.dir.appendingPathComponent("s.json"),
            events: BackgroundSessionEvents())
        defer { single.invalidate() }
        XCTAssertFalse(single.session(for: handoff(body: "/x", discretionary: true)).configuration.isDiscretionary,
                       "without a discretionary configuration every handoff shares the one session")
    }

    func testJournalSurvivesReloadAndForgetsRemovedReports() throws {
        let file = scratch.dir.appendingPathComponent("nested/reports.json")
        let journal = try ReportJournal(file: file)
        try journal.add(QueuedReport(key: "a.1", outcome: .response(
            status: 201, headers: [Header(name: "ETag", value: "\"x\"")],
            body: Data("{\"id\":7}".utf8), bodyTruncated: true)))
        try journal.add(QueuedReport(key: "b.1", outcome: .failed(kind: .cancelledByUser, message: "quit")))

        let reloaded = try ReportJournal(file: file)
        XCTAssertEqual(reloaded.keys, ["a.1", "b.1"])
        XCTAssertEqual(reloaded.reports["a.1"]?.outcome,
                       .response(status: 201, headers: [Header(name: "ETag", value: "\"x\"")],
                                 body: Data("{\"id\":7}".utf8), bodyTruncated: true))
        XCTAssertEqual(reloaded.reports["b.1"]?.outcome, .failed(kind: .cancelledByUser, message: "quit"))

        try reloaded.remove(["a.1"])
        XCTAssertEqual(try ReportJournal(file: file).keys, ["b.1"])
    }

    func testADamagedJournalIsATypedErrorThatSaysWhatToDo() throws {
        let file = scratch.dir.appendingPathComponent("reports.json")
        try Data("{not json".utf8).write(to: file)
        XCTAssertThrowsError(try ReportJournal(file: file)) { error in
            XCTAssertTrue(error is ReportJournalError)
            XCTAssertTrue("\(error)".contains("move the file away"), "\(error)")
        }
    }

    func testBackgroundEventsHandlerIsCalledOnceWhenTheSessionFinishes() {
        let events = BackgroundSessionEvents()
        let called = expectation(description: "completion handler called")
        events.store(identifier: "com.example.uploads") { called.fulfill() }
        XCTAssertTrue(events.isWaiting(identifier: "com.example.uploads"))
        XCTAssertFalse(events.finish(identifier: "other"))
        XCTAssertTrue(events.finish(identifier: "com.example.uploads"))
        XCTAssertFalse(events.finish(identifier: "com.example.uploads"), "called once only")
        wait(for: [called], timeout: 10)
    }
}
