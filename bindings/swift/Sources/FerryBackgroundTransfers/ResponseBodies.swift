// The first bytes of each OS task's response body, gathered from URLSession's
// `didReceive data` until the task completes, so that its final report carries the
// server's answer (kept by the core, readable by `response(id:)` after the app was gone).
// It must never hold more than `limit` bytes per task: the rest is dropped and marked.
import Foundation

/// Response bodies of running tasks, by handoff key, each cut at `limit` bytes. Not
/// thread-safe: its owner serialises access.
struct ResponseBodies {
    /// The most bytes kept per task (the queue's `responseBodyLimit`).
    let limit: Int
    private var bodies: [String: (data: Data, truncated: Bool)] = [:]

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Adds bytes the server sent for the task `key`; past the limit they are dropped.
    mutating func append(_ data: Data, key: String) {
        var body = bodies[key] ?? (Data(), false)
        let room = limit - body.data.count
        if data.count > room {
            body.data.append(data.prefix(room))
            body.truncated = true
        } else {
            body.data.append(data)
        }
        bodies[key] = body
    }

    /// The body gathered for `key` (empty if none), forgotten.
    mutating func take(key: String) -> (data: Data, truncated: Bool) {
        bodies.removeValue(forKey: key) ?? (Data(), false)
    }
}
