// The resume data of download tasks that failed (`NSURLSessionDownloadTaskResumeData`),
// one small file per segment, so a retry of the same segment can continue the OS's own
// download. Only an optimisation: an entry that is missing, unreadable or made for
// another request is simply not used, and Ferry's recorded offset stays the truth. It must
// never decide whether or when a segment is fetched again.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Resume data by segment path, kept in `directory` (`<name>.<transfer>.resume`). Not
/// thread-safe: its owner serialises access. Every failure to read or write is quiet: the
/// segment is then fetched without resume data.
final class ResumeDataStore {
    let directory: URL

    /// One kept entry: the request it continues, and the OS's data.
    private struct Entry: Codable {
        let segmentPath: String
        let url: String
        let range: String?
        let data: Data
    }

    init(directory: URL) {
        self.directory = directory
    }

    /// Keeps `data`, from a failed task of `transfer` that fetched `request`'s range into
    /// `segmentPath` (replacing data kept for that segment before).
    func keep(_ data: Data, transfer: String, segmentPath: String, request: URLRequest) {
        guard let url = request.url?.absoluteString else { return }
        let entry = Entry(
            segmentPath: segmentPath, url: url, range: request.value(forHTTPHeaderField: "Range"), data: data)
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? JSONEncoder().encode(entry).write(to: file(transfer: transfer, segmentPath: segmentPath), options: .atomic)
    }

    /// The data kept for `segmentPath`, if it was made for the same URL and range as
    /// `request`; forgotten either way (resume data is used once).
    func take(transfer: String, segmentPath: String, request: URLRequest) -> Data? {
        let file = file(transfer: transfer, segmentPath: segmentPath)
        defer { try? FileManager.default.removeItem(at: file) }
        guard let bytes = try? Data(contentsOf: file),
              let entry = try? JSONDecoder().decode(Entry.self, from: bytes),
              entry.segmentPath == segmentPath,
              entry.url == request.url?.absoluteString,
              entry.range == request.value(forHTTPHeaderField: "Range")
        else { return nil }
        return entry.data
    }

    /// Forgets the data kept for `segmentPath`.
    func discard(transfer: String, segmentPath: String) {
        try? FileManager.default.removeItem(at: file(transfer: transfer, segmentPath: segmentPath))
    }

    /// Forgets every entry of `transfer` (its task was cancelled: the core took it back).
    func discardAll(transfer: String) {
        let prefix = Self.safe(transfer) + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    /// The number of entries kept (tests and diagnostics).
    var count: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".resume") }.count
    }

    /// The transfer a handoff key belongs to: the key up to its first dot
    /// (`<transfer id>.<attempt>.<nonce>`, as the core makes them).
    static func transfer(ofKey key: String) -> String {
        String(key.prefix { $0 != "." })
    }

    private func file(transfer: String, segmentPath: String) -> URL {
        let name = URL(fileURLWithPath: segmentPath).lastPathComponent
        return directory.appendingPathComponent("\(Self.safe(transfer)).\(Self.safe(name)).resume")
    }

    /// `text` with every character but letters, digits, `-` and `_` replaced by `_`.
    private static func safe(_ text: String) -> String {
        String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}
