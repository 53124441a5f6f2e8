// Ferry's platform lane on Apple platforms: a `PlatformTransferService` over one
// background `URLSession` (plus, optionally, a discretionary sibling). It starts, cancels
// and lists OS upload and download tasks and reports what they do (downloads: see
// `+Downloads`). It must never hold policy: which
// transfer goes to the OS, how many at once, retries and limits are the core's.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Lends iOS's background URLSession to Ferry.
///
/// ```swift
/// let service = try BackgroundURLSessionTransferService(
///     configuration: .background(withIdentifier: "com.example.uploads"))
/// let queue = try await TransferQueue.openWithPlatform(config: config, platform: service)
/// service.attach(queue)
/// ```
///
/// - `taskDescription` of every task is the handoff key (for a download, followed by its
///   segment path: `TaskLabel`), so tasks are found again after a relaunch (`getAllTasks`
///   answers `outstanding()`).
/// - A download handoff runs as a download task asking for its segment's `Range`; its file
///   is moved to the segment path before `didFinishDownloadingTo` returns, and the
///   answer's status and headers are reported like an upload's. A failed task's resume
///   data is kept (beside the journal) and tried once by a retry of the same segment.
/// - Final reports are written to a small JSON journal before they are delivered, and
///   delivered whenever a queue is attached, so completions that arrive while Ferry is
///   not open (the app was relaunched in the background, or is closing) are applied at
///   the next `attach`. `outstanding()` lists their keys until the core has applied them.
/// - Create it at launch, before `application(_:handleEventsForBackgroundURLSession:...)`
///   returns, so iOS can deliver the session's events to it.
public final class BackgroundURLSessionTransferService: NSObject, PlatformTransferService, @unchecked Sendable {
    /// Where reports wait for the core: `Application Support/Ferry/<identifier>.reports.json`.
    public static func defaultReportJournal(identifier: String) throws -> URL {
        let support = try FileManager.default.url(
            for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        return support.appendingPathComponent("Ferry", isDirectory: true)
            .appendingPathComponent("\(identifier).reports.json")
    }

    private let events: BackgroundSessionEvents
    private let delegateQueue: OperationQueue
    private var mainSession: URLSession!
    private var discretionarySession: URLSession?

    private let lock = NSLock()
    private let journal: ReportJournal
    /// Resume data of failed download tasks, by segment.
    let resumeData: ResumeDataStore
    /// Download tasks made from resume data, with their handoff: a fresh ranged task
    /// replaces one that fails.
    var resumedHandoffs: [String: Handoff] = [:]
    /// Download tasks whose file could not be moved to the segment path: the reason.
    var unplacedSegments: [String: String] = [:]
    /// Download tasks made from resume data, and of those, replaced by a fresh ranged task
    /// (tests and diagnostics).
    var resumedTasksStarted = 0
    var resumeFallbacks = 0
    /// Makes a download task from resume data; tests record what it is given here.
    var makeResumedTask: (URLSession, Data) -> URLSessionDownloadTask = { session, data in
        session.downloadTask(withResumeData: data)
    }
    private var queue: TransferQueue?
    /// Reports handed to the core in this process, not yet seen applied.
    private var delivered: Set<String> = []
    /// Tasks Ferry cancelled: their reports are not wanted.
    var cancelledKeys: Set<String> = []
    private var lastJournalError: ReportJournalError?
    /// The response bodies of running tasks, until their final report.
    private var responseBodies: ResponseBodies

    /// - Parameters:
    ///   - configuration: `.background(withIdentifier:)` in apps (`.default` in tests).
    ///     Handoffs that are not discretionary run here; its `isDiscretionary` is cleared.
    ///   - discretionaryConfiguration: a second background configuration (its own
    ///     identifier) for handoffs Ferry marks discretionary; its `isDiscretionary` is
    ///     set. Without it, every handoff runs on `configuration`'s session.
    ///   - reportJournal: the journal file; by default `defaultReportJournal` of the
    ///     configuration's identifier (or "ferry"). Resume data of failed downloads is kept
    ///     beside it, in `<journal name>.resume-data/`.
    ///   - events: where the app delegate leaves `handleEventsForBackgroundURLSession`'s
    ///     completion handlers.
    ///   - responseBodyLimit: the most bytes of each task's response body passed to the
    ///     core with its final report (and kept in the journal until it is applied); use
    ///     the queue's `responseBodyLimit` (default 64 KiB). The core cuts a longer one.
    public init(
        configuration: URLSessionConfiguration,
        discretionaryConfiguration: URLSessionConfiguration? = nil,
        reportJournal: URL? = nil,
        events: BackgroundSessionEvents = .shared,
        responseBodyLimit: Int = 64 * 1024
    ) throws {
        let journalFile = try reportJournal
            ?? Self.defaultReportJournal(identifier: configuration.identifier ?? "ferry")
        journal = try ReportJournal(file: journalFile)
        resumeData = ResumeDataStore(directory: journalFile.deletingPathExtension()
            .appendingPathExtension("resume-data"))
        responseBodies = ResponseBodies(limit: responseBodyLimit)
        self.events = events
        delegateQueue = OperationQueue()
        delegateQueue.maxConcurrentOperationCount = 1
        delegateQueue.name = "dev.ferry.background-transfers"
        super.init()
        configuration.isDiscretionary = false
        mainSession = URLSession(configuration: configuration, delegate: self, delegateQueue: delegateQueue)
        if let discretionaryConfiguration {
            discretionaryConfiguration.isDiscretionary = true
            discretionarySession = URLSession(
                configuration: discretionaryConfiguration, delegate: self, delegateQueue: delegateQueue)
        }
    }

    /// The identifiers of the background sessions this service owns: the app delegate
    /// stores completion handlers for these.
    public var sessionIdentifiers: [String] {
        sessions.compactMap { $0.configuration.identifier }
    }

    private var sessions: [URLSession] {
        [mainSession] + (discretionarySession.map { [$0] } ?? [])
    }

    // MARK: The queue to report to

    /// Starts reporting to `queue` (call right after `openWithPlatform`) and delivers every
    /// report that waited for it.
    public func attach(_ queue: TransferQueue) {
        let waiting: [QueuedReport] = locked {
            self.queue = queue
            return journal.reports.values.sorted { $0.key < $1.key }
        }
        deliver(waiting, to: queue)
    }

    /// Stops reporting (call before `shutdown`). Reports from now on wait in the journal.
    public func detach() {
        locked { queue = nil }
    }

    /// Keys of the reports waiting in the journal (delivered or not, not yet seen applied).
    public var queuedReportKeys: [String] { locked { journal.keys } }

    /// The last failure to write the journal, if any. Reports are then kept in memory
    /// only, and a crash before they are applied makes the core send them again.
    public var journalError: ReportJournalError? { locked { lastJournalError } }

    /// Drops delivered reports whose task the core no longer runs (applied, or moot).
    /// Runs by itself after deliveries; call it to wait for it.
    public func pruneDeliveredReports() async {
        let (queue, candidates) = locked { (self.queue, delivered) }
        guard let queue, !candidates.isEmpty,
              let running = try? await Self.platformKeysRunning(in: queue) else { return }
        let applied = candidates.subtracting(running)
        locked {
            delivered.subtract(applied)
            save { try journal.remove(applied) }
        }
    }

    /// Ends both sessions once their tasks finish (tests; apps keep the service for life).
    public func invalidate() {
        for session in sessions { session.finishTasksAndInvalidate() }
    }

    // MARK: PlatformTransferService (Ferry's threads; each returns at once)

    public func start(handoff: Handoff) throws {
        if let segment = handoff.download {
            return try startDownload(handoff, segment, resumable: true)
        }
        let request = try HandoffRequest.make(handoff)
        let body = try HandoffRequest.bodyFile(handoff)
        let task = session(for: handoff).uploadTask(with: request, fromFile: body)
        HandoffRequest.configure(task, for: handoff)
        locked { _ = cancelledKeys.remove(handoff.key) }
        task.resume()
    }

    public func cancel(handoffKey: String) {
        locked {
            cancelledKeys.insert(handoffKey)
            delivered.remove(handoffKey)
            resumedHandoffs.removeValue(forKey: handoffKey)
            resumeData.discardAll(transfer: ResumeDataStore.transfer(ofKey: handoffKey))
            save { try journal.remove([handoffKey]) }
        }
        for session in sessions {
            session.getAllTasks { tasks in
                for task in tasks where TaskLabel.key(of: task) == handoffKey { task.cancel() }
            }
        }
    }

    /// The keys of the tasks the sessions still run, and of the reports the journal holds.
    ///
    /// - Throws: `PlatformError.Refused` when a session does not list its tasks within
    ///   `taskListTimeout`: Ferry then keeps its records as they are (and asks again at the
    ///   next open) instead of taking an empty answer as "every task is lost", which would
    ///   send every OS upload again.
    public func outstanding() throws -> [String] {
        var keys = Set(locked { journal.keys })
        for session in sessions { keys.formUnion(try taskKeys(of: session)) }
        let cancelled = locked { cancelledKeys }
        return keys.subtracting(cancelled).sorted()
    }

    // MARK: Internals

    func session(for handoff: Handoff) -> URLSession {
        handoff.discretionary ? (discretionarySession ?? mainSession) : mainSession
    }

    /// Journals a final report, then delivers it if a queue is attached.
    func record(key: String, outcome: PlatformOutcome) {
        let report = QueuedReport(key: key, outcome: outcome)
        let queue: TransferQueue? = locked {
            if cancelledKeys.contains(key) { return nil }
            save { try journal.add(report) }
            return self.queue
        }
        if let queue { deliver([report], to: queue) }
    }

    /// Keeps the first bytes of the task `key`'s response body for its final report.
    func appendResponseBody(_ data: Data, key: String) {
        locked { responseBodies.append(data, key: key) }
    }

    /// The response body gathered for the task `key`, forgotten.
    func takeResponseBody(key: String) -> (data: Data, truncated: Bool) {
        locked { responseBodies.take(key: key) }
    }

    /// Whether Ferry cancelled the task `key` (its reports are not wanted).
    func isCancelled(_ key: String) -> Bool {
        locked { cancelledKeys.contains(key) }
    }

    /// Progress reports handed to the core (for tests and diagnostics).
    private(set) var progressReportsForwarded = 0

    func progress(key: String, sent: Int64, total: Int64) {
        guard let queue = locked({ () -> TransferQueue? in
            guard let queue = self.queue else { return nil }
            progressReportsForwarded += 1
            return queue
        }) else { return }
        try? queue.platformProgress(
            handoffKey: key, bytesSent: max(sent, 0), bytesTotal: max(total, 0))
    }

    func finishEvents(of session: URLSession) {
        if let identifier = session.configuration.identifier { events.finish(identifier: identifier) }
    }

    private func deliver(_ reports: [QueuedReport], to queue: TransferQueue) {
        guard !reports.isEmpty else { return }
        var handed: [String] = []
        for report in reports {
            // Throws only when the queue is shut down: the rest wait for the next attach.
            guard (try? queue.platformFinished(handoffKey: report.key, outcome: report.outcome)) != nil else { break }
            handed.append(report.key)
        }
        locked { delivered.formUnion(handed) }
        Task { await self.pruneDeliveredReports() }
    }

    /// Every key the core still runs on the platform, page by page (bounded).
    private static func platformKeysRunning(in queue: TransferQueue) async throws -> Set<String> {
        let page: Int64 = 500
        var keys = Set<String>()
        for number in Int64(0)..<1000 {
            let transfers = try await queue.list(state: .running, offset: number * page, limit: page)
            for transfer in transfers {
                if case .running(.platform(let key)) = transfer.state { keys.insert(key) }
            }
            if Int64(transfers.count) < page { break }
        }
        return keys
    }

    /// The handoff keys of the session's unfinished tasks (`getAllTasks`), waiting at most
    /// ten seconds for the OS to answer.
    /// How long `outstanding()` waits for a session to list its tasks.
    var taskListTimeout: TimeInterval = 10
    /// Lists a session's tasks (`getAllTasks`); tests put a session that never answers here.
    var listTasks: (URLSession, @escaping @Sendable ([URLSessionTask]) -> Void) -> Void = { session, answer in
        session.getAllTasks(completionHandler: answer)
    }

    private func taskKeys(of session: URLSession) throws -> [String] {
        final class Box: @unchecked Sendable { var keys: [String] = [] }
        let box = Box()
        let answered = DispatchSemaphore(value: 0)
        listTasks(session) { tasks in
            box.keys = tasks.filter { $0.state != .completed }.compactMap(TaskLabel.key(of:))
            answered.signal()
        }
        guard answered.wait(timeout: .now() + taskListTimeout) == .success else {
            throw PlatformError.Refused(
                reason: "the URLSession did not list its tasks within \(Int(taskListTimeout)) s; "
                    + "Ferry keeps its records and asks again at the next open")
        }
        return box.keys
    }

    private func save(_ write: () throws -> Void) {
        do {
            try write()
            lastJournalError = nil
        } catch let error as ReportJournalError {
            lastJournalError = error
        } catch {
            lastJournalError = ReportJournalError(description: "\(error)")
        }
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
