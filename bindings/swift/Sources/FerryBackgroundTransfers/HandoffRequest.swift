// The URLRequest and task settings for one `Handoff`: URL, method, headers (and a download
// segment's `Range`), network constraints and the expected size. Pure translation of what the core decided; it
// must never add, drop or reorder work.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The platform could not turn a handoff into a task. Thrown from `start`, it reaches the
/// core as a refusal (the core then decides what happens to the transfer).
struct HandoffRejected: Error, CustomStringConvertible {
    let description: String
}

enum HandoffRequest {
    /// The request to upload `handoff.bodyPath` with, or for a download handoff, to fetch
    /// its segment with: `Range` is set from the segment (the handoff's headers carry the
    /// same one; it is set, never sent twice).
    static func make(_ handoff: Handoff) throws -> URLRequest {
        guard let url = URL(string: handoff.url), url.scheme != nil else {
            throw HandoffRejected(description: "not a URL: \(handoff.url)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = handoff.method
        for header in handoff.headers {
            request.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if let segment = handoff.download, let range = try DownloadSegments.range(segment) {
            request.setValue(range, forHTTPHeaderField: "Range")
        }
        // FoundationNetworking (Linux) has neither flag; there is no expensive or
        // constrained network to avoid there anyway.
        #if !canImport(FoundationNetworking)
        request.allowsExpensiveNetworkAccess = handoff.allowExpensive
        request.allowsConstrainedNetworkAccess = handoff.allowConstrained
        #endif
        return request
    }

    /// The body file, which must exist: background sessions upload from files only.
    static func bodyFile(_ handoff: Handoff) throws -> URL {
        guard FileManager.default.isReadableFile(atPath: handoff.bodyPath) else {
            throw HandoffRejected(description: "the body file is missing or unreadable: \(handoff.bodyPath)")
        }
        return URL(fileURLWithPath: handoff.bodyPath)
    }

    /// Task-level settings: the correlation label (`TaskLabel`) and the size hint the OS
    /// schedules by (bytes to send for an upload, to receive for a bounded download segment).
    static func configure(_ task: URLSessionTask, for handoff: Handoff) {
        task.taskDescription = TaskLabel.make(for: handoff)
        guard let segment = handoff.download else {
            task.countOfBytesClientExpectsToSend = handoff.expectedBytes
            return
        }
        if let last = segment.last {
            task.countOfBytesClientExpectsToReceive = last - segment.first + 1
        }
    }
}
