// Hand-written sugar over the UniFFI-generated `TransferQueue`: events as an AsyncStream.

/// Forwards each event Ferry delivers (on Ferry's own thread) into an `AsyncStream`.
///
/// `yield` never blocks, so Ferry's delivery thread returns at once, as the observer
/// contract requires.
final class StreamingObserver: TransferObserver, @unchecked Sendable {
    private let continuation: AsyncStream<TransferEvent>.Continuation

    init(_ continuation: AsyncStream<TransferEvent>.Continuation) {
        self.continuation = continuation
    }

    func onEvent(event: TransferEvent) {
        continuation.yield(event)
    }

    func onEnd() {
        continuation.finish()
    }
}

extension TransferQueue {
    /// Every event from now on, in order, as an `AsyncStream`.
    ///
    /// The subscription starts when this is called (before it returns), so call it before
    /// enqueueing to see every event of the new transfers. The stream finishes after the
    /// queue shuts down; it stops early when the iterating task is cancelled or the stream
    /// is dropped. If the consumer falls behind, Ferry drops events and yields
    /// `.lagged(missed:)`: call `list` to catch up.
    ///
    /// ```swift
    /// for await event in queue.events() {
    ///     if case .succeeded(let id, let status, _) = event { print("done", id, status) }
    /// }
    /// ```
    public func events() -> AsyncStream<TransferEvent> {
        AsyncStream { continuation in
            let subscription = self.subscribe(observer: StreamingObserver(continuation))
            continuation.onTermination = { _ in
                subscription.unsubscribe()
            }
        }
    }
}
