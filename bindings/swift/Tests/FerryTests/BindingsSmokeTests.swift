// Smoke tests of the Swift bindings on Linux: the generated module compiles in Swift 5
// mode, loads the host-built library, and async calls, typed errors and the foreign
// observer all cross the FFI. Behaviour belongs in the Rust tests; keep these few.
import Foundation
import XCTest
import Ferry

/// Collects the events Rust delivers on Ferry's own thread.
final class EventLog: TransferObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [TransferEvent] = []

    func onEvent(event: TransferEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    func onEnd() {}

    func started(_ id: UUID) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return events.contains { if case .started(id, _) = $0 { return true } else { return false } }
    }
}

final class BindingsSmokeTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        LogCapture.install()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func openQueue() async throws -> TransferQueue {
        try await TransferQueue.open(config: defaultQueueConfig(databasePath: dir.appendingPathComponent("queue.db").path))
    }

    /// Ids are Foundation `UUID`s, the same from every call; an unknown one is named in
    /// the error, whose description is its `localizedDescription`.
    func testIdsAreUUIDsAndAnUnknownOneIsNamedInTheError() async throws {
        let queue = try await openQueue()
        try await queue.setNetwork(status: NetworkStatus(online: false))
        let file = dir.appendingPathComponent("id.bin")
        try Data(repeating: 1, count: 16).write(to: file)
        let id: UUID = try await queue.enqueue(upload: .put(file, to: "http://127.0.0.1:9/id.bin"))
        let transfer = try await queue.get(id: id)
        XCTAssertEqual(transfer.id, id)
        let listed: [Transfer] = try await queue.list(state: nil, offset: 0, limit: 10)
        // `Transfer` is `Identifiable`: what SwiftUI's `ForEach` and `List` need.
        XCTAssertEqual(listed.map(\.id), [id])
        XCTAssertEqual(identifiers(listed), [id])

        let unknown = UUID()
        do {
            _ = try await queue.get(id: unknown)
            XCTFail("expected FerryError.NotFound")
        } catch let error as FerryError {
            guard case .NotFound(let missing, let description) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, unknown)
            XCTAssertEqual(error.localizedDescription, description)
            XCTAssertTrue(description.contains(unknown.uuidString.lowercased()), description)
        }
        do {
            _ = try await queue.list(state: nil, offset: -1, limit: 10)
            XCTFail("expected FerryError.InvalidArgument")
        } catch FerryError.InvalidArgument(let name, _) {
            XCTAssertEqual(name, "offset")
        }
        try await queue.cancel(id: id)
        try await queue.shutdown()
    }

    /// Compiles only because `Transfer` is `Identifiable` with a `UUID` id.
    private func identifiers<T: Identifiable>(_ items: [T]) -> [T.ID] where T.ID == UUID {
        items.map(\.id)
    }

    func testObserverImplementedInSwiftHearsTheAttemptStart() async throws {
        let queue = try await openQueue()
        let log = EventLog()
        let subscription = queue.subscribe(observer: log)
        let file = dir.appendingPathComponent("a.bin")
        try Data(repeating: 7, count: 1024).write(to: file)
        // Nothing listens on the loopback discard port: the attempt starts, then fails.
        let id = try await queue.enqueue(upload: Upload(
            sourcePath: file.path, destination: "http://127.0.0.1:9/a.bin", method: .put))
        let deadline = Date().addingTimeInterval(10)
        while !log.started(id) && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTAssertTrue(log.started(id), "no Started event for \(id) within 10 s")
        let progress = try await queue.progress()
        XCTAssertEqual(progress.filesTotal, 1)
        subscription.unsubscribe()
        try await queue.cancel(id: id)
        try await queue.shutdown()
    }
}
