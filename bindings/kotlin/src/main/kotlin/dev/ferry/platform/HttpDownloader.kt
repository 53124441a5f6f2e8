// One segment of a download, as an Android worker or job fetches it: a GET of the
// handoff's URL with its headers (they carry `Range` and `If-Range`), the body streamed to
// a temporary file beside the segment's path (never held in memory), synced, and renamed
// to `Handoff.download.path`, then the answer's status and headers as a `PlatformOutcome`
// for Ferry, which checks them, appends the file to its partial file and removes it. It
// must never retry, resume, append or judge the answer (a 206 that starts elsewhere, a
// 200 for a range): one call is one request, and the core decides what the bytes are.
//
// HttpURLConnection, as HttpUploader uses and for the same reasons. The handoff asks for
// `Accept-Encoding: identity`, so neither the JVM nor Android's OkHttp-backed connection
// decodes the body: the bytes on disk are the file's.
package dev.ferry.platform

import dev.ferry.Handoff
import dev.ferry.HandoffDownload
import dev.ferry.Header
import dev.ferry.PlatformOutcome
import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption

class HttpDownloader(
    private val connectTimeoutMs: Int = 30_000,
    /** Longest silence while waiting for the answer or its next bytes. */
    private val readTimeoutMs: Int = 60_000,
    private val chunkBytes: Int = 64 * 1024,
) {
    /**
     * Fetches the segment of download handoff `handoff` into `handoff.download.path` and
     * returns how it ended: the answer's status and headers (the bytes are in the file,
     * never in the outcome), or a failure without an answer. Only a 200 or 206 leaves a
     * file there, synced to disk before this returns, replacing any file that was there;
     * any other status leaves none. `onProgress(received, total)` is called as bytes
     * arrive (`total` from `Content-Length`, else the handoff's `expectedBytes`, 0 when
     * unknown); `isCancelled` is checked between chunks (the worker was stopped), and then
     * the connection is dropped, nothing is left at the path and [Stopped] is thrown.
     */
    fun download(
        handoff: Handoff,
        onProgress: (received: Long, total: Long) -> Unit = { _, _ -> },
        isCancelled: () -> Boolean = { false },
    ): PlatformOutcome {
        val segment = handoff.download
            ?: return UploadOutcomes.failed(IllegalArgumentException("handoff ${handoff.key} is not a download: it has no segment"))
        if (!handoff.method.equals("GET", ignoreCase = true)) {
            return UploadOutcomes.failed(IllegalArgumentException("a download is a GET, not ${handoff.method}"))
        }
        val target = File(segment.path)
        // Named after the segment, so Ferry's clean-up of a download's segment files
        // (`.ferry-<id>.seg-*`) also finds one a killed process left.
        val temp = File(target.parentFile, "${target.name}.tmp")
        val request = withRange(handoff, segment)
        return HandoffConnection.exchange(request, connectTimeoutMs, readTimeoutMs, onFailure = { temp.delete() }) { connection ->
            fetch(connection, handoff, target, temp, onProgress, isCancelled)
        }
    }

    /** The download was abandoned because the worker was stopped. */
    class Stopped : TransferStopped("the download was stopped")

    private fun fetch(
        connection: HttpURLConnection,
        handoff: Handoff,
        target: File,
        temp: File,
        onProgress: (Long, Long) -> Unit,
        isCancelled: () -> Boolean,
    ): PlatformOutcome {
        if (isCancelled()) throw Stopped()
        val status = connection.responseCode
        val headers = HandoffConnection.headers(connection)
        if (status != HttpURLConnection.HTTP_OK && status != HttpURLConnection.HTTP_PARTIAL) {
            // No bytes of the file: nothing at the path, where an old file would pass for them.
            connection.errorStream?.close()
            Files.deleteIfExists(target.toPath())
            return UploadOutcomes.response(status, headers)
        }
        val length = connection.contentLengthLong
        val total = if (length >= 0) length else handoff.expectedBytes.coerceAtLeast(0)
        connection.inputStream.use { input -> store(input, temp, length, total, onProgress, isCancelled) }
        Files.move(temp.toPath(), target.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        syncFolder(target.parentFile)
        return UploadOutcomes.response(status, headers)
    }

    /** Copies the body into `temp` and syncs it; a body shorter than its `length` fails. */
    private fun store(
        input: InputStream,
        temp: File,
        length: Long,
        total: Long,
        onProgress: (Long, Long) -> Unit,
        isCancelled: () -> Boolean,
    ) {
        var received = 0L
        FileOutputStream(temp).use { output ->
            val buffer = ByteArray(chunkBytes)
            while (true) {
                if (isCancelled()) throw Stopped()
                val read = input.read(buffer)
                if (read < 0) break
                output.write(buffer, 0, read)
                received += read
                onProgress(received, total)
            }
            if (length >= 0 && received < length) {
                throw IOException("the answer broke off after $received of its $length bytes")
            }
            output.fd.sync()
        }
    }

    /**
     * The handoff with a `Range` for its segment if it carries none (Ferry's handoffs
     * always do when they ask for a part: none means the whole file).
     */
    private fun withRange(handoff: Handoff, segment: HandoffDownload): Handoff {
        val asksPart = segment.first > 0 || segment.last != null
        if (!asksPart || handoff.headers.any { it.name.equals("Range", ignoreCase = true) }) return handoff
        val range = "bytes=${segment.first}-${segment.last ?: ""}"
        return handoff.copy(headers = handoff.headers + Header("Range", range))
    }

    /** The rename reaches the disk too, where the platform lets a folder be synced. */
    private fun syncFolder(folder: File?) {
        if (folder == null) return
        runCatching { FileChannel.open(folder.toPath(), StandardOpenOption.READ).use { it.force(true) } }
    }
}
