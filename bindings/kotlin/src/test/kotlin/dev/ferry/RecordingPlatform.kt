// A PlatformTransferService written in Kotlin, as an Android shim would be: it records what
// Ferry hands it and uploads each handoff's body file itself with java.net.http.HttpClient
// (standing in for WorkManager), then reports back with platformProgress/platformFinished.
package dev.ferry

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout

class RecordingPlatform(
    private val behaviour: Behaviour,
    private val outstandingKeys: List<String> = emptyList(),
    private val keepAlive: KeepAlive = KeepAlive.GRANT,
) : PlatformTransferService {
    /** How `keepAppRunning` and `letAppStop` behave. */
    enum class KeepAlive {
        /** Grant `keepAppRunning`; `letAppStop` returns. */
        GRANT,

        /** `keepAppRunning` throws an exception that is not a [PlatformException] (a shim bug). */
        THROW,

        /** Grant `keepAppRunning`; `letAppStop` throws (a shim bug). */
        THROW_ON_LET_STOP,
    }

    enum class Behaviour {
        /** Upload each handoff and report its outcome. */
        UPLOAD,

        /** Record the handoff and leave it running (an OS task that has not finished). */
        HOLD,

        /** `outstanding()` throws: the shim itself is broken. */
        THROW_ON_OUTSTANDING,

        /** `start` refuses with [PlatformException.Refused], as a full OS queue would. */
        REFUSE,
    }

    val handoffs = CopyOnWriteArrayList<Handoff>()
    val cancelled = CopyOnWriteArrayList<String>()
    val finishedReports = CopyOnWriteArrayList<Pair<String, Int>>()
    private val outstandingAsked = AtomicInteger()
    val outstandingCalls: Int get() = outstandingAsked.get()

    private val lock = Object()
    private var queue: TransferQueue? = null
    private val waiting = mutableListOf<Handoff>()

    // Called on Ferry's threads; each returns at once.

    override fun start(handoff: Handoff) {
        handoffs += handoff
        if (behaviour == Behaviour.REFUSE) throw PlatformException.Refused("the OS task queue is full")
        if (behaviour != Behaviour.UPLOAD) return
        val ready = synchronized(lock) {
            val attached = queue
            if (attached == null) waiting += handoff
            attached
        }
        if (ready != null) launchUpload(handoff, ready)
    }

    override fun cancel(handoffKey: String) {
        cancelled += handoffKey
    }

    /** The remaining bytes of every `keepAppRunning` call, in order. */
    val keepAppRunningCalls = CopyOnWriteArrayList<Long>()
    private val letStops = AtomicInteger()
    val letAppStopCalls: Int get() = letStops.get()

    private val thrown = AtomicInteger()

    /** `keepAppRunning` calls that have thrown (counted as the exception leaves). */
    val keepAppRunningThrown: Int get() = thrown.get()

    override fun keepAppRunning(remainingBytes: Long) {
        keepAppRunningCalls += remainingBytes
        if (keepAlive == KeepAlive.THROW) {
            try {
                throw IllegalStateException("the shim has no job scheduler")
            } finally {
                thrown.incrementAndGet()
            }
        }
    }

    override fun letAppStop() {
        letStops.incrementAndGet()
        if (keepAlive == KeepAlive.THROW_ON_LET_STOP) throw IllegalStateException("the job was already gone")
    }

    override fun outstanding(): List<String> {
        outstandingAsked.incrementAndGet()
        if (behaviour == Behaviour.THROW_ON_OUTSTANDING) {
            throw IllegalStateException("the OS task list is unavailable")
        }
        return outstandingKeys
    }

    /** Gives the service its queue; handoffs started during `openWithPlatform` upload now. */
    fun attach(queue: TransferQueue) {
        val pending = synchronized(lock) {
            this.queue = queue
            waiting.toList().also { waiting.clear() }
        }
        pending.forEach { launchUpload(it, queue) }
    }

    suspend fun awaitHandoffs(count: Int, timeoutMs: Long = 20_000): List<Handoff> {
        withTimeout(timeoutMs) { while (handoffs.size < count) delay(20) }
        return handoffs.toList()
    }

    private fun launchUpload(handoff: Handoff, queue: TransferQueue) {
        Thread {
            val outcome = upload(handoff)
            try {
                if (outcome is PlatformOutcome.Response) {
                    queue.platformProgress(handoff.key, handoff.expectedBytes, handoff.expectedBytes)
                    finishedReports += handoff.key to outcome.status.toInt()
                }
                queue.platformFinished(handoff.key, outcome)
            } catch (closed: FerryException.Closed) {
                // Shut down meanwhile; the next open reconciles.
            }
        }.apply { isDaemon = true }.start()
    }

    companion object {
        private val http: HttpClient = HttpClient.newHttpClient()

        /** Headers java.net.http sets itself and refuses from callers. */
        private val restricted = setOf("connection", "content-length", "expect", "host", "upgrade")

        /** Sends `handoff.bodyPath` to `handoff.url` with its method and headers. */
        fun upload(handoff: Handoff): PlatformOutcome {
            val request = HttpRequest.newBuilder(URI.create(handoff.url))
                .method(handoff.method, HttpRequest.BodyPublishers.ofFile(Path.of(handoff.bodyPath)))
            for (header in handoff.headers) {
                if (header.name.lowercase() !in restricted) request.header(header.name, header.value)
            }
            return try {
                val response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray())
                PlatformOutcome.Response(
                    response.statusCode(),
                    response.headers().map().flatMap { (name, values) -> values.map { Header(name, it) } },
                    response.body(),
                    false,
                )
            } catch (e: java.io.IOException) {
                PlatformOutcome.Failed(PlatformFailure.NETWORK, e.toString())
            }
        }
    }
}
