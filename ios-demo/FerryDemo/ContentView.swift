// The demo's one screen: add photos or generated files, watch aggregate progress (files,
// bytes, rate, ETA) and each file's state, pause/resume/cancel, and pick the server.
import PhotosUI
import SwiftUI
import Ferry

struct ContentView: View {
    @ObservedObject var model: UploadModel
    @State private var picked: [PhotosPickerItem] = []

    var body: some View {
        NavigationStack {
            List {
                Section("Server") {
                    Toggle("Demo server (\(UploadModel.demoServer))", isOn: $model.useDemoServer)
                    if !model.useDemoServer {
                        TextField("Upload base URL", text: $model.serverURL)
                            .textInputAutocapitalization(.never)
                            .keyboardType(.URL)
                    }
                }
                Section("Add") {
                    PhotosPicker("Pick photos and videos", selection: $picked, matching: .any(of: [.images, .videos]))
                    Button("Generate 200 × 256 KiB") { Task { await model.generate(count: 200, bytes: 256 * 1024) } }
                    Button("Generate 5 × 64 MiB") { Task { await model.generate(count: 5, bytes: 64 * 1024 * 1024) } }
                }
                if let progress = model.progress {
                    Section("Progress") { AggregateView(progress: progress) }
                }
                Section("Files") {
                    HStack {
                        Button("Pause all") { Task { await model.pauseAll() } }
                        Spacer()
                        Button("Resume all") { Task { await model.resumeAll() } }
                    }
                    ForEach(model.rows) { row in
                        FileRowView(row: row, model: model)
                    }
                }
                if let error = model.error {
                    Section("Last error") { Text(error).font(.footnote).foregroundStyle(.red) }
                }
            }
            .navigationTitle("Ferry")
            .onChange(of: picked) { items in
                Task { await model.add(items) }
                picked = []
            }
        }
    }
}

struct AggregateView: View {
    let progress: QueueProgress

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            ProgressView(value: Double(progress.bytesDone), total: Double(max(progress.bytesTotal, 1)))
            Text("\(progress.filesDone)/\(progress.filesTotal) files, \(progress.filesFailed) failed")
            Text("\(bytes(progress.bytesDone)) of \(bytes(progress.bytesTotal)) at \(bytes(Int64(progress.bytesPerSecond)))/s")
            if let eta = progress.eta { Text("About \(Int(eta)) s left") }
        }
        .font(.callout)
    }

    private func bytes(_ count: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: count, countStyle: .file)
    }
}

struct FileRowView: View {
    let row: UploadModel.FileRow
    let model: UploadModel

    var body: some View {
        VStack(alignment: .leading) {
            HStack {
                Text(row.name).lineLimit(1)
                Spacer()
                Text(row.state).foregroundStyle(.secondary)
            }
            ProgressView(value: Double(row.sent), total: Double(max(row.total, 1)))
        }
        .swipeActions {
            Button("Cancel", role: .destructive) { Task { await model.cancel(row.id) } }
            if row.state == "paused" {
                Button("Resume") { Task { await model.resume(row.id) } }
            } else {
                Button("Pause") { Task { await model.pause(row.id) } }
            }
        }
    }
}
