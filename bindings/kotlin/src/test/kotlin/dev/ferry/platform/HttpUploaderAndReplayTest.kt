// The Android shim's JVM-testable upload path against `ferry-testkit serve`: HttpUploader
// sends a handoff's body and maps the answer; and, with the real core, uploads that finish
// while no queue is open are journaled, kept on the platform at the next open, applied
// when the relay attaches, and never uploaded twice (a worker rerun after process death
// reports through the same path).
package dev.ferry.platform

import dev.ferry.AppState
import dev.ferry.Handoff
import dev.ferry.Lane
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import dev.ferry.PlatformTransferService
import dev.ferry.Testkit
import dev.ferry.TransferQueue
import dev.ferry.TransferState
import dev.ferry.awaitIdle
import dev.ferry.defaultQueueConfig
import dev.ferry.put
import dev.ferry.randomFile
import java.net.ServerSocket
import java.nio.file.Path
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

private const val THRESHOLD = 64 * 1024

/**
 * The Android shim's logic on a thread pool instead of WorkManager: handoffs are stored,
 * run by [HandoffRunner] (an upload, or a download's segment) once [gate] opens, as the
 * stored copy says, and reported through a [ReportRelay].
 */
class PooledTransferService(dir: Path, private val gate: CountDownLatch = CountDownLatch(0)) : PlatformTransferService {
    val relay = ReportRelay(ReportJournal(dir.resolve("reports.bin").toFile()))
    private val store = HandoffStore(dir.resolve("handoffs").toFile())
    private val pool = Executors.newFixedThreadPool(4)
    private val running = ConcurrentHashMap.newKeySet<String>()

    /** Every handoff Ferry started, in order. */
    val started = java.util.concurrent.CopyOnWriteArrayList<Handoff>()

    override fun start(handoff: Handoff) {
        store.save(handoff)
        started += handoff
        relay.started(handoff.key)
        running += handoff.key
        pool.execute {
            gate.await(60, TimeUnit.SECONDS)
            val stored = store.load(handoff.key) ?: return@execute
            val outcome = HandoffRunner().run(stored, { bytes, total -> relay.progress(stored.key, bytes, total) })
            relay.finished(stored.key, outcome)
            store.remove(stored.key)
            running -= stored.key
        }
    }

    override fun cancel(handoffKey: String) {
        relay.cancelled(handoffKey)
        store.remove(handoffKey)
    }

    override fun outstanding(): List<String> = (running + relay.queuedKeys).sorted()

    override fun keepAppRunning(remainingBytes: Long): Unit =
        throw dev.ferry.PlatformException.Refused("this stand-in cannot keep the app running")

    override fun letAppStop() {}

    fun close() {
        pool.shutdown()
        pool.awaitTermination(60, TimeUnit.SECONDS)
    }
}

class HttpUploaderAndReplayTest {
    @TempDir
    lateinit var dir: Path

    private fun requests(): Long =
        Regex("\"requests\"\\s*:\\s*(\\d+)").find(Testkit.stats())?.groupValues?.get(1)?.toLong() ?: error("no requests")

    private fun duplicatesRefused(): Long =
        Regex("\"duplicates_refused\"\\s*:\\s*(\\d+)").find(Testkit.stats())?.groupValues?.get(1)?.toLong() ?: error("no duplicates_refused")

    @Test
    fun uploaderStreamsTheBodyAndReportsTheAnswer() {
        val path = Testkit.uniquePrefix("uploader") + "/a.bin"
        val (file, sha) = randomFile(dir, "a.bin", 300_000)
        val sent = mutableListOf<Long>()
        val outcome = HttpUploader(chunkBytes = 16 * 1024).upload(
            handoff(body = file.toString(), url = Testkit.url(path), bytes = 300_000L),
            { bytes, total -> sent += bytes; assertEquals(300_000L, total) },
        )
        val response = outcome as PlatformOutcome.Response
        assertEquals(201, response.status.toInt())
        assertTrue(String(response.body, Charsets.UTF_8).contains("\"$path\""), "the answer's body travels")
        assertEquals(false, response.bodyTruncated)
        assertTrue(sent.size > 1 && sent.last() == 300_000L, "progress in steps up to the whole body: $sent")
        assertEquals(sha, Testkit.received()[path]?.sha256)
    }

    @Test
    fun theAnswersBodyIsCutAtTheLimit() {
        val path = Testkit.uniquePrefix("uploader-cut") + "/a.bin"
        val (file, _) = randomFile(dir, "cut.bin", 1000)
        val outcome = HttpUploader(responseBodyLimit = 8).upload(
            handoff(body = file.toString(), url = Testkit.url(path), bytes = 1000L),
        ) as PlatformOutcome.Response
        assertEquals("{\"stored", String(outcome.body, Charsets.UTF_8))
        assertTrue(outcome.bodyTruncated)
    }

    @Test
    fun aRefusedConnectionIsNetworkAndAStopThrows() {
        val (file, _) = randomFile(dir, "b.bin", 1000)
        val closedPort = ServerSocket(0).use { it.localPort }
        val refused = HttpUploader().upload(handoff(body = file.toString(), url = "http://127.0.0.1:$closedPort/x"))
        assertEquals(PlatformFailure.NETWORK, (refused as PlatformOutcome.Failed).kind)
        val gone = HttpUploader().upload(handoff(body = dir.resolve("missing").toString(), url = Testkit.url("/x")))
        assertEquals(PlatformFailure.OTHER, (gone as PlatformOutcome.Failed).kind)
        assertThrows<HttpUploader.Stopped> {
            HttpUploader().upload(handoff(body = file.toString(), url = Testkit.url(Testkit.uniquePrefix("stop"))), isCancelled = { true })
        }
    }

    @Test
    fun uploadsFinishedWhileClosedAreAppliedAtOpenWithoutReupload() = runBlocking {
        withTimeout(120_000) {
            val prefix = Testkit.uniquePrefix("relay-closed")
            val config = defaultQueueConfig(dir.resolve("queue.db").toString()).copy(largeFileThreshold = THRESHOLD.toLong(), appState = AppState.FOREGROUND)
            val requestsBefore = requests()
            val duplicatesBefore = duplicatesRefused()
            val gate = CountDownLatch(1)
            val first = PooledTransferService(dir, gate)
            val q1 = TransferQueue.openWithPlatform(config, first)
            first.relay.attach(QueueReportSink(q1))
            val files = (0 until 3).map { i -> randomFile(dir, "f$i.bin", THRESHOLD) }
            val ids = files.mapIndexed { i, (file, _) -> q1.enqueue(put(file, "$prefix/f$i.bin")) }
            val keys = ids.associateWith { id -> platformKey(q1, id) }
            // Recorded as running on the platform comes first; the service's start follows.
            repeat(1500) { if (first.outstanding().size < 3) delay(20) }
            assertEquals(keys.values.sorted(), first.outstanding(), "every handoff was started")

            // The process goes away with the work in the OS's hands; the work then finishes.
            first.relay.detach()
            q1.shutdown()
            gate.countDown()
            first.close()
            assertEquals(keys.values.sorted(), first.relay.queuedKeys)

            // Relaunch: a new shim over the same files, a new queue.
            val relaunched = PooledTransferService(dir)
            assertEquals(keys.values.sorted(), relaunched.outstanding())
            val q2 = TransferQueue.openWithPlatform(config, relaunched)
            for (id in ids) assertEquals(TransferState.Running(Lane.Platform(keys.getValue(id))), q2.get(id).state)
            relaunched.relay.attach(QueueReportSink(q2))
            q2.awaitIdle(*ids.toTypedArray())
            for (id in ids) assertEquals(TransferState.Succeeded, q2.get(id).state)
            // The answers the uploads got while no queue was open arrived with the replayed
            // reports, bodies included, and are read by id.
            ids.forEachIndexed { i, id ->
                val answer = q2.response(id) ?: error("no answer kept for $id")
                assertEquals(201, answer.status.toInt())
                val body = String(answer.body, Charsets.UTF_8)
                assertTrue(body.contains("\"$prefix/f$i.bin\""), body)
                assertEquals("[redacted]", answer.headers.first { it.name.equals("set-cookie", ignoreCase = true) }.value)
            }

            val received = Testkit.received()
            files.forEachIndexed { i, (_, sha) ->
                assertEquals(sha, received["$prefix/f$i.bin"]?.sha256)
                assertEquals(1L, received["$prefix/f$i.bin"]?.storedCount)
            }
            assertEquals(3L, requests() - requestsBefore, "one upload request per file")
            assertEquals(duplicatesBefore, duplicatesRefused())
            relaunched.relay.pruneDelivered()
            assertEquals(emptyList<String>(), relaunched.relay.queuedKeys)
            q2.shutdown()
            relaunched.close()
        }
    }

    private suspend fun platformKey(queue: TransferQueue, id: java.util.UUID): String {
        repeat(1500) {
            val lane = (queue.get(id).state as? TransferState.Running)?.lane
            if (lane is Lane.Platform) return lane.handoffKey
            delay(20)
        }
        error("transfer $id never went to the platform")
    }
}
