// A `PlatformTransferService` written in Swift, as an app's shim would be: it records
// what Ferry hands it and uploads each handoff's body file itself with URLSession
// (FoundationNetworking on Linux), then reports back with `platformProgress` and
// `platformFinished`. Stands in for a background URLSession, which Linux does not have.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class RecordingPlatform: PlatformTransferService, @unchecked Sendable {
    enum Behaviour {
        /// Upload each handoff and report its outcome.
        case upload
        /// Record the handoff and leave it running (an OS task that has not finished).
        case hold
        /// Refuse to start, with an error that is not `PlatformError`.
        case throwUnexpected
    }

    struct Unexpected: Error {}

    private let lock = NSLock()
    private let behaviour: Behaviour
    private let outstandingKeys: [String]
    private var queue: TransferQueue?
    private var waiting: [Handoff] = []
    private var handoffsStarted: [Handoff] = []
    private var cancelledKeys: [String] = []
    private var outstandingAsked = 0
    private var reports: [(key: String, status: Int32)] = []

    init(_ behaviour: Behaviour, outstanding: [String] = []) {
        self.behaviour = behaviour
        self.outstandingKeys = outstanding
    }

    // MARK: PlatformTransferService (called on Ferry's threads; returns at once)

    func start(handoff: Handoff) throws {
        lock.lock()
        handoffsStarted.append(handoff)
        if behaviour == .throwUnexpected {
            lock.unlock()
            throw Unexpected()
        }
        let queue = self.queue
        if queue == nil && behaviour == .upload { waiting.append(handoff) }
        lock.unlock()
        if let queue, behaviour == .upload { launchUpload(handoff, queue) }
    }

    func cancel(handoffKey: String) {
        lock.lock()
        cancelledKeys.append(handoffKey)
        lock.unlock()
    }

    func outstanding() -> [String] {
        lock.lock()
        outstandingAsked += 1
        lock.unlock()
        return outstandingKeys
    }

    // MARK: Test side

    /// Gives the service the queue to report to; handoffs started before the queue
    /// existed (during `openWithPlatform`) are uploaded now.
    func attach(_ queue: TransferQueue) {
        lock.lock()
        self.queue = queue
        let pending = waiting
        waiting = []
        lock.unlock()
        for handoff in pending { launchUpload(handoff, queue) }
    }

    var handoffs: [Handoff] { locked { handoffsStarted } }
    var cancelled: [String] { locked { cancelledKeys } }
    var outstandingCalls: Int { locked { outstandingAsked } }
    var finishedReports: [(key: String, status: Int32)] { locked { reports } }

    /// Waits (bounded) until `count` handoffs were started.
    func waitForHandoffs(_ count: Int, seconds: Double = 20) async throws -> [Handoff] {
        let deadline = Date().addingTimeInterval(seconds)
        while handoffs.count < count {
            if Date() > deadline { throw TimedOut(what: "\(count) handoff(s), got \(handoffs.count)") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return handoffs
    }

    /// Uploads `handoff.bodyPath` to `handoff.url` with its method and headers, as the OS
    /// would, and reports progress and the outcome to `queue`.
    func launchUpload(_ handoff: Handoff, _ queue: TransferQueue) {
        Task.detached {
            let outcome = await Self.upload(handoff)
            do {
                if case .response(let status, _, _, _) = outcome {
                    try queue.platformProgress(
                        handoffKey: handoff.key, bytesSent: handoff.expectedBytes,
                        bytesTotal: handoff.expectedBytes)
                    self.locked { self.reports.append((handoff.key, status)) }
                }
                try queue.platformFinished(handoffKey: handoff.key, outcome: outcome)
            } catch {
                // The queue was shut down meanwhile; the next open reconciles.
            }
        }
    }

    static func upload(_ handoff: Handoff) async -> PlatformOutcome {
        guard let url = URL(string: handoff.url) else {
            return .failed(kind: .other, message: "bad URL \(handoff.url)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = handoff.method
        for header in handoff.headers {
            request.setValue(header.value, forHTTPHeaderField: header.name)
        }
        let body = URL(fileURLWithPath: handoff.bodyPath)
        return await withCheckedContinuation { continuation in
            URLSession.shared.uploadTask(with: request, fromFile: body) { data, response, error in
                if let error {
                    continuation.resume(returning: .failed(kind: .network, message: "\(error)"))
                    return
                }
                guard let http = response as? HTTPURLResponse else {
                    continuation.resume(returning: .failed(kind: .other, message: "no HTTP response"))
                    return
                }
                let headers = http.allHeaderFields.compactMap { name, value -> Header? in
                    guard let name = name as? String else { return nil }
                    return Header(name: name, value: "\(value)")
                }
                continuation.resume(returning: .response(
                    status: Int32(http.statusCode), headers: headers, body: data ?? Data(), bodyTruncated: false))
            }.resume()
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
