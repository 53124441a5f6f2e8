// Downloads as a Swift app sees them (issue 21): a file fetched into place through the
// generated bindings, checked against its SHA-256, with its direction and where it was
// saved on the transfer; a repeat is the same transfer; a wrong SHA-256 fails with its own
// kind; a missing folder is a typed error with nothing queued.
import Foundation
import XCTest
import Ferry

final class DownloadTests: ScratchTestCase {
    private func served(_ count: Int) async throws -> (String, Data) {
        let name = "swift-dl-\(UUID().uuidString.lowercased()).bin"
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        try await Testkit.serveFile(name, bytes)
        return (name, bytes)
    }

    func testADownloadArrivesWholeAtItsDestination() async throws {
        try await bounded(120, "testADownloadArrivesWholeAtItsDestination") {
            try await self.runADownloadArrivesWholeAtItsDestination()
        }
    }

    private func runADownloadArrivesWholeAtItsDestination() async throws {
        let queue = try await TransferQueue.open(config: defaultQueueConfig(databasePath: scratch.databasePath))
        let (name, bytes) = try await served(300_000)
        let destination = scratch.dir.appendingPathComponent("photo.bin")
        let download = Download(
            url: try Testkit.fileURL(name), destinationPath: destination.path,
            expectedSha256: SHA256.hex(bytes), group: "album")
        let id = try await queue.enqueueDownload(download: download)
        let again = try await queue.enqueueDownload(download: download)
        XCTAssertEqual(again, id, "the same URL to the same file is the same transfer")

        let done = try await queue.awaitResult(id: id)
        XCTAssertTrue(done.state.isSucceeded, "\(done.state) \(String(describing: done.lastError))")
        XCTAssertEqual(done.direction, .download)
        XCTAssertEqual(done.savedAs, destination.path)
        XCTAssertEqual(done.download?.group, "album")
        XCTAssertEqual(try Data(contentsOf: destination), bytes)
        let served = try await Testkit.bytesServed(name)
        XCTAssertEqual(served, UInt64(bytes.count), "every byte served once")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.dir.path)
        XCTAssertFalse(left.contains { $0.hasSuffix(".partial") }, "no partial file left: \(left)")
        try await queue.shutdown()
    }

    func testAWrongSha256FailsAndAMissingFolderIsRefused() async throws {
        try await bounded(120, "testAWrongSha256FailsAndAMissingFolderIsRefused") {
            try await self.runAWrongSha256FailsAndAMissingFolderIsRefused()
        }
    }

    private func runAWrongSha256FailsAndAMissingFolderIsRefused() async throws {
        let queue = try await TransferQueue.open(config: defaultQueueConfig(databasePath: scratch.databasePath))
        let (name, _) = try await served(10_000)
        let destination = scratch.dir.appendingPathComponent("wrong.bin")
        let id = try await queue.enqueueDownload(download: Download(
            url: try Testkit.fileURL(name), destinationPath: destination.path,
            expectedSha256: String(repeating: "0", count: 64)))
        let failed = try await queue.awaitResult(id: id)
        XCTAssertEqual(failed.lastError?.kind, .digestMismatch, "\(String(describing: failed.lastError))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination.path), "nothing put in place")

        let missing = scratch.dir.appendingPathComponent("no-such-folder/f.bin").path
        do {
            _ = try await queue.enqueueDownload(download: Download(
                url: try Testkit.fileURL(name), destinationPath: missing))
            XCTFail("expected FerryError.InvalidDownload")
        } catch FerryError.InvalidDownload(let path, let description) {
            XCTAssertEqual(path, missing)
            XCTAssertFalse(description.isEmpty)
        }
        let all = try await queue.list(state: nil, offset: 0, limit: 10)
        XCTAssertEqual(all.count, 1, "nothing was queued for the refused download")
        try await queue.shutdown()
    }
}
