// Every setting of the core reaches it from Swift: the defaults are the core's, and packing
// configured in Swift sends many small files in one request to the testkit's batch endpoint.
import Foundation
import XCTest
import Ferry

final class SettingsTests: ScratchTestCase {
    func testTheDefaultsAreTheCoresAndEveryKnobIsThere() {
        let config = QueueConfig(databasePath: scratch.databasePath)
        XCTAssertEqual(config.httpVersion, .negotiate)
        XCTAssertEqual(config.progressInterval, 0.25, accuracy: 0.001)
        XCTAssertEqual(config.breakerFailureThreshold, 5)
        XCTAssertEqual(config.breakerMaxCooldown, 30, accuracy: 0.001)
        XCTAssertEqual(config.batching, [])
        XCTAssertEqual(config.authorizeTimeout, 60, accuracy: 0.001)
        XCTAssertEqual(config.sensitiveHeaders, [])
    }

    func testPackingConfiguredInSwiftSendsSmallFilesInOneRequest() async throws {
        try await bounded(60, "testPackingConfiguredInSwiftSendsSmallFilesInOneRequest") {
            let prefix = Testkit.uniquePrefix("packed")
            var config = QueueConfig(databasePath: self.scratch.databasePath)
            config.batching = [BatchEndpoint(destinationPrefix: self.base + prefix, endpoint: self.base + prefix + "_batch")]
            config.httpVersion = .http1Only
            let queue = try await TransferQueue.open(config: config)
            try await queue.setNetwork(status: NetworkStatus(online: false))
            var ids: [UUID] = []
            var files: [(name: String, data: Data)] = []
            for index in 0..<4 {
                let (file, data) = try self.scratch.randomFile("p\(index).bin", count: 2048)
                ids.append(try await queue.enqueue(upload: .put(file, to: self.base + prefix + "p\(index).bin")))
                files.append(("p\(index).bin", data))
            }
            let before = try await Testkit.stats()
            try await queue.setNetwork(status: NetworkStatus(online: true))
            for id in ids {
                let done = try await queue.awaitResult(id: id)
                XCTAssertEqual(done.state, .succeeded)
            }
            let after = try await Testkit.stats()
            XCTAssertEqual(after.requests - before.requests, 1, "four small files, one packed request")
            let received = try await Testkit.received()
            for file in files {
                XCTAssertEqual(received["/\(prefix)\(file.name)"]?.sha256, SHA256.hex(file.data), file.name)
            }
            try await queue.shutdown()
        }
    }
}
