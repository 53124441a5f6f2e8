// Hand-written sugar over the UniFFI-generated `Upload` record.

import Foundation

extension Upload {
    /// An HTTP `PUT` of the file at `path` to `destination`, with no extra headers, normal
    /// priority and any network allowed.
    ///
    /// ```swift
    /// let id = try await queue.enqueue(upload: .put("/path/photo.jpg", to: "https://example.com/photo.jpg"))
    /// ```
    public static func put(_ path: String, to destination: String) -> Upload {
        Upload(sourcePath: path, destination: destination, method: .put)
    }

    /// An HTTP `PUT` of the local file at `file` to `destination`.
    public static func put(_ file: URL, to destination: String) -> Upload {
        put(file.path, to: destination)
    }
}
