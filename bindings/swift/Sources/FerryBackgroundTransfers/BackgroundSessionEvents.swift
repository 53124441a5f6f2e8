// The completion handlers iOS passes to
// `application(_:handleEventsForBackgroundURLSession:completionHandler:)`, kept until the
// session says `urlSessionDidFinishEvents(forBackgroundURLSession:)`. Calling the handler
// tells iOS the app has handled its events and may be suspended again. It must never do
// anything else.
import Foundation

public final class BackgroundSessionEvents: @unchecked Sendable {
    /// The one the app delegate and the transfer service share by default.
    public static let shared = BackgroundSessionEvents()

    private let lock = NSLock()
    private var handlers: [String: () -> Void] = [:]

    public init() {}

    /// Call from the app delegate's `handleEventsForBackgroundURLSession`. A second
    /// handler for the same session replaces the first, which is called at once (iOS
    /// asked again, so the first delivery is over).
    public func store(identifier: String, completionHandler: @escaping () -> Void) {
        lock.lock()
        let previous = handlers.updateValue(completionHandler, forKey: identifier)
        lock.unlock()
        if let previous { DispatchQueue.main.async(execute: previous) }
    }

    /// Whether a handler waits for the session `identifier`.
    public func isWaiting(identifier: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return handlers[identifier] != nil
    }

    /// Calls (on the main queue, as Apple requires) and forgets the handler of the session
    /// `identifier`. Returns whether there was one.
    @discardableResult
    public func finish(identifier: String) -> Bool {
        lock.lock()
        let handler = handlers.removeValue(forKey: identifier)
        lock.unlock()
        guard let handler else { return false }
        DispatchQueue.main.async(execute: handler)
        return true
    }
}
