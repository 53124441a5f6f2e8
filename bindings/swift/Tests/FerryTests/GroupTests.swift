// The app's own data on an upload as a Swift app sees it: metadata and a group stored with
// the transfer and read back after a reopen, out-of-bounds metadata refused with a typed
// error, and `listWhere`, `cancelWhere`, `retryWhere` and `purgeWhere` by group acting on
// that group alone.
import Foundation
import XCTest
import Ferry

final class GroupTests: ScratchTestCase {
    func testMetadataAndGroupSurviveAReopen() async throws {
        try await bounded(120, "testMetadataAndGroupSurviveAReopen") {
            try await self.runMetadataAndGroupSurviveAReopen()
        }
    }

    private func runMetadataAndGroupSurviveAReopen() async throws {
        let config = defaultQueueConfig(databasePath: scratch.databasePath)
        var queue = try await TransferQueue.open(config: config)
        try await queue.setNetwork(status: NetworkStatus(online: false))
        let prefix = Testkit.uniquePrefix("group-meta")
        let (file, _) = try scratch.randomFile("m.bin", count: 1000)
        let metadata = ["album": "7", "caption": "the beach, at dusk ✓"]
        let id = try await queue.enqueue(upload: Upload(
            sourcePath: file.path, destination: base + prefix + "m.bin", method: .put,
            metadata: metadata, group: "holiday"))

        let (other, _) = try scratch.randomFile("n.bin", count: 10)
        do {
            _ = try await queue.enqueue(upload: Upload(
                sourcePath: other.path, destination: base + prefix + "n.bin", method: .put,
                metadata: ["": "no key"]))
            XCTFail("expected FerryError.InvalidMetadata")
        } catch FerryError.InvalidMetadata(let message) {
            XCTAssertTrue(message.contains("empty key"), message)
        }
        try await queue.shutdown()

        queue = try await TransferQueue.open(config: config)
        try await queue.setNetwork(status: NetworkStatus(online: false))
        let stored = try await queue.get(id: id)
        XCTAssertEqual(stored.upload.metadata, metadata)
        XCTAssertEqual(stored.upload.group, "holiday")
        let listed = try await queue.listWhere(selection: Selection(group: "holiday"), offset: 0, limit: 10)
        XCTAssertEqual(listed.map { $0.id }, [id])
        XCTAssertEqual(listed.first?.upload.metadata, metadata)
        let all = try await queue.list(state: nil, offset: 0, limit: 10)
        XCTAssertEqual(all.count, 1, "nothing was queued for the refused upload")
        try await queue.shutdown()
    }

    func testCancelRetryListAndPurgeByGroup() async throws {
        try await bounded(120, "testCancelRetryListAndPurgeByGroup") {
            try await self.runCancelRetryListAndPurgeByGroup()
        }
    }

    private func runCancelRetryListAndPurgeByGroup() async throws {
        let config = defaultQueueConfig(databasePath: scratch.databasePath)
        let queue = try await TransferQueue.open(config: config)
        // Offline: nothing starts until the selections have been made.
        try await queue.setNetwork(status: NetworkStatus(online: false))
        let prefix = Testkit.uniquePrefix("group-bulk")
        func enqueue(_ name: String, group: String?) async throws -> UUID {
            let (file, _) = try scratch.randomFile(name, count: 1000)
            return try await queue.enqueue(upload: Upload(
                sourcePath: file.path, destination: base + prefix + name, method: .put, group: group))
        }
        var album: [UUID] = []
        for index in 0..<3 { album.append(try await enqueue("a\(index).bin", group: "album")) }
        var trip: [UUID] = []
        for index in 0..<2 { trip.append(try await enqueue("t\(index).bin", group: "trip")) }
        let loose = try await enqueue("loose.bin", group: nil)

        let listed = try await queue.listWhere(selection: Selection(group: "album"), offset: 0, limit: 100)
        XCTAssertEqual(listed.map { $0.id }, album)

        let cancelled = try await queue.cancelWhere(selection: Selection(group: "album"))
        XCTAssertEqual(cancelled, 3)
        for id in trip + [loose] {
            let state = try await queue.get(id: id).state
            XCTAssertEqual(state, .queued)
        }

        for id in trip + [loose] { try await queue.pause(id: id) }
        let retried = try await queue.retryWhere(selection: Selection(states: [.paused], group: "trip"))
        XCTAssertEqual(retried, 2)
        let looseState = try await queue.get(id: loose).state
        XCTAssertEqual(looseState, .paused, "a transfer in no group is never selected by a group")

        try await queue.setNetwork(status: NetworkStatus(online: true))
        try await queue.resume(id: loose)
        try await queue.waitIdle()
        for id in trip {
            let state = try await queue.get(id: id).state
            XCTAssertEqual(state, .succeeded)
        }

        let purged = try await queue.purgeWhere(selection: Selection(group: "album"), olderThan: 0)
        XCTAssertEqual(purged, 3)
        let left = try await queue.list(state: nil, offset: 0, limit: 100)
        XCTAssertEqual(Set(left.map { $0.id }), Set(trip + [loose]))
        try await queue.shutdown()
    }
}
