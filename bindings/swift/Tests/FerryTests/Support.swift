// Shared helpers for the XCTest suite: the testkit's control API, temp files, a timeout.
import Foundation
import XCTest
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct TestkitUnavailable: Error, CustomStringConvertible {
    var description: String { "FERRY_TESTKIT_URL is not set (run through `cargo xtask test-swift`)" }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

/// The loopback server `cargo xtask test-swift` starts (`ferry-testkit serve`).
///
/// Its state is shared by every test, so tests never reset it: each one uploads under a
/// path prefix of its own.
enum Testkit {
    struct Received: Decodable, Equatable {
        let len: UInt64
        let sha256: String
        let storedCount: UInt64

        enum CodingKeys: String, CodingKey {
            case len, sha256
            case storedCount = "stored_count"
        }
    }

    /// The base URL, ending in `/`.
    static func baseURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["FERRY_TESTKIT_URL"], !url.isEmpty else {
            throw TestkitUnavailable()
        }
        return url.hasSuffix("/") ? url : url + "/"
    }

    /// A fresh prefix such as `swift-<uuid>/` for one test's upload paths.
    static func uniquePrefix(_ label: String) -> String {
        "swift-\(label)-\(UUID().uuidString.lowercased())/"
    }

    /// Every stored body, keyed by path (`/prefix/name`).
    static func received() async throws -> [String: Received] {
        let data = try await request("GET", "_testkit/received")
        return try JSONDecoder().decode([String: Received].self, from: data)
    }

    /// The server's counters that tell duplicates apart (`GET /_testkit/stats`).
    struct Stats: Decodable {
        let requests: UInt64
        let duplicatesRefused: UInt64

        enum CodingKeys: String, CodingKey {
            case requests
            case duplicatesRefused = "duplicates_refused"
        }
    }

    static func stats() async throws -> Stats {
        let data = try await request("GET", "_testkit/stats")
        return try JSONDecoder().decode(Stats.self, from: data)
    }

    /// Installs `plan` (JSON text) as the fault plan in force.
    static func setFaults(_ plan: String) async throws {
        _ = try await request("POST", "_testkit/faults", body: Data(plan.utf8))
    }

    /// Serves `bytes` for downloads at `fileURL(name)` (`PUT /_testkit/files/NAME`).
    static func serveFile(_ name: String, _ bytes: Data) async throws {
        _ = try await request("PUT", "_testkit/files/" + name, body: bytes)
    }

    /// Where a file given to `serveFile` is downloaded from.
    static func fileURL(_ name: String) throws -> String {
        try baseURL() + "_files/" + name
    }

    /// Body bytes of a served file handed out so far (`GET /_testkit/files/NAME`).
    static func bytesServed(_ name: String) async throws -> UInt64 {
        struct Served: Decodable {
            let bytesServed: UInt64
            enum CodingKeys: String, CodingKey { case bytesServed = "bytes_served" }
        }
        let data = try await request("GET", "_testkit/files/" + name)
        return try JSONDecoder().decode(Served.self, from: data).bytesServed
    }

    private static func request(_ method: String, _ path: String, body: Data? = nil) async throws -> Data {
        guard let url = URL(string: try baseURL() + path) else { throw TestkitUnavailable() }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        return try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                    return
                }
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                guard (200..<300).contains(status) else {
                    let text = String(decoding: data ?? Data(), as: UTF8.self)
                    continuation.resume(throwing: NSError(
                        domain: "Testkit", code: status,
                        userInfo: [NSLocalizedDescriptionKey: "\(method) \(path): \(status) \(text)"]))
                    return
                }
                continuation.resume(returning: data ?? Data())
            }.resume()
        }
    }
}

/// Collects Ferry's log lines; the process-wide sink of the suite (see `LogCapture.install`).
/// A test that swaps in another sink puts this one back when it is done.
final class LogCapture: LogSink, @unchecked Sendable {
    static let shared = LogCapture()
    private static let installed: Void = {
        setLogSink(sink: LogCapture.shared, maxLevel: .debug)
    }()

    /// Call from every test class's `setUp`, so every test's lines are captured.
    static func install() { _ = installed }

    private let lock = NSLock()
    private var lines: [(LogLevel, String, String)] = []

    func log(level: LogLevel, target: String, message: String) {
        lock.lock()
        lines.append((level, target, message))
        lock.unlock()
    }

    func messages() -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines.map { $0.2 }
    }
}

/// A unique temp directory with random files in it.
final class Scratch {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    var databasePath: String { dir.appendingPathComponent("queue.db").path }

    /// Writes `count` random bytes to `name` and returns the file and its contents.
    @discardableResult
    func randomFile(_ name: String, count: Int) throws -> (URL, Data) {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return (url, data)
    }

    func remove() {
        try? FileManager.default.removeItem(at: dir)
    }
}

/// Runs `work`, failing with `TimedOut` if it takes longer than `seconds` (a guard against
/// a hang, not an assertion about speed).
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ work: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await work() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimedOut(what: what)
        }
        return value
    }
}

extension TransferState {
    var isSucceeded: Bool { if case .succeeded = self { return true } else { return false } }
}

/// Runs `work` in a task of its own and fails with `TimedOut` if it has not finished after
/// `seconds`, even if `work` ignores cancellation (an FFI call that never completes): the
/// test then fails, naming itself, instead of hanging the whole suite. Not a speed assert.
func bounded(
    _ seconds: Double, _ what: String, _ work: @escaping @Sendable () async throws -> Void
) async throws {
    final class Once: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        func claim() -> Bool {
            lock.lock()
            defer { lock.unlock() }
            if done { return false }
            done = true
            return true
        }
    }
    let once = Once()
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        let worker = Task {
            do {
                try await work()
                if once.claim() { continuation.resume() }
            } catch {
                if once.claim() { continuation.resume(throwing: error) }
            }
        }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            if once.claim() {
                worker.cancel()
                continuation.resume(throwing: TimedOut(what: what))
            }
        }
    }
}

/// A test case with a scratch directory of its own (removed after each test), the testkit's
/// base URL, and Ferry's log captured.
class ScratchTestCase: XCTestCase {
    var scratch: Scratch!
    var base: String!

    override func setUpWithError() throws {
        LogCapture.install()
        scratch = try Scratch()
        base = try Testkit.baseURL()
    }

    override func tearDownWithError() throws {
        scratch?.remove()
    }
}
