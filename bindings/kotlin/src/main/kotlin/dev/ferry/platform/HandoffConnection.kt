// The HTTP request of one handoff as the Android shim's workers open it with
// HttpURLConnection (upload or download alike): the handoff's URL, method and headers, no
// redirects followed, no cache, the worker's timeouts; a request that fails without an
// answer as a failed outcome; and the answer's headers as Ferry takes them. It must never send a byte of a body or read one: HttpUploader and
// HttpDownloader do, and the core decides what the answer means.
package dev.ferry.platform

import dev.ferry.Handoff
import dev.ferry.Header
import dev.ferry.PlatformOutcome
import java.io.IOException
import java.net.HttpURLConnection
import java.net.URL

internal object HandoffConnection {
    /**
     * An unconnected request for `handoff`. Throws [IOException] when the URL cannot be
     * opened and [IllegalArgumentException] when it is not an HTTP(S) URL.
     */
    fun open(handoff: Handoff, connectTimeoutMs: Int, readTimeoutMs: Int): HttpURLConnection {
        val connection = URL(handoff.url).openConnection() as? HttpURLConnection
            ?: throw IllegalArgumentException("not an HTTP URL: ${handoff.url}")
        connection.requestMethod = handoff.method
        // Redirects are never followed: Ferry's rule, so credentials never reach another host.
        connection.instanceFollowRedirects = false
        connection.useCaches = false
        connection.connectTimeout = connectTimeoutMs
        connection.readTimeout = readTimeoutMs
        for (header in handoff.headers) connection.addRequestProperty(header.name, header.value)
        return connection
    }

    /**
     * Opens the request for `handoff` and runs `exchange` on it, dropping the connection
     * after. A URL that cannot be opened, or an [IOException] from `exchange`, is the
     * failed outcome (after `onFailure`, which cleans up); a [TransferStopped] is thrown
     * on (after `onFailure` too).
     */
    fun exchange(
        handoff: Handoff,
        connectTimeoutMs: Int,
        readTimeoutMs: Int,
        onFailure: () -> Unit = {},
        exchange: (HttpURLConnection) -> PlatformOutcome,
    ): PlatformOutcome {
        val connection = try {
            open(handoff, connectTimeoutMs, readTimeoutMs)
        } catch (e: IOException) {
            return UploadOutcomes.failed(e)
        } catch (e: IllegalArgumentException) {
            return UploadOutcomes.failed(e)
        }
        return try {
            exchange(connection)
        } catch (e: IOException) {
            onFailure()
            if (e is TransferStopped) throw e
            UploadOutcomes.failed(e)
        } finally {
            connection.disconnect()
        }
    }

    /** Every header of the answer (not the status line), sorted by name. */
    fun headers(connection: HttpURLConnection): List<Header> =
        connection.headerFields
            .filterKeys { it != null }
            .flatMap { (name, values) -> values.map { Header(name, it) } }
            .sortedBy { it.name.lowercase() }
}
