// Tells a queue the app's state and network as they change, so the app does not wire
// UIApplication notifications and NWPathMonitor by hand. Apple platforms with UIKit only:
// not built on Linux (no UIKit, no Network framework there), so it is kept to the calls.

#if canImport(UIKit) && canImport(Network)
import Ferry
import Network
import UIKit

/// Observes the app's state (`UIApplication`) and the network (`NWPathMonitor`) and tells
/// `queue`: the state at once and on every change, the network as the monitor reports it.
/// Leaving the foreground calls `enterBackground()` inside a background task, so the OS
/// holds the queued work before the app is suspended. Keep it as long as the queue.
@MainActor
public final class QueueLifecycle {
    /// One change to tell the queue.
    private typealias Change = @Sendable () async -> Void

    private let queue: TransferQueue
    private let monitor = NWPathMonitor()
    private var observers: [NSObjectProtocol] = []
    /// Changes in the order they happened, told by one task (`consumer`), so a quick
    /// background-foreground switch never ends with the queue in the background.
    private let changes: AsyncStream<Change>.Continuation
    private let consumer: Task<Void, Never>

    /// Starts observing; call it from the main actor right after opening `queue`.
    public init(queue: TransferQueue) {
        self.queue = queue
        let (stream, changes) = AsyncStream<Change>.makeStream()
        self.changes = changes
        consumer = Task {
            for await change in stream { await change() }
        }
        let center = NotificationCenter.default
        observers.append(center.addObserver(
            forName: UIApplication.didEnterBackgroundNotification, object: nil, queue: .main
        ) { [weak self] _ in
            MainActor.assumeIsolated { self?.enteredBackground() }
        })
        observers.append(center.addObserver(
            forName: UIApplication.willEnterForegroundNotification, object: nil, queue: .main
        ) { [queue, changes] _ in
            changes.yield { _ = try? await queue.setAppState(state: .foreground) }
        })
        let state: AppState = UIApplication.shared.applicationState == .background ? .background : .foreground
        changes.yield { [queue] in _ = try? await queue.setAppState(state: state) }
        monitor.pathUpdateHandler = { [queue, changes] path in
            let status = NetworkStatus(
                online: path.status == .satisfied,
                expensive: path.isExpensive,
                constrained: path.isConstrained)
            changes.yield { _ = try? await queue.setNetwork(status: status) }
        }
        monitor.start(queue: DispatchQueue(label: "dev.ferry.network-monitor"))
    }

    deinit {
        consumer.cancel()
    }

    /// Stops observing; changes already seen are still told.
    public func stop() {
        monitor.cancel()
        for observer in observers { NotificationCenter.default.removeObserver(observer) }
        observers.removeAll()
        changes.finish()
    }

    private func enteredBackground() {
        var task = UIBackgroundTaskIdentifier.invalid
        task = UIApplication.shared.beginBackgroundTask(withName: "Ferry: hand uploads to the OS") {
            UIApplication.shared.endBackgroundTask(task)
        }
        let started = task
        changes.yield { [queue] in
            _ = try? await queue.enterBackground()
            await MainActor.run { UIApplication.shared.endBackgroundTask(started) }
        }
    }
}
#endif
