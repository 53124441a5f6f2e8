// The Android shim's download path on the JVM against `ferry-testkit serve`: HttpDownloader
// fetches a handoff's segment into its path and reports the answer's status and headers;
// an answer without the file leaves no file, a failure and a stop leave nothing; and, with
// the real core, a download handed to the platform (QueueConfig.downloadsToOs) goes
// through the worker's path (HandoffStore, HandoffRunner, ReportRelay) segment by segment
// and ends Succeeded, byte-identical, every byte served once, also when a segment arrived
// while no queue was open (journaled, applied at the next open). With the setting off (the
// default) a download never reaches the platform.
package dev.ferry.platform

import dev.ferry.AppState
import dev.ferry.Download
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import dev.ferry.RecordingPlatform
import dev.ferry.Testkit
import dev.ferry.TransferQueue
import dev.ferry.TransferState
import dev.ferry.awaitIdle
import dev.ferry.defaultQueueConfig
import dev.ferry.serveRandomFile
import dev.ferry.sha256Hex
import java.net.ServerSocket
import java.nio.file.Files
import java.nio.file.Path
import kotlin.random.Random
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

class HttpDownloaderTest {
    @TempDir
    lateinit var dir: Path

    private fun served(size: Int): Pair<String, ByteArray> = serveRandomFile("os-dl", size)

    private fun header(outcome: PlatformOutcome.Response, name: String): String? =
        outcome.headers.firstOrNull { it.name.equals(name, ignoreCase = true) }?.value

    private fun files(folder: Path): List<String> =
        Files.list(folder).use { list -> list.map { it.fileName.toString() }.sorted().toList() }

    /** Segments of the platform-lane tests. */
    private val segment = 64 * 1024

    /**
     * A background queue's config (in the background every transfer goes to the OS: a
     * download only when the app says its service carries downloads), in segments of
     * [segment] bytes.
     */
    private fun laneConfig() = defaultQueueConfig(dir.resolve("queue.db").toString())
        .copy(downloadsToOs = true, downloadSegmentBytes = segment.toLong(), appState = AppState.BACKGROUND)

    /** The folder the platform-lane tests download into: nothing else in it. */
    private fun downloads(): Path = Files.createDirectories(dir.resolve("downloads"))

    @Test
    fun aSegmentIsFetchedIntoItsPathAndReportedWithItsHeaders() {
        val (name, bytes) = served(300_000)
        val path = dir.resolve(".ferry-x.seg-100000")
        val received = mutableListOf<Long>()
        val outcome = HttpDownloader(chunkBytes = 16 * 1024).download(
            downloadHandoff(url = Testkit.fileUrl(name), first = 100_000, last = 199_999, path = path.toString()),
            { got, total -> received += got; assertEquals(100_000L, total) },
        ) as PlatformOutcome.Response
        assertEquals(206, outcome.status.toInt())
        assertEquals("bytes 100000-199999/300000", header(outcome, "Content-Range"))
        assertTrue(header(outcome, "ETag") != null, "the validator the core records: ${outcome.headers}")
        assertEquals(0, outcome.body.size, "the bytes are in the file, not in the report")
        assertArrayEquals(bytes.copyOfRange(100_000, 200_000), Files.readAllBytes(path))
        assertTrue(received.size > 1 && received.last() == 100_000L, "progress in steps: $received")
        assertEquals(listOf(path.fileName.toString()), files(dir), "no temporary file left")
        assertEquals(100_000L, Testkit.bytesServed(name))
    }

    @Test
    fun anUnboundedSegmentIsTheWholeFileAndReplacesAnOldFileAtItsPath() {
        val (name, bytes) = served(50_000)
        val path = dir.resolve(".ferry-y.seg-0")
        Files.write(path, byteArrayOf(1, 2, 3))
        val outcome = HttpDownloader().download(
            downloadHandoff(url = Testkit.fileUrl(name), first = 0, last = null, path = path.toString()),
        ) as PlatformOutcome.Response
        assertEquals(200, outcome.status.toInt())
        assertEquals("50000", header(outcome, "Content-Length"))
        assertArrayEquals(bytes, Files.readAllBytes(path))
    }

    @Test
    fun aRangeTheHandoffLacksIsAddedFromItsSegment() {
        val (name, bytes) = served(10_000)
        val path = dir.resolve(".ferry-z.seg-5000")
        val outcome = HttpDownloader().download(
            downloadHandoff(url = Testkit.fileUrl(name), first = 5_000, last = 5_999, path = path.toString(), headers = emptyList()),
        ) as PlatformOutcome.Response
        assertEquals(206, outcome.status.toInt())
        assertArrayEquals(bytes.copyOfRange(5_000, 6_000), Files.readAllBytes(path))
    }

    @Test
    fun anAnswerWithoutTheFileAFailureAndAStopLeaveNothingAtThePath() {
        val path = dir.resolve(".ferry-w.seg-0")
        Files.write(path, byteArrayOf(9))
        val missing = HttpDownloader().download(
            downloadHandoff(url = Testkit.fileUrl("no-such-file-${Random.nextLong()}"), path = path.toString()),
        ) as PlatformOutcome.Response
        assertEquals(404, missing.status.toInt())
        assertFalse(Files.exists(path), "a stale file would pass for the answer's bytes")

        val closedPort = ServerSocket(0).use { it.localPort }
        val refused = HttpDownloader().download(downloadHandoff(url = "http://127.0.0.1:$closedPort/x", path = path.toString()))
        assertEquals(PlatformFailure.NETWORK, (refused as PlatformOutcome.Failed).kind)

        val (name, _) = served(200_000)
        var chunks = 0
        assertThrows<TransferStopped> {
            HttpDownloader(chunkBytes = 8 * 1024).download(
                downloadHandoff(url = Testkit.fileUrl(name), last = 199_999, path = path.toString()),
                isCancelled = { ++chunks > 3 },
            )
        }
        assertEquals(emptyList<String>(), files(dir), "nothing at the path, no temporary file")

        val upload = HttpDownloader().download(handoff(url = Testkit.fileUrl(name)))
        assertEquals(PlatformFailure.OTHER, (upload as PlatformOutcome.Failed).kind, "a handoff without a segment")
    }

    @Test
    fun aDownloadHandedToThePlatformIsFetchedByTheWorkerPathAndArrivesWhole() = runBlocking {
        withTimeout(120_000) {
            val size = 4 * segment + 1234
            val (name, bytes) = served(size)
            val folder = downloads()
            val destination = folder.resolve("big.bin")
            val service = PooledTransferService(dir.resolve("shim"))
            val queue = TransferQueue.openWithPlatform(laneConfig(), service)
            service.relay.attach(QueueReportSink(queue))
            val id = queue.enqueueDownload(
                Download(url = Testkit.fileUrl(name), destinationPath = destination.toString(), expectedSha256 = sha256Hex(bytes)),
            )
            queue.awaitIdle(id, timeoutMs = 90_000)

            val done = queue.get(id)
            assertEquals(TransferState.Succeeded, done.state, "${done.lastError}")
            assertArrayEquals(bytes, Files.readAllBytes(destination))
            assertEquals(size.toLong(), Testkit.bytesServed(name), "every byte served once")
            val handoffs = service.started.toList()
            assertEquals(5, handoffs.size, "one OS task per segment: $handoffs")
            assertTrue(handoffs.all { it.method == "GET" && it.download != null })
            assertEquals(
                (0 until 5).map { it.toLong() * segment },
                handoffs.map { it.download!!.first },
                "each segment continues where the last one ended",
            )
            assertEquals(listOf("big.bin"), files(folder), "no partial or segment file left")
            service.relay.pruneDelivered()
            assertEquals(emptyList<String>(), service.relay.queuedKeys, "every report applied")
            queue.shutdown()
            queue.close()
            service.close()
        }
    }

    /**
     * A worker fetches a segment while no queue is open (the process went away): its report
     * waits in the journal, the segment file beside the partial, and the next open keeps
     * the task on the platform, applies the segment at attach and goes on from its end.
     */
    @Test
    fun aSegmentFetchedWhileNoQueueIsOpenIsAppliedAtTheNextOpen() = runBlocking {
        withTimeout(120_000) {
            val size = 2 * segment + 10
            val (name, bytes) = served(size)
            val folder = downloads()
            val destination = folder.resolve("later.bin")
            val config = laneConfig()
            val gate = java.util.concurrent.CountDownLatch(1)
            val first = PooledTransferService(dir.resolve("shim"), gate)
            val q1 = TransferQueue.openWithPlatform(config, first)
            first.relay.attach(QueueReportSink(q1))
            val id = q1.enqueueDownload(Download(url = Testkit.fileUrl(name), destinationPath = destination.toString()))
            repeat(1500) { if (first.outstanding().isEmpty()) kotlinx.coroutines.delay(20) }
            val key = first.outstanding().single()

            first.relay.detach()
            q1.shutdown()
            q1.close()
            gate.countDown()
            first.close()
            assertEquals(listOf(key), first.relay.queuedKeys, "the segment's report waits in the journal")
            val held = first.started.single().download!!
            assertEquals(segment.toLong(), Files.size(Path.of(held.path)), "the segment waits beside the partial")

            val relaunched = PooledTransferService(dir.resolve("shim"))
            val q2 = TransferQueue.openWithPlatform(config, relaunched)
            assertEquals(TransferState.Running(dev.ferry.Lane.Platform(key)), q2.get(id).state)
            relaunched.relay.attach(QueueReportSink(q2))
            q2.awaitIdle(id, timeoutMs = 90_000)
            val done = q2.get(id)
            assertEquals(TransferState.Succeeded, done.state, "${done.lastError}")
            assertArrayEquals(bytes, Files.readAllBytes(destination))
            assertEquals(size.toLong(), Testkit.bytesServed(name), "the journaled segment was not fetched again")
            assertEquals(
                listOf(segment.toLong(), 2L * segment),
                relaunched.started.map { it.download!!.first },
                "the relaunch went on from the applied segment's end",
            )
            assertEquals(listOf("later.bin"), files(folder))
            q2.shutdown()
            q2.close()
            relaunched.close()
        }
    }

    @Test
    fun withDownloadsToOsOffADownloadNeverReachesThePlatform() = runBlocking {
        withTimeout(60_000) {
            val (name, bytes) = served(200_000)
            val config = defaultQueueConfig(dir.resolve("queue.db").toString())
                .copy(largeFileThreshold = 1024, appState = AppState.FOREGROUND)
            assertTrue(config.downloadsToOs, "on by default")
            val inProcessOnly = config.copy(downloadsToOs = false)
            val platform = RecordingPlatform(RecordingPlatform.Behaviour.HOLD)
            val queue = TransferQueue.openWithPlatform(inProcessOnly, platform).also { platform.attach(it) }
            val destination = dir.resolve("in-process.bin")
            val id = queue.enqueueDownload(
                Download(url = Testkit.fileUrl(name), destinationPath = destination.toString(), expectedSize = bytes.size.toLong()),
            )
            assertEquals(TransferState.Succeeded, queue.awaitResult(id).state)
            assertArrayEquals(bytes, Files.readAllBytes(destination))
            assertEquals(emptyList<dev.ferry.Handoff>(), platform.handoffs.toList(), "a large download stayed in-process")
            queue.shutdown()
            queue.close()
        }
    }
}
