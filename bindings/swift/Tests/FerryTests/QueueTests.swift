// What crosses the FFI, end to end against `ferry-testkit serve`: every exported async
// method, typed errors, the `events` AsyncStream, foreign traits (observer, log sink).
// Each test uses its own temp dir, database and upload path prefix; none resets the
// shared testkit.
import Foundation
import XCTest
import Ferry

final class QueueTests: ScratchTestCase {
    private func openQueue() async throws -> TransferQueue {
        try await TransferQueue.open(config: defaultQueueConfig(databasePath: scratch.databasePath))
    }

    private func state(_ queue: TransferQueue, _ id: UUID) async throws -> TransferState {
        try await queue.get(id: id).state
    }

    /// `awaitResult` returns a transfer once it is final, whichever way it ends.
    func testAwaitResultReturnsEachTransferOnceItIsFinal() async throws {
        try await bounded(60, "testAwaitResultReturnsEachTransferOnceItIsFinal") {
            let queue = try await self.openQueue()
            try await queue.setNetwork(status: NetworkStatus(online: false, expensive: false, constrained: false))
            let prefix = Testkit.uniquePrefix("await")
            let (sentFile, sentData) = try self.scratch.randomFile("sent.bin", count: 2048)
            let (cancelledFile, _) = try self.scratch.randomFile("cancelled.bin", count: 2048)
            let sent = try await queue.enqueue(upload: .put(sentFile, to: self.base + prefix + "sent.bin"))
            let cancelled = try await queue.enqueue(upload: .put(cancelledFile, to: self.base + prefix + "cancelled.bin"))
            let sentResult = Task { try await queue.awaitResult(id: sent) }
            let cancelledResult = Task { try await queue.awaitResult(id: cancelled) }
            try await queue.cancel(id: cancelled)
            let ended = try await cancelledResult.value
            XCTAssertEqual(ended.state, .cancelled)
            try await queue.setNetwork(status: NetworkStatus(online: true, expensive: false, constrained: false))
            let done = try await sentResult.value
            XCTAssertEqual(done.id, sent)
            XCTAssertEqual(done.state, .succeeded)
            let received = try await Testkit.received()
            XCTAssertEqual(received["/\(prefix)sent.bin"]?.sha256, SHA256.hex(sentData))
            do {
                _ = try await queue.awaitResult(id: XCTUnwrap(UUID(uuidString: "0192f0c2-3b4a-7c5d-8e6f-0123456789ab")))
                XCTFail("an unknown id has no result")
            } catch FerryError.NotFound(let id, let description) {
                XCTAssertEqual(id.uuidString.lowercased(), "0192f0c2-3b4a-7c5d-8e6f-0123456789ab")
                XCTAssertFalse(description.isEmpty)
            }
            try await queue.shutdown()
        }
    }

    /// `enqueue(_:)` returns a handle: `progress` follows the record to its final state and
    /// `result` gives the succeeded transfer, or throws `UploadFailure` for a cancelled one.
    func testAnUploadHandleFollowsItsTransferToItsResult() async throws {
        try await bounded(60, "testAnUploadHandleFollowsItsTransferToItsResult") {
            let queue = try await self.openQueue()
            try await queue.setNetwork(status: NetworkStatus(online: false, expensive: false, constrained: false))
            let prefix = Testkit.uniquePrefix("handle")
            let (sentFile, sentData) = try self.scratch.randomFile("sent.bin", count: 4096)
            let (cancelledFile, _) = try self.scratch.randomFile("cancelled.bin", count: 2048)
            let sent = try await queue.enqueue(.put(sentFile, to: self.base + prefix + "sent.bin"))
            let cancelled = try await queue.enqueue(.put(cancelledFile, to: self.base + prefix + "cancelled.bin"))
            var first: Transfer?
            for try await transfer in sent.progress {
                first = transfer
                break
            }
            XCTAssertEqual(first?.state, .queued, "the record as enqueue left it")
            let records = Task {
                var seen: [Transfer] = []
                for try await transfer in sent.progress { seen.append(transfer) }
                return seen
            }
            try await queue.cancel(id: cancelled.id)
            do {
                _ = try await cancelled.result
                XCTFail("a cancelled upload has no result")
            } catch UploadFailure.cancelled(let transfer) {
                XCTAssertEqual(transfer.id, cancelled.id)
            }
            try await queue.setNetwork(status: NetworkStatus(online: true, expensive: false, constrained: false))
            let done = try await sent.result
            XCTAssertEqual(done.id, sent.id)
            XCTAssertEqual(done.state, .succeeded)
            let seen = try await records.value
            XCTAssertEqual(seen.last?.state, .succeeded, "the stream ends with the final record")
            XCTAssertFalse(seen.dropLast().contains { $0.state == .succeeded }, "only the last is final")
            let received = try await Testkit.received()
            XCTAssertEqual(received["/\(prefix)sent.bin"]?.sha256, SHA256.hex(sentData))
            do {
                let unknown = try XCTUnwrap(UUID(uuidString: "0192f0c2-3b4a-7c5d-8e6f-0123456789ab"))
                for try await _ in queue.watch(id: unknown) {
                    XCTFail("an unknown id has no record")
                }
                XCTFail("an unknown id throws")
            } catch FerryError.NotFound(let id, let description) {
                XCTAssertEqual(id.uuidString.lowercased(), "0192f0c2-3b4a-7c5d-8e6f-0123456789ab")
                XCTAssertFalse(description.isEmpty)
            }
            try await queue.shutdown()
        }
    }

    /// The stream a caller iterates finishes once the queue shuts down: a `for await` loop
    /// after the last event ends instead of waiting for ever.
    /// The server's answer (status, headers, body) is kept with a transfer that succeeded
    /// and read by id after the queue is shut down and opened again; a credential
    /// header's value is never kept, and a body past `responseBodyLimit` is cut.
    func testTheServersAnswerIsReadByIdAfterAReopen() async throws {
        try await bounded(60, "testTheServersAnswerIsReadByIdAfterAReopen") {
            let prefix = Testkit.uniquePrefix("answer")
            let queue = try await self.openQueue()
            let (file, _) = try self.scratch.randomFile("a.bin", count: 3000)
            let id = try await queue.enqueue(upload: .put(file, to: self.base + prefix + "a.bin"))
            let done = try await queue.awaitResult(id: id)
            XCTAssertEqual(done.state, .succeeded)
            try await queue.shutdown()

            let reopened = try await self.openQueue()
            let answer = try await reopened.response(id: id)
            let kept = try XCTUnwrap(answer, "an answer is kept")
            XCTAssertEqual(kept.status, 201)
            XCTAssertFalse(kept.bodyTruncated)
            let body = String(decoding: kept.body, as: UTF8.self)
            XCTAssertTrue(body.contains("\"/\(prefix)a.bin\""), body)
            XCTAssertTrue(body.contains("\"len\":3000"), body)
            XCTAssertEqual(kept.headers.first { $0.name.lowercased() == "set-cookie" }?.value, "[redacted]")
            try await reopened.shutdown()

            var config = defaultQueueConfig(databasePath: self.scratch.databasePath)
            XCTAssertEqual(config.responseBodyLimit, 65536)
            config.responseBodyLimit = 8
            let small = try await TransferQueue.open(config: config)
            let (other, _) = try self.scratch.randomFile("b.bin", count: 100)
            let cut = try await small.enqueue(upload: .put(other, to: self.base + prefix + "b.bin"))
            _ = try await small.awaitResult(id: cut)
            let cutAnswer = try await small.response(id: cut)
            XCTAssertEqual(cutAnswer?.body, Data("{\"stored".utf8))
            XCTAssertEqual(cutAnswer?.bodyTruncated, true)
            try await small.shutdown()
        }
    }

    func testTheEventStreamFinishesWhenTheQueueShutsDown() async throws {
        try await bounded(60, "testTheEventStreamFinishesWhenTheQueueShutsDown") {
            let queue = try await self.openQueue()
            let events = queue.events()
            let prefix = Testkit.uniquePrefix("stream-end")
            let (file, _) = try self.scratch.randomFile("one.bin", count: 2048)
            _ = try await queue.enqueue(upload: .put(file, to: self.base + prefix + "one.bin"))
            try await queue.waitIdle()
            try await queue.shutdown()
            let succeeded = try await withTimeout(30, "the stream finishes") {
                var succeeded = 0
                for await event in events {
                    if case .succeeded = event { succeeded += 1 }
                }
                return succeeded
            }
            XCTAssertEqual(succeeded, 1, "every event came before the end")
            var afterShutdown = 0
            for await _ in queue.events() { afterShutdown += 1 }
            XCTAssertEqual(afterShutdown, 0, "a stream made after shutdown finishes at once")
        }
    }

    /// 200 random files through `enqueueMany`, watched through `events` until each one
    /// succeeded; every stored body matches its file's length and SHA-256.
    func testTwoHundredFilesArriveIntactAndEventsReportEachOne() async throws {
        try await bounded(120, "testTwoHundredFilesArriveIntactAndEventsReportEachOne") { try await self.runTwoHundredFilesArriveIntactAndEventsReportEachOne() }
    }

    private func runTwoHundredFilesArriveIntactAndEventsReportEachOne() async throws {
        let queue = try await openQueue()
        let prefix = Testkit.uniquePrefix("many")
        var files: [String: Data] = [:]   // path on the server -> contents
        var uploads: [Upload] = []
        for i in 0..<200 {
            let (url, data) = try scratch.randomFile("f\(i).bin", count: 1024 + (i * 37) % 4096)
            files["/\(prefix)f\(i).bin"] = data
            uploads.append(.put(url, to: base + prefix + "f\(i).bin"))
        }

        let events = queue.events()  // subscribed from here on
        let results = try await queue.enqueueMany(uploads: uploads)
        XCTAssertEqual(results.count, 200)
        var ids = Set<UUID>()
        for result in results {
            switch result {
            case .queued(let id): ids.insert(id)
            case .refused(let error): XCTFail("refused: \(error)")
            }
        }
        XCTAssertEqual(ids.count, 200)

        let expected = ids
        let (succeeded, lagged) = try await withTimeout(120, "200 Succeeded events") {
            var succeeded = Set<UUID>()
            var lagged = false
            for await event in events {
                switch event {
                case .succeeded(let id, _, _) where expected.contains(id): succeeded.insert(id)
                case .lagged: lagged = true
                default: break
                }
                if succeeded.count == expected.count || lagged { break }
            }
            return (succeeded, lagged)
        }
        try await queue.waitIdle()
        if lagged {
            // The stream fell behind: Ferry says so rather than lose events silently.
            let done = try await queue.list(state: .succeeded, offset: 0, limit: 1000)
            XCTAssertEqual(Set(done.map(\.id)), ids)
        } else {
            XCTAssertEqual(succeeded, ids)
        }

        let progress = try await queue.progress()
        XCTAssertEqual(progress.filesTotal, 200)
        XCTAssertEqual(progress.filesDone, 200)
        XCTAssertEqual(progress.filesFailed, 0)
        XCTAssertEqual(progress.bytesDone, Int64(files.values.reduce(0) { $0 + $1.count }))

        let received = try await Testkit.received()
        for (path, data) in files {
            guard let stored = received[path] else {
                XCTFail("nothing stored at \(path)")
                continue
            }
            XCTAssertEqual(stored.len, UInt64(data.count), path)
            XCTAssertEqual(stored.sha256, SHA256.hex(data), path)
            XCTAssertEqual(stored.storedCount, 1, path)
        }
        try await queue.shutdown()
    }

    /// Offline nothing starts, so cancel and pause act on queued transfers; back online
    /// only the untouched one runs, and a resumed one runs after.
    func testPauseResumeAndCancel() async throws {
        try await bounded(120, "testPauseResumeAndCancel") { try await self.runPauseResumeAndCancel() }
    }

    private func runPauseResumeAndCancel() async throws {
        let queue = try await openQueue()
        let prefix = Testkit.uniquePrefix("control")
        try await queue.setAppState(state: .foreground)
        try await queue.setNetwork(status: NetworkStatus(online: false))
        var ids: [UUID] = []
        for name in ["cancelled", "paused", "plain"] {
            let (url, _) = try scratch.randomFile(name, count: 2048)
            ids.append(try await queue.enqueue(upload: .put(url, to: base + prefix + name)))
        }
        let (cancelled, paused, plain) = (ids[0], ids[1], ids[2])

        try await queue.cancel(id: cancelled)
        try await queue.pause(id: paused)
        let cancelledState = try await state(queue, cancelled)
        let pausedState = try await state(queue, paused)
        let plainState = try await state(queue, plain)
        XCTAssertEqual(cancelledState, .cancelled)
        XCTAssertEqual(pausedState, .paused)
        XCTAssertEqual(plainState, .queued)
        let pausedList = try await queue.list(state: .paused, offset: 0, limit: 10)
        XCTAssertEqual(pausedList.map(\.id), [paused])

        try await queue.setNetwork(status: NetworkStatus(online: true))
        try await queue.waitIdle()
        let cancelledAfter = try await state(queue, cancelled)
        let pausedAfter = try await state(queue, paused)
        let plainAfter = try await state(queue, plain)
        XCTAssertEqual(cancelledAfter, .cancelled)
        XCTAssertEqual(pausedAfter, .paused)
        XCTAssertEqual(plainAfter, .succeeded)

        try await queue.resume(id: paused)
        try await queue.waitIdle()
        let resumedAfter = try await state(queue, paused)
        XCTAssertEqual(resumedAfter, .succeeded)

        let received = try await Testkit.received()
        XCTAssertNil(received["/\(prefix)cancelled"])
        XCTAssertNotNil(received["/\(prefix)paused"])
        XCTAssertNotNil(received["/\(prefix)plain"])
        try await queue.shutdown()
    }

    /// A 404 fails the transfer for good; `retry` queues it again and it succeeds.
    func testRetryAfterAPermanentFailure() async throws {
        try await bounded(120, "testRetryAfterAPermanentFailure") { try await self.runRetryAfterAPermanentFailure() }
    }

    private func runRetryAfterAPermanentFailure() async throws {
        let queue = try await openQueue()
        let prefix = Testkit.uniquePrefix("retry")
        let path = "/\(prefix)r.bin"
        try await Testkit.setFaults(
            #"{"scripted": [{"when": "first_to_path", "path": "\#(path)", "count": 1, "fault": {"status": {"code": 404}}}]}"#)
        do {
            let (url, data) = try scratch.randomFile("r.bin", count: 3000)
            let id = try await queue.enqueue(upload: .put(url, to: base + prefix + "r.bin"))
            try await queue.waitIdle()
            let failed = try await queue.get(id: id)
            XCTAssertEqual(failed.state, .failed)
            XCTAssertEqual(failed.lastError?.httpStatus, 404)
            XCTAssertEqual(failed.lastError?.kind, .httpStatus)

            try await queue.retry(id: id)
            try await queue.waitIdle()
            let retried = try await state(queue, id)
            XCTAssertEqual(retried, .succeeded)
            let received = try await Testkit.received()
            XCTAssertEqual(received[path]?.sha256, SHA256.hex(data))
        } catch {
            try? await Testkit.setFaults("{}")
            throw error
        }
        try await Testkit.setFaults("{}")
        try await queue.shutdown()
    }

    func testEnqueueErrorsAreTyped() async throws {
        try await bounded(120, "testEnqueueErrorsAreTyped") { try await self.runEnqueueErrorsAreTyped() }
    }

    private func runEnqueueErrorsAreTyped() async throws {
        let queue = try await openQueue()
        let missing = scratch.dir.appendingPathComponent("does-not-exist.bin")
        do {
            _ = try await queue.enqueue(upload: .put(missing, to: base + "never"))
            XCTFail("expected FerryError.SourceMissing")
        } catch FerryError.SourceMissing(let path, let description) {
            // The fields say what a program acts on; the description is for a person.
            XCTAssertEqual(path, missing.path)
            XCTAssertTrue(description.contains("does not exist"), description)
        }

        let (file, _) = try scratch.randomFile("present.bin", count: 16)
        do {
            _ = try await queue.enqueue(upload: .put(file, to: "ftp://x"))
            XCTFail("expected FerryError.InvalidDestination")
        } catch FerryError.InvalidDestination(let destination, let description) {
            XCTAssertTrue(destination.hasPrefix("ftp:"), destination)
            XCTAssertFalse(description.isEmpty)
        }

        // In a batch, a bad item is refused on its own and the rest are queued.
        try await queue.setNetwork(status: NetworkStatus(online: false))
        let results = try await queue.enqueueMany(uploads: [
            .put(missing, to: base + "never"),
            .put(file, to: base + Testkit.uniquePrefix("typed") + "ok"),
        ])
        XCTAssertEqual(results.count, 2)
        // The same typed error `enqueue` throws, not a string.
        if case .refused(.SourceMissing(let path, _)) = results[0] {
            XCTAssertEqual(path, missing.path)
        } else {
            XCTFail("\(results[0])")
        }
        if case .queued = results[1] {} else { XCTFail("\(results[1])") }

        let all = try await queue.list(state: nil, offset: 0, limit: 10)
        XCTAssertEqual(all.count, 1)
        try await queue.shutdown()
    }

    /// After `shutdown`, the handle refuses calls; a new queue on the same database sees
    /// the same ids and states.
    func testReopenAfterShutdownKeepsIdsAndStates() async throws {
        try await bounded(120, "testReopenAfterShutdownKeepsIdsAndStates") { try await self.runReopenAfterShutdownKeepsIdsAndStates() }
    }

    private func runReopenAfterShutdownKeepsIdsAndStates() async throws {
        let prefix = Testkit.uniquePrefix("reopen")
        let first = try await openQueue()
        try await first.setNetwork(status: NetworkStatus(online: false))
        var ids: [UUID] = []
        for name in ["a", "b", "c"] {
            let (url, _) = try scratch.randomFile(name, count: 1500)
            ids.append(try await first.enqueue(upload: .put(url, to: base + prefix + name)))
        }
        try await first.pause(id: ids[0])
        try await first.cancel(id: ids[1])
        let before = try await first.list(state: nil, offset: 0, limit: 10)
        try await first.shutdown()
        do {
            _ = try await first.progress()
            XCTFail("expected FerryError.Closed after shutdown")
        } catch FerryError.Closed {
        }

        let second = try await openQueue()
        let after = try await second.list(state: nil, offset: 0, limit: 10)
        XCTAssertEqual(after.map(\.id), before.map(\.id))
        XCTAssertEqual(after.map(\.id), ids)
        let paused = try await state(second, ids[0])
        let cancelled = try await state(second, ids[1])
        XCTAssertEqual(paused, .paused)
        XCTAssertEqual(cancelled, .cancelled)
        XCTAssertEqual(after[2].upload.destination, base + prefix + "c")
        // The reopened queue starts online: the queued one runs to completion.
        try await second.waitIdle()
        let last = try await state(second, ids[2])
        XCTAssertEqual(last, .succeeded)
        try await second.shutdown()
    }

    /// 50 tasks call enqueue, get and progress at once; all finish and every upload lands.
    func testManyConcurrentCallsFinish() async throws {
        try await bounded(120, "testManyConcurrentCallsFinish") { try await self.runManyConcurrentCallsFinish() }
    }

    private func runManyConcurrentCallsFinish() async throws {
        let queue = try await openQueue()
        let prefix = Testkit.uniquePrefix("concurrent")
        var uploads: [Upload] = []
        for i in 0..<50 {
            let (url, _) = try scratch.randomFile("c\(i)", count: 1024)
            uploads.append(.put(url, to: base + prefix + "c\(i)"))
        }
        let batch = uploads
        let ids = try await withTimeout(120, "50 concurrent enqueue/get/progress") {
            try await withThrowingTaskGroup(of: UUID.self) { group in
                for upload in batch {
                    group.addTask {
                        let id = try await queue.enqueue(upload: upload)
                        let transfer = try await queue.get(id: id)
                        XCTAssertEqual(transfer.upload, upload)
                        _ = try await queue.progress()
                        return id
                    }
                }
                var ids = Set<UUID>()
                for try await id in group { ids.insert(id) }
                return ids
            }
        }
        XCTAssertEqual(ids.count, 50)
        try await queue.waitIdle()
        let done = try await queue.list(state: .succeeded, offset: 0, limit: 100)
        XCTAssertEqual(Set(done.map(\.id)), ids)
        try await queue.shutdown()
    }

    /// A `LogSink` written in Swift receives Ferry's log lines (setAppState logs at debug).
    func testLogSinkImplementedInSwiftReceivesLines() async throws {
        try await bounded(120, "testLogSinkImplementedInSwiftReceivesLines") { try await self.runLogSinkImplementedInSwiftReceivesLines() }
    }

    private func runLogSinkImplementedInSwiftReceivesLines() async throws {
        let queue = try await openQueue()
        try await queue.setAppState(state: .background)
        try await queue.setAppState(state: .foreground)
        try await withTimeout(10, "a log line about the app state") {
            while !LogCapture.shared.messages().contains(where: { $0.contains("app state") }) {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        XCTAssertTrue(LogCapture.shared.messages().contains { $0.contains("app state") })
        try await queue.shutdown()
    }

    /// A sink set while a queue is open takes over at once (the logger is installed once
    /// and forwards to whichever sink is current); the suite's sink is put back after.
    func testLogSinkCanBeSwappedWhileAQueueIsOpen() async throws {
        try await bounded(120, "testLogSinkCanBeSwappedWhileAQueueIsOpen") { try await self.runLogSinkCanBeSwappedWhileAQueueIsOpen() }
    }

    private func runLogSinkCanBeSwappedWhileAQueueIsOpen() async throws {
        let queue = try await openQueue()
        let later = LogCapture()
        setLogSink(sink: later, maxLevel: .debug)
        defer { setLogSink(sink: LogCapture.shared, maxLevel: .debug) }
        try await queue.setAppState(state: .background)
        try await queue.setAppState(state: .foreground)
        try await withTimeout(10, "a log line in the sink set after open") {
            while !later.messages().contains(where: { $0.contains("app state") }) {
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        XCTAssertTrue(later.messages().contains { $0.contains("app state") })
        try await queue.shutdown()
    }

    func testUploadPutFillsTheDefaults() {
        let upload = Upload.put("/tmp/x.bin", to: "https://example.com/x")
        XCTAssertEqual(upload, Upload(sourcePath: "/tmp/x.bin", destination: "https://example.com/x", method: .put))
        XCTAssertEqual(upload.headers, [])
        XCTAssertEqual(upload.priority, 0)
        XCTAssertTrue(upload.allowExpensiveNetwork)
    }

    func testSha256MatchesKnownVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
