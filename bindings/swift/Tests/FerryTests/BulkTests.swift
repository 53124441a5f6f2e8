// Queue management in bulk as a Swift app sees it: `cancelWhere`, `retryWhere` and
// `purgeWhere` by state and by destination prefix, each returning how many transfers it
// changed, and a selection of a state a call never changes refused with a typed error.
import Foundation
import XCTest
import Ferry

final class BulkTests: ScratchTestCase {
    func testCancelRetryAndPurgeActOnWhatTheySelect() async throws {
        try await bounded(120, "testCancelRetryAndPurgeActOnWhatTheySelect") {
            try await self.runCancelRetryAndPurgeActOnWhatTheySelect()
        }
    }

    private func runCancelRetryAndPurgeActOnWhatTheySelect() async throws {
        let config = defaultQueueConfig(databasePath: scratch.databasePath)
        let queue = try await TransferQueue.open(config: config)
        // Offline: nothing starts until the selections have been made.
        try await queue.setNetwork(status: NetworkStatus(online: false))
        let dropped = Testkit.uniquePrefix("bulk-dropped")
        let kept = Testkit.uniquePrefix("bulk-kept")
        var droppedIds: [UUID] = []
        for index in 0..<4 {
            let (file, _) = try scratch.randomFile("d\(index).bin", count: 1000)
            droppedIds.append(try await queue.enqueue(upload: .put(file, to: base + dropped + "d\(index).bin")))
        }
        var keptIds: [UUID] = []
        for index in 0..<2 {
            let (file, _) = try scratch.randomFile("k\(index).bin", count: 1000)
            keptIds.append(try await queue.enqueue(upload: .put(file, to: base + kept + "k\(index).bin")))
        }

        do {
            _ = try await queue.cancelWhere(selection: Selection(states: [.succeeded]))
            XCTFail("expected FerryError.InvalidSelection")
        } catch FerryError.InvalidSelection(let action, let state, let description) {
            XCTAssertEqual(action, "cancel")
            XCTAssertEqual(state, .succeeded)
            XCTAssertTrue(description.contains("cannot cancel"), description)
        }

        let cancelled = try await queue.cancelWhere(selection: Selection(destinationPrefix: base + dropped))
        XCTAssertEqual(cancelled, 4)
        for id in droppedIds {
            let state = try await queue.get(id: id).state
            XCTAssertEqual(state, .cancelled)
        }
        for id in keptIds {
            let state = try await queue.get(id: id).state
            XCTAssertEqual(state, .queued)
        }

        try await queue.pause(id: keptIds[0])
        let retried = try await queue.retryWhere(selection: Selection(states: [.paused]))
        XCTAssertEqual(retried, 1)

        try await queue.setNetwork(status: NetworkStatus(online: true))
        try await queue.waitIdle()
        for id in keptIds {
            let state = try await queue.get(id: id).state
            XCTAssertEqual(state, .succeeded)
        }

        // Everything finished just now: younger than an hour, so nothing is purged.
        let young = try await queue.purgeWhere(selection: Selection(), olderThan: 3600)
        XCTAssertEqual(young, 0)
        let purgedCancelled = try await queue.purgeWhere(selection: Selection(states: [.cancelled]), olderThan: 0)
        XCTAssertEqual(purgedCancelled, 4)
        let purgedRest = try await queue.purgeWhere(selection: Selection(), olderThan: 0)
        XCTAssertEqual(purgedRest, 2)
        let progress = try await queue.progress()
        XCTAssertEqual(progress.filesTotal, 0)
        try await queue.shutdown()
    }
}
