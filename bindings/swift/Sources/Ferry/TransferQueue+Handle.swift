// Hand-written sugar over the UniFFI-generated `TransferQueue`: one transfer as a stream of
// its records, and a handle per upload (`enqueue(_:)`) with its progress and result.

import Foundation

/// Forwards the records Ferry delivers (on Ferry's own thread) into a stream; `yield` never
/// blocks, as the watcher contract requires.
final class StreamingWatcher: TransferWatcher, @unchecked Sendable {
    private let continuation: AsyncThrowingStream<Transfer, Error>.Continuation

    init(_ continuation: AsyncThrowingStream<Transfer, Error>.Continuation) {
        self.continuation = continuation
    }

    func onRecord(transfer: Transfer) {
        continuation.yield(transfer)
    }

    func onEnd() {
        continuation.finish()
    }
}

/// The subscription behind one stream, which may end before the subscription exists.
final class WatchLifetime: @unchecked Sendable {
    private let lock = NSLock()
    private var subscription: EventSubscription?
    private var ended = false

    /// Keeps `subscription` while the stream lives; unsubscribes at once if it has ended.
    func hold(_ subscription: EventSubscription) {
        lock.lock()
        let endedAlready = ended
        if !endedAlready { self.subscription = subscription }
        lock.unlock()
        if endedAlready { subscription.unsubscribe() }
    }

    func end() {
        lock.lock()
        ended = true
        let subscription = self.subscription
        self.subscription = nil
        lock.unlock()
        subscription?.unsubscribe()
    }
}

extension TransferQueue {
    /// The transfer's record now, then again after each change (a progress event updates
    /// `bytesSent`), finishing after the final one (succeeded, failed or cancelled).
    ///
    /// The first record is read after Ferry has subscribed, so no change made between
    /// `enqueue` and the first iteration is lost. The stream throws `FerryError` when `id` is
    /// not a transfer's, and finishes when the queue shuts down. Cancelling the iterating
    /// task, or dropping the stream, unsubscribes.
    public func watch(id: UUID) -> AsyncThrowingStream<Transfer, Error> {
        AsyncThrowingStream { continuation in
            let lifetime = WatchLifetime()
            let starting = Task {
                do {
                    let subscription = try await self.watch(
                        id: id, watcher: StreamingWatcher(continuation))
                    lifetime.hold(subscription)
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in
                starting.cancel()
                lifetime.end()
            }
        }
    }

    /// Enqueues `upload` and returns its handle: the id, the record as it changes
    /// (`progress`) and the outcome (`result`).
    ///
    /// ```swift
    /// let upload = try await queue.enqueue(.put(file, to: url))
    /// for try await transfer in upload.progress { show(transfer.bytesSent, of: transfer.size) }
    /// let done = try await upload.result
    /// ```
    ///
    /// - Throws: `FerryError` as `enqueue(upload:)` does; nothing is queued then.
    public func enqueue(_ upload: Upload) async throws -> UploadHandle {
        UploadHandle(id: try await enqueue(upload: upload), queue: self)
    }
}

/// Why an upload did not succeed, thrown by `UploadHandle.result`.
public enum UploadFailure: Error, Sendable {
    /// It failed for good; `transfer.lastError` says why (`retry(id:)` queues it again).
    case failed(Transfer)
    /// The app (or the user, through the OS) cancelled it.
    case cancelled(Transfer)
    /// The server refused the credentials: it waits until the app gives new ones (the
    /// request authorizer, or `enqueue` again with new headers) and calls `resume(id:)`;
    /// ask the handle's `result` again after that.
    case authRequired(Transfer)
}

extension UploadFailure: LocalizedError {
    /// The reason in words: the transfer's last error, else what happened to it.
    public var errorDescription: String? {
        switch self {
        case .failed(let transfer):
            return transfer.lastError?.message ?? "the upload failed"
        case .cancelled:
            return "the upload was cancelled"
        case .authRequired(let transfer):
            return transfer.lastError?.message ?? "the server refused the credentials"
        }
    }
}

/// One enqueued upload. Cheap to copy; the queue keeps the transfer, not the handle, so a
/// handle made again from the id after a relaunch (`UploadHandle(id:queue:)`) works the same.
public struct UploadHandle: Sendable {
    /// The transfer's id.
    public let id: UUID
    /// The queue that holds it.
    public let queue: TransferQueue

    /// A handle for a transfer enqueued earlier.
    public init(id: UUID, queue: TransferQueue) {
        self.id = id
        self.queue = queue
    }

    /// The record now, then after each change, finishing after the final one: see
    /// `TransferQueue.watch(id:)`. Each access starts a new stream.
    public var progress: AsyncThrowingStream<Transfer, Error> {
        queue.watch(id: id)
    }

    /// The transfer once it succeeded. Waits while it is queued, running or paused.
    ///
    /// - Throws: `UploadFailure` when it failed, was cancelled or waits for credentials;
    ///   `FerryError` when the queue cannot say (`.Closed` after shutdown, `.NotFound`
    ///   after a purge).
    public var result: Transfer {
        get async throws {
            let transfer = try await queue.awaitResult(id: id)
            switch transfer.state {
            case .succeeded: return transfer
            case .cancelled: throw UploadFailure.cancelled(transfer)
            case .authRequired: throw UploadFailure.authRequired(transfer)
            default: throw UploadFailure.failed(transfer)
            }
        }
    }
}
