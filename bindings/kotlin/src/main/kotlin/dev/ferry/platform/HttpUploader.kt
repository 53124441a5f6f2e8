// One upload, as an Android worker or job runs it: the handoff's body file streamed with
// HttpURLConnection (fixed length, never held in memory), its method and headers, progress
// as bytes leave, and the answer (status, headers, the body's first bytes) as a
// `PlatformOutcome`. It must never retry, wait or
// decide anything: one call is one attempt, and the core classifies the outcome.
//
// HttpURLConnection rather than OkHttp: it ships with Android and the JVM (no dependency
// to version against the app's own OkHttp), the same code runs in the JVM test suite, and
// one streamed PUT/POST per worker gains nothing from OkHttp's pooling or HTTP/2. Android's
// HttpURLConnection is itself backed by OkHttp.
package dev.ferry.platform

import dev.ferry.Handoff
import dev.ferry.PlatformOutcome
import java.io.File
import java.io.FileNotFoundException
import java.net.HttpURLConnection

class HttpUploader(
    private val connectTimeoutMs: Int = 30_000,
    /** Longest silence while sending or waiting for the answer. */
    private val readTimeoutMs: Int = 60_000,
    private val chunkBytes: Int = 64 * 1024,
    /**
     * The most bytes of the answer's body passed to the core (the queue's
     * `responseBodyLimit`, default 64 KiB); the core keeps them with an upload that
     * succeeded and cuts a longer body again.
     */
    private val responseBodyLimit: Int = 64 * 1024,
) {
    /**
     * Sends `handoff` and returns how it ended. `onProgress(sent, total)` is called as
     * bytes leave; `isCancelled` is checked between chunks (the worker was stopped), and
     * then the connection is dropped and [Stopped] is thrown.
     */
    fun upload(
        handoff: Handoff,
        onProgress: (sent: Long, total: Long) -> Unit = { _, _ -> },
        isCancelled: () -> Boolean = { false },
    ): PlatformOutcome {
        val body = File(handoff.bodyPath)
        if (!body.isFile) {
            return UploadOutcomes.failed(FileNotFoundException("the body file is gone: ${handoff.bodyPath}"))
        }
        return HandoffConnection.exchange(handoff, connectTimeoutMs, readTimeoutMs) { connection ->
            send(connection, body, onProgress, isCancelled)
        }
    }

    /** The upload was abandoned because the worker was stopped. */
    class Stopped : TransferStopped("the upload was stopped")

    private fun send(
        connection: HttpURLConnection,
        body: File,
        onProgress: (Long, Long) -> Unit,
        isCancelled: () -> Boolean,
    ): PlatformOutcome {
        val total = body.length()
        connection.doOutput = true
        connection.setFixedLengthStreamingMode(total)

        var sent = 0L
        body.inputStream().use { input ->
            connection.outputStream.use { output ->
                val buffer = ByteArray(chunkBytes)
                while (true) {
                    if (isCancelled()) throw Stopped()
                    val read = input.read(buffer)
                    if (read < 0) break
                    output.write(buffer, 0, read)
                    sent += read
                    onProgress(sent, total)
                }
            }
        }
        val status = connection.responseCode
        val (answer, truncated) = readAnswer(connection, status)
        return UploadOutcomes.response(status, HandoffConnection.headers(connection), answer, truncated)
    }

    /**
     * The answer's first [responseBodyLimit] bytes, and whether it had more: read away up to
     * 1 MiB (or the limit, if larger) so the connection can be reused. A body that breaks
     * off keeps what arrived, marked truncated: the status already decided.
     */
    private fun readAnswer(connection: HttpURLConnection, status: Int): Pair<ByteArray, Boolean> {
        val kept = java.io.ByteArrayOutputStream()
        var truncated = false
        var ended = false
        runCatching {
            (if (status >= 400) connection.errorStream else connection.inputStream)?.use { input ->
                val buffer = ByteArray(8 * 1024)
                var read = 0L
                val budget = maxOf(responseBodyLimit.toLong(), 1024L * 1024)
                while (read < budget) {
                    val count = input.read(buffer)
                    if (count < 0) {
                        ended = true
                        break
                    }
                    val room = (responseBodyLimit - kept.size()).coerceAtLeast(0)
                    kept.write(buffer, 0, minOf(room, count))
                    if (count > room) truncated = true
                    read += count
                }
            } ?: run { ended = true }
        }
        return kept.toByteArray() to (truncated || !ended)
    }
}
