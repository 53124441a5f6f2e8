// The shim's durable record of final task reports that Ferry has not yet applied: one
// small JSON file, rewritten atomically on each change. Reports land here first (so a
// report survives the app being suspended or killed right after the OS delivered it),
// are delivered when a queue is attached, and are removed once the core no longer runs
// the task. It must never decide anything about the work itself.
import Foundation
import Ferry

/// One final report, as stored on disk.
struct QueuedReport: Codable, Equatable {
    let key: String
    /// The HTTP status, when the server answered.
    let status: Int32?
    /// Header name/value pairs of the response.
    let headers: [[String]]
    /// The response body's first bytes (base64 in the file); absent in journals written
    /// before bodies were kept.
    let body: Data?
    /// Bytes of the body were dropped past the limit.
    let bodyTruncated: Bool?
    /// `PlatformFailure` as text, when the task ended without a response.
    let failure: String?
    let message: String

    init(key: String, outcome: PlatformOutcome) {
        self.key = key
        switch outcome {
        case .response(let status, let headers, let body, let bodyTruncated):
            self.status = status
            self.headers = headers.map { [$0.name, $0.value] }
            self.body = body
            self.bodyTruncated = bodyTruncated
            failure = nil
            message = ""
        case .failed(let kind, let message):
            status = nil
            headers = []
            body = nil
            bodyTruncated = nil
            failure = Self.name(of: kind)
            self.message = message
        }
    }

    var outcome: PlatformOutcome {
        if let status {
            let headers = self.headers.compactMap { pair -> Header? in
                pair.count == 2 ? Header(name: pair[0], value: pair[1]) : nil
            }
            return .response(
                status: status, headers: headers, body: body ?? Data(), bodyTruncated: bodyTruncated ?? false)
        }
        return .failed(kind: Self.kind(named: failure), message: message)
    }

    private static func name(of kind: PlatformFailure) -> String {
        switch kind {
        case .cancelledByUser: return "cancelled_by_user"
        case .cancelledBySystem: return "cancelled_by_system"
        case .network: return "network"
        case .other: return "other"
        }
    }

    private static func kind(named name: String?) -> PlatformFailure {
        switch name {
        case "cancelled_by_user": return .cancelledByUser
        case "cancelled_by_system": return .cancelledBySystem
        case "network": return .network
        default: return .other
        }
    }
}

/// The journal could not be read or written.
public struct ReportJournalError: Error, CustomStringConvertible {
    public let description: String
}

/// Final reports not yet known to be applied, keyed by handoff key (a later report for
/// the same key replaces the earlier one). Not thread-safe: its owner serialises access.
final class ReportJournal {
    let file: URL
    private(set) var reports: [String: QueuedReport]

    /// Loads the journal at `file`, or starts an empty one if there is none.
    init(file: URL) throws {
        self.file = file
        guard FileManager.default.fileExists(atPath: file.path) else {
            reports = [:]
            return
        }
        do {
            let data = try Data(contentsOf: file)
            let list = try JSONDecoder().decode([QueuedReport].self, from: data)
            reports = Dictionary(list.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        } catch {
            throw ReportJournalError(description:
                "cannot read the queued upload reports at \(file.path) (\(error)); " +
                "move the file away to start without them (their transfers are then sent again)")
        }
    }

    var keys: [String] { reports.keys.sorted() }

    func add(_ report: QueuedReport) throws {
        reports[report.key] = report
        try save()
    }

    /// Removes the reports for `keys`; writes only if something changed.
    func remove(_ keys: some Sequence<String>) throws {
        var changed = false
        for key in keys where reports.removeValue(forKey: key) != nil { changed = true }
        if changed { try save() }
    }

    private func save() throws {
        do {
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            let list = reports.values.sorted { $0.key < $1.key }
            try JSONEncoder().encode(list).write(to: file, options: .atomic)
        } catch {
            throw ReportJournalError(description:
                "cannot write the queued upload reports to \(file.path): \(error); " +
                "check free space and that the directory is writable")
        }
    }
}
