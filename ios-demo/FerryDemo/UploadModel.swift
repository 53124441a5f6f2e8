// The demo's state: one Ferry queue with the background-URLSession shim, the files the
// user added, their states from Ferry's events, and the aggregate progress (files, bytes,
// rate, ETA) polled from the queue. All upload decisions are Ferry's; this only shows them.
import Foundation
import Ferry
import FerryBackgroundTransfers
import PhotosUI
import SwiftUI

@MainActor
final class UploadModel: ObservableObject {
    struct FileRow: Identifiable {
        let id: UUID
        let name: String
        var state: String
        var sent: Int64
        var total: Int64
    }

    /// Where uploads go: the demo server on the Mac (`cargo run -p ferry-testkit -- serve
    /// --port 8787`, reachable from the simulator) or any URL the user types.
    @AppStorage("serverURL") var serverURL = "https://uploads.example.com/ferry/"
    @AppStorage("useDemoServer") var useDemoServer = true
    static let demoServer = "http://127.0.0.1:8787/"

    @Published private(set) var rows: [FileRow] = []
    @Published private(set) var progress: QueueProgress?
    @Published private(set) var error: String?

    private var queue: TransferQueue?
    private var service: BackgroundURLSessionTransferService?
    private var eventsTask: Task<Void, Never>?
    private var pollTask: Task<Void, Never>?

    var baseURL: String { useDemoServer ? Self.demoServer : serverURL }

    func start() async {
        guard queue == nil else { return }
        do {
            let service = try BackgroundURLSessionTransferService(
                configuration: .background(withIdentifier: "dev.ferry.demo.uploads"),
                discretionaryConfiguration: .background(withIdentifier: "dev.ferry.demo.uploads.discretionary"))
            let support = try FileManager.default.url(
                for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            let config = defaultQueueConfig(databasePath: support.appendingPathComponent("uploads.db").path)
            let queue = try await TransferQueue.openWithPlatform(config: config, platform: service)
            service.attach(queue)
            self.service = service
            self.queue = queue
            observe(queue)
            try await reload()
        } catch {
            self.error = "\(error)"
        }
    }

    func appStateChanged(foreground: Bool) async {
        try? await queue?.setAppState(state: foreground ? .foreground : .background)
    }

    /// Copies picked photos into the app's container (background uploads read files) and
    /// enqueues them all in one call.
    func add(_ items: [PhotosPickerItem]) async {
        var files: [URL] = []
        for item in items {
            guard let data = try? await item.loadTransferable(type: Data.self) else { continue }
            let url = inbox.appendingPathComponent("\(UUID().uuidString).\(item.supportedContentTypes.first?.preferredFilenameExtension ?? "bin")")
            if (try? data.write(to: url)) != nil { files.append(url) }
        }
        await enqueue(files)
    }

    /// Writes `count` files of random bytes and enqueues them (no photo library needed).
    func generate(count: Int, bytes: Int) async {
        var files: [URL] = []
        for index in 0..<count {
            let url = inbox.appendingPathComponent("generated-\(index)-\(UUID().uuidString.prefix(8)).bin")
            FileManager.default.createFile(atPath: url.path, contents: Data((0..<bytes).map { _ in UInt8.random(in: 0...255) }))
            files.append(url)
        }
        await enqueue(files)
    }

    func pause(_ id: UUID) async { await run { try await $0.pause(id: id) } }
    func resume(_ id: UUID) async { await run { try await $0.resume(id: id) } }
    func cancel(_ id: UUID) async { await run { try await $0.cancel(id: id) } }

    func pauseAll() async {
        for row in rows where row.state == "queued" || row.state == "running" { await pause(row.id) }
    }

    func resumeAll() async {
        for row in rows where row.state == "paused" { await resume(row.id) }
    }

    // MARK: Internals

    private var inbox: URL {
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("Inbox", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    private func enqueue(_ files: [URL]) async {
        let base = baseURL
        let uploads = files.map { Upload.put($0, to: base + $0.lastPathComponent) }
        await run { _ = try await $0.enqueueMany(uploads: uploads) }
        try? await reload()
    }

    private func run(_ work: (TransferQueue) async throws -> Void) async {
        guard let queue else { return }
        do { try await work(queue) } catch { self.error = error.localizedDescription }
    }

    private func reload() async throws {
        guard let queue else { return }
        let transfers = try await queue.list(state: nil, offset: 0, limit: 10_000)
        rows = transfers.map {
            FileRow(id: $0.id, name: URL(fileURLWithPath: $0.upload.sourcePath).lastPathComponent,
                    state: Self.describe($0.state), sent: $0.bytesSent, total: $0.size)
        }
        progress = try await queue.progress()
    }

    private func observe(_ queue: TransferQueue) {
        eventsTask = Task { [weak self] in
            for await event in queue.events() { self?.apply(event) }
        }
        // Aggregate progress (rate, ETA) once a second; per-file state comes from events.
        pollTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                self?.progress = try? await queue.progress()
            }
        }
    }

    private func apply(_ event: TransferEvent) {
        func update(_ id: UUID, _ change: (inout FileRow) -> Void) {
            if let index = rows.firstIndex(where: { $0.id == id }) { change(&rows[index]) }
        }
        switch event {
        case .started(let id, _): update(id) { $0.state = "running" }
        case .progress(let id, let sent, let total): update(id) { $0.sent = sent; $0.total = total }
        case .succeeded(let id, _, _): update(id) { $0.state = "succeeded"; $0.sent = $0.total }
        case .failed(let id, _): update(id) { $0.state = "failed" }
        case .authRequired(let id, _): update(id) { $0.state = "needs sign-in" }
        case .paused(let id): update(id) { $0.state = "paused" }
        case .requeued(let id), .retrying(let id, _, _, _): update(id) { $0.state = "queued" }
        case .cancelled(let id): update(id) { $0.state = "cancelled" }
        case .takenBackFromPlatform(let id): update(id) { $0.state = "running" }
        case .queueStalled(let reason, _): error = "Queue stalled: \(reason)"
        case .lagged: Task { try? await reload() }
        }
    }

    private static func describe(_ state: TransferState) -> String {
        switch state {
        case .queued: return "queued"
        case .running: return "running"
        case .paused: return "paused"
        case .succeeded: return "succeeded"
        case .failed: return "failed"
        case .cancelled: return "cancelled"
        case .authRequired: return "needs sign-in"
        }
    }
}
