// Helpers for the JUnit suite: the ferry-testkit control API (started by `cargo xtask
// test-kotlin`, its base URL in FERRY_TESTKIT_URL) and random source files.
package dev.ferry

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.security.MessageDigest
import java.util.UUID
import kotlin.random.Random

/** What the testkit stored for one request path. */
data class Received(val len: Long, val sha256: String, val storedCount: Long)

/** The running `ferry-testkit serve`: upload URLs and its control API. */
object Testkit {
    /** Base URL ending in `/`, e.g. `http://127.0.0.1:PORT/`. */
    val baseUrl: String by lazy {
        val url = System.getenv("FERRY_TESTKIT_URL")
            ?: error("FERRY_TESTKIT_URL is not set: run the suite with `cargo xtask test-kotlin`")
        if (url.endsWith("/")) url else "$url/"
    }

    private val http: HttpClient = HttpClient.newHttpClient()

    /** A path prefix no other test (or earlier run against the same server) uses. */
    fun uniquePrefix(name: String): String = "/kt-$name-${UUID.randomUUID()}"

    /** The upload URL for a request path starting with `/`. */
    fun url(path: String): String = baseUrl + path.removePrefix("/")

    /** GET /_testkit/received, keyed by request path. */
    fun received(): Map<String, Received> {
        val body = send(HttpRequest.newBuilder(control("received")).GET().build(), 200)
        val entry = Regex("\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*\\{([^{}]*)\\}")
        return entry.findAll(body).associate { match ->
            val fields = match.groupValues[2]
            match.groupValues[1] to Received(
                len = number(fields, "len"),
                sha256 = Regex("\"sha256\"\\s*:\\s*\"([0-9a-fA-F]+)\"").find(fields)
                    ?.groupValues?.get(1)?.lowercase() ?: error("no sha256 in {$fields}"),
                storedCount = number(fields, "stored_count"),
            )
        }
    }

    /** GET /_testkit/stats, raw JSON. */
    fun stats(): String = send(HttpRequest.newBuilder(control("stats")).GET().build(), 200)

    /** POST /_testkit/faults: replaces the whole fault plan of the shared server. */
    fun setFaults(planJson: String) {
        val request = HttpRequest.newBuilder(control("faults"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(planJson))
            .build()
        send(request, 204)
    }

    /** PUT /_testkit/files/NAME: serves `bytes` for downloads at [fileUrl]. */
    fun serveFile(name: String, bytes: ByteArray) {
        val request = HttpRequest.newBuilder(control("files/$name"))
            .PUT(HttpRequest.BodyPublishers.ofByteArray(bytes))
            .build()
        send(request, 204)
    }

    /** Where a file given to [serveFile] is downloaded from. */
    fun fileUrl(name: String): String = "${baseUrl}_files/$name"

    /** GET /_testkit/files/NAME: body bytes of that file handed out so far. */
    fun bytesServed(name: String): Long =
        number(send(HttpRequest.newBuilder(control("files/$name")).GET().build(), 200), "bytes_served")

    private fun control(name: String) = URI.create("${baseUrl}_testkit/$name")

    private fun send(request: HttpRequest, expected: Int): String {
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == expected) {
            "${request.method()} ${request.uri()} answered ${response.statusCode()}: ${response.body()}"
        }
        return response.body()
    }

    private fun number(fields: String, key: String): Long =
        Regex("\"$key\"\\s*:\\s*(\\d+)").find(fields)?.groupValues?.get(1)?.toLong()
            ?: error("no $key in {$fields}")
}

/** Serves `size` random bytes under a fresh name with `label` in it: its name and bytes. */
fun serveRandomFile(label: String, size: Int): Pair<String, ByteArray> {
    val name = Testkit.uniquePrefix(label).removePrefix("/") + ".bin"
    val bytes = Random.nextBytes(size)
    Testkit.serveFile(name, bytes)
    return name to bytes
}

/** Asserts the testkit stored [path] exactly once, with this SHA-256. */
fun assertStoredOnce(path: String, sha256: String) {
    val entry = Testkit.received()[path] ?: error("testkit stored nothing at $path")
    org.junit.jupiter.api.Assertions.assertEquals(sha256, entry.sha256, "SHA-256 at $path")
    org.junit.jupiter.api.Assertions.assertEquals(1L, entry.storedCount, "stored_count at $path")
}

fun sha256Hex(bytes: ByteArray): String =
    MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

/** Writes `size` random bytes to `dir/name` and returns the path and the bytes' SHA-256. */
fun randomFile(dir: Path, name: String, size: Int = Random.nextInt(1024, 8 * 1024)): Pair<Path, String> {
    val bytes = Random.nextBytes(size)
    val path = dir.resolve(name)
    Files.write(path, bytes)
    return path to sha256Hex(bytes)
}

fun put(source: Path, path: String): Upload =
    Upload(source.toString(), Testkit.url(path), UploadMethod.Put)

val OFFLINE = NetworkStatus(online = false)
val ONLINE = NetworkStatus(online = true)

/**
 * [TransferQueue.waitIdle] with a hang guard: if the queue is not idle within [timeoutMs],
 * fails with the state, attempts and last error of [ids] instead of a bare timeout.
 */
suspend fun TransferQueue.awaitIdle(vararg ids: java.util.UUID, timeoutMs: Long = 30_000) {
    val idle = kotlinx.coroutines.withTimeoutOrNull(timeoutMs) { waitIdle(); true }
    if (idle == null) {
        val states = StringBuilder()
        for (id in ids) {
            val t = get(id)
            states.append("$id: ${t.state} attempts=${t.attempts} sent=${t.bytesSent}/${t.size} ")
                .append("next=${t.nextAttemptAt} error=${t.lastError}\n")
        }
        org.junit.jupiter.api.Assertions.fail<Unit>(
            "queue not idle after $timeoutMs ms; progress=${progress()}\n${states}stats=${Testkit.stats()}",
        )
    }
}
