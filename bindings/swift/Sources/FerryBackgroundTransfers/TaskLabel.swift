// What an OS task carries in `taskDescription`, the one string of the app's that the OS
// keeps with a task across relaunches: the handoff key, and for a download segment the path
// its file must be moved to ("key\npath": keys never hold a line break). It must never hold
// anything else, nor be read any other way than through here.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

enum TaskLabel {
    /// The label of `handoff`'s task.
    static func make(for handoff: Handoff) -> String {
        guard let segment = handoff.download else { return handoff.key }
        return handoff.key + "\n" + segment.path
    }

    /// The handoff key and (for a download) the segment path of `task`; nil for a task
    /// that is not Ferry's.
    static func read(_ task: URLSessionTask) -> (key: String, segmentPath: String?)? {
        guard let label = task.taskDescription else { return nil }
        guard let newline = label.firstIndex(of: "\n") else { return (label, nil) }
        return (String(label[..<newline]), String(label[label.index(after: newline)...]))
    }

    /// The handoff key of `task`, or nil for a task that is not Ferry's.
    static func key(of task: URLSessionTask) -> String? {
        read(task)?.key
    }
}
