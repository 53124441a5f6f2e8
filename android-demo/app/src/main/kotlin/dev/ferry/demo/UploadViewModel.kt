// The demo's state: files added, their states from Ferry's events, aggregate progress
// (files, bytes, rate, ETA) polled from the queue, and the chosen server. Every upload
// decision is Ferry's; this only shows them.
package dev.ferry.demo

import android.app.Application
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.ferry.EnqueueResult
import dev.ferry.QueueProgress
import dev.ferry.TransferEvent
import dev.ferry.TransferState
import dev.ferry.Upload
import dev.ferry.UploadMethod
import dev.ferry.events
import java.io.File
import java.util.UUID
import kotlin.random.Random
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

data class FileRow(val id: UUID, val name: String, val state: String, val sent: Long, val total: Long)

class UploadViewModel(application: Application) : AndroidViewModel(application) {
    companion object {
        /** `cargo run -p ferry-testkit -- serve --port 8787` on the development machine, as the emulator sees it. */
        const val DEMO_SERVER = "http://10.0.2.2:8787/"
    }

    private val app = application as DemoApplication
    private val _rows = MutableStateFlow<List<FileRow>>(emptyList())
    val rows: StateFlow<List<FileRow>> = _rows
    private val _progress = MutableStateFlow<QueueProgress?>(null)
    val progress: StateFlow<QueueProgress?> = _progress
    val useDemoServer = MutableStateFlow(true)
    val serverUrl = MutableStateFlow("https://uploads.example.com/ferry/")
    val error = MutableStateFlow<String?>(null)

    init {
        viewModelScope.launch {
            val queue = app.queue.await()
            reload()
            launch { queue.events().collect(::apply) }
            while (true) {
                _progress.value = runCatching { queue.progress() }.getOrNull()
                delay(1_000)
            }
        }
    }

    fun addUris(uris: List<Uri>) = viewModelScope.launch {
        val files = withContext(Dispatchers.IO) {
            uris.mapNotNull { uri ->
                val file = File(inbox(), UUID.randomUUID().toString())
                app.contentResolver.openInputStream(uri)?.use { input -> file.outputStream().use { input.copyTo(it) } }
                    ?.let { file }
            }
        }
        enqueue(files)
    }

    fun generate(count: Int, bytes: Int) = viewModelScope.launch {
        val files = withContext(Dispatchers.IO) {
            (0 until count).map { i -> File(inbox(), "generated-$i-${UUID.randomUUID()}.bin").apply { writeBytes(Random.nextBytes(bytes)) } }
        }
        enqueue(files)
    }

    fun pause(id: UUID) = control { it.pause(id) }
    fun resume(id: UUID) = control { it.resume(id) }
    fun cancel(id: UUID) = control { it.cancel(id) }

    private fun control(action: suspend (dev.ferry.TransferQueue) -> Unit) = viewModelScope.launch {
        runCatching { action(app.queue.await()) }.onFailure { error.value = it.message }
    }

    private suspend fun enqueue(files: List<File>) {
        val base = if (useDemoServer.value) DEMO_SERVER else serverUrl.value
        val uploads = files.map { Upload(it.path, base + it.name, UploadMethod.Put) }
        runCatching { app.queue.await().enqueueMany(uploads) }
            .onSuccess { results -> results.filterIsInstance<EnqueueResult.Refused>().firstOrNull()?.let { error.value = it.error.message } }
            .onFailure { error.value = it.message }
        reload()
    }

    private suspend fun reload() {
        val transfers = app.queue.await().list(null, 0L, 10_000L)
        _rows.value = transfers.map {
            FileRow(it.id, File(it.upload.sourcePath).name, describe(it.state), it.bytesSent, it.size)
        }
    }

    private fun apply(event: TransferEvent) {
        fun set(id: UUID, change: (FileRow) -> FileRow) =
            _rows.update { rows -> rows.map { if (it.id == id) change(it) else it } }
        when (event) {
            is TransferEvent.Started -> set(event.id) { it.copy(state = "running") }
            is TransferEvent.Progress -> set(event.id) { it.copy(sent = event.bytesSent, total = event.bytesTotal) }
            is TransferEvent.Succeeded -> set(event.id) { it.copy(state = "succeeded", sent = it.total) }
            is TransferEvent.Failed -> set(event.id) { it.copy(state = "failed") }
            is TransferEvent.AuthRequired -> set(event.id) { it.copy(state = "needs sign-in") }
            is TransferEvent.Paused -> set(event.id) { it.copy(state = "paused") }
            is TransferEvent.Requeued -> set(event.id) { it.copy(state = "queued") }
            is TransferEvent.Retrying -> set(event.id) { it.copy(state = "queued") }
            is TransferEvent.Cancelled -> set(event.id) { it.copy(state = "cancelled") }
            is TransferEvent.TakenBackFromPlatform -> set(event.id) { it.copy(state = "running") }
            is TransferEvent.QueueStalled -> error.value = "Queue stalled: ${event.reason}"
            is TransferEvent.Lagged -> viewModelScope.launch { reload() }
        }
    }

    private fun describe(state: TransferState): String = when (state) {
        is TransferState.Running -> "running"
        TransferState.Queued -> "queued"
        TransferState.Paused -> "paused"
        TransferState.Succeeded -> "succeeded"
        TransferState.Failed -> "failed"
        TransferState.Cancelled -> "cancelled"
        TransferState.AuthRequired -> "needs sign-in"
    }

    private fun inbox() = File(app.noBackupFilesDir, "inbox").apply { mkdirs() }
}
