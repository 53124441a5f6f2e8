// The request authorizer across the FFI: a `RequestAuthorizer` written in Swift is asked
// right before the attempt, its URL and headers are what the server sees, and its secret
// never reaches the database.
import Foundation
import XCTest
import Ferry

final class SigningAuthorizer: RequestAuthorizer, @unchecked Sendable {
    static let secret = "Bearer swift-secret-4c1e"
    private let lock = NSLock()
    private var asked: [(RequestInfo, AuthReason)] = []

    /// Sends `…/photo.bin` to `…/signed-photo.bin`, with a bearer token.
    func authorize(request: RequestInfo, reason: AuthReason) throws -> Authorization {
        lock.lock()
        asked.append((request, reason))
        lock.unlock()
        let signed = request.destination.replacingOccurrences(of: "/photo.bin", with: "/signed-photo.bin")
        return Authorization(
            url: signed,
            headers: [Header(name: "Authorization", value: Self.secret)],
            expiresAt: Date().addingTimeInterval(3600)
        )
    }

    var calls: [(RequestInfo, AuthReason)] {
        lock.lock()
        defer { lock.unlock() }
        return asked
    }
}

final class AuthorizerTests: ScratchTestCase {
    func testTheAuthorizersUrlAndHeadersAreUsedAndNeverStored() async throws {
        try await bounded(120, "testTheAuthorizersUrlAndHeadersAreUsedAndNeverStored") {
            try await self.runTheAuthorizersUrlAndHeadersAreUsedAndNeverStored()
        }
    }

    private func runTheAuthorizersUrlAndHeadersAreUsedAndNeverStored() async throws {
        let authorizer = SigningAuthorizer()
        let config = defaultQueueConfig(databasePath: scratch.databasePath)
        let queue = try await TransferQueue.openWithAuthorizer(config: config, authorizer: authorizer)
        let prefix = Testkit.uniquePrefix("auth")
        let (file, data) = try scratch.randomFile("photo.bin", count: 20_000)
        let id = try await queue.enqueue(upload: .put(file, to: base + prefix + "photo.bin"))
        try await queue.waitIdle()

        let transfer = try await queue.get(id: id)
        XCTAssertEqual(transfer.state, .succeeded)
        let calls = authorizer.calls
        XCTAssertEqual(calls.count, 1)
        XCTAssertEqual(calls.first?.0.transferId, id)
        XCTAssertEqual(calls.first?.0.size, Int64(data.count))
        XCTAssertEqual(calls.first?.0.method, "PUT")
        XCTAssertEqual(calls.first?.1, .first)
        let signedPath = "/\(prefix)signed-photo.bin"
        let received = try await Testkit.received()
        XCTAssertEqual(received[signedPath]?.sha256, SHA256.hex(data), "sent to the authorizer's URL")
        XCTAssertNil(received["/\(prefix)photo.bin"], "not to the enqueued URL")
        try await queue.shutdown()

        for path in [scratch.databasePath, scratch.databasePath + "-wal"] {
            guard let bytes = FileManager.default.contents(atPath: path) else { continue }
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertFalse(text.contains(SigningAuthorizer.secret), "\(path) holds the secret")
        }
    }
}
