// One call to open a queue whose OS lane is a background URLSession: the shim is created,
// the queue opened with it, and the shim attached (which replays its journal).

import Ferry
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension TransferQueue {
    /// Opens the queue with a `BackgroundURLSessionTransferService` made for it, attached
    /// at once: reports journaled while the app was not running are delivered, and
    /// `handleEventsForBackgroundURLSession`'s completion handlers, stored in `events` by
    /// the app delegate, are called once the session's events are delivered.
    ///
    /// ```swift
    /// let (queue, service) = try await TransferQueue.openWithBackgroundSession(
    ///     config: QueueConfig(databasePath: path),
    ///     configuration: .background(withIdentifier: "com.example.uploads"))
    /// ```
    ///
    /// Keep `service` for the app's life (its `sessionIdentifiers` name the sessions whose
    /// events are the app's); call `service.detach()` before `queue.shutdown()`.
    ///
    /// - Throws: `ReportJournalError` when the journal cannot be read or created;
    ///   `FerryError` as `TransferQueue.open` does.
    public static func openWithBackgroundSession(
        config: QueueConfig,
        configuration: URLSessionConfiguration,
        discretionaryConfiguration: URLSessionConfiguration? = nil,
        authorizer: RequestAuthorizer? = nil,
        reportJournal: URL? = nil,
        events: BackgroundSessionEvents = .shared
    ) async throws -> (queue: TransferQueue, service: BackgroundURLSessionTransferService) {
        let service = try BackgroundURLSessionTransferService(
            configuration: configuration,
            discretionaryConfiguration: discretionaryConfiguration,
            reportJournal: reportJournal,
            events: events)
        let queue: TransferQueue
        do {
            queue = try await TransferQueue.open(config: config, platform: service, authorizer: authorizer)
        } catch {
            service.invalidate()
            throw error
        }
        service.attach(queue)
        return (queue, service)
    }
}
