// A download handoff's segment as URLSession sees it: the `Range` its task asks for, and
// the move of the OS's downloaded file to the segment path, which must happen before
// `didFinishDownloadingTo` returns (the OS deletes the file after). It must never read,
// check or append the bytes: the core does that with the report.
import Foundation
import Ferry

enum DownloadSegments {
    /// The `Range` value for `segment`: `bytes=first-last`, `bytes=first-` to the end, none
    /// for the whole file (first 0, no last), as the core asks.
    ///
    /// - Throws: `HandoffRejected` for a segment that is not a range.
    static func range(_ segment: HandoffDownload) throws -> String? {
        guard segment.first >= 0, segment.last.map({ $0 >= segment.first }) ?? true else {
            throw HandoffRejected(description:
                "not a byte range: \(segment.first)-\(segment.last.map(String.init) ?? "")")
        }
        switch segment.last {
        case let last?: return "bytes=\(segment.first)-\(last)"
        case nil where segment.first == 0: return nil
        case nil: return "bytes=\(segment.first)-"
        }
    }

    /// Moves the OS's file at `location` to `path`, replacing whatever is there.
    ///
    /// - Throws: the file system's error, when it cannot be moved (the folder is gone, the
    ///   volume is full); the caller reports it instead of the answer.
    static func place(_ location: URL, at path: String) throws {
        let destination = URL(fileURLWithPath: path)
        let files = FileManager.default
        if files.fileExists(atPath: path) {
            try files.removeItem(at: destination)
        }
        try files.moveItem(at: location, to: destination)
    }
}
