// Work to a host that refuses connections waits, and `hostStatus()` says why: the host,
// how much waits, and the failure ("could not connect"), as a Swift app reads it.
import Foundation
import XCTest
import Ferry

final class HostStatusTests: XCTestCase {
    private var scratch: Scratch!

    override func setUpWithError() throws {
        LogCapture.install()
        scratch = try Scratch()
    }

    override func tearDownWithError() throws {
        scratch?.remove()
    }

    func testHostStatusSaysWhyWorkToARefusingHostWaits() async throws {
        try await bounded(60, "testHostStatusSaysWhyWorkToARefusingHostWaits") {
            try await self.runHostStatusSaysWhyWorkToARefusingHostWaits()
        }
    }

    private func runHostStatusSaysWhyWorkToARefusingHostWaits() async throws {
        let queue = try await TransferQueue.open(
            config: defaultQueueConfig(databasePath: scratch.databasePath))
        let (file, _) = try scratch.randomFile("down.bin", count: 500)
        // Port 9 (discard) on loopback: nothing listens, every connect is refused.
        let host = "127.0.0.1:9"
        _ = try await queue.enqueue(upload: .put(file, to: "http://\(host)/down.bin"))
        var seen: HostStatus?
        for _ in 0..<1000 {
            seen = try await queue.hostStatus().first { $0.host == host }
            if seen?.lastError != nil { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let status = try XCTUnwrap(seen, "hostStatus() never listed \(host)")
        XCTAssertEqual(status.queued + status.running, 1)
        let error = try XCTUnwrap(status.lastError, "no failure recorded for \(host)")
        XCTAssertEqual(error.kind, .network)
        XCTAssertTrue(error.message.contains("could not connect"), error.message)
        try await queue.shutdown()
    }
}
