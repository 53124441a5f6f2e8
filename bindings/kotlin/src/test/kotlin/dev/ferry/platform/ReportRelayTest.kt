// The Android shim's durable pieces without Android: the report journal and handoff
// store survive a reload, and the relay journals reports while no queue is attached,
// replays them at attach, counts them as outstanding until applied, and drops cancelled
// tasks' reports.
package dev.ferry.platform

import dev.ferry.HandoffDownload
import dev.ferry.Header
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import java.nio.file.Files
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/** A queue stand-in: records what it is told; `running` is what the core still runs. */
class FakeSink(var running: Set<String> = emptySet(), var closed: Boolean = false) : ReportSink {
    val finished = mutableListOf<Pair<String, PlatformOutcome>>()
    val progress = mutableListOf<Triple<String, Long, Long>>()

    override fun platformProgress(handoffKey: String, bytesSent: Long, bytesTotal: Long) {
        check(!closed) { "closed" }
        progress += Triple(handoffKey, bytesSent, bytesTotal)
    }

    override fun platformFinished(handoffKey: String, outcome: PlatformOutcome) {
        check(!closed) { "closed" }
        finished += handoffKey to outcome
    }

    override suspend fun runningPlatformKeys(): Set<String> = running
}

class ReportRelayTest {
    @TempDir
    lateinit var dir: Path

    private val ok = PlatformOutcome.Response(201, listOf(Header("ETag", "\"x\"")), "{\"id\":7}".toByteArray(), true)
    private val quit = PlatformOutcome.Failed(PlatformFailure.CANCELLED_BY_USER, "stopped by the user")

    private fun journalFile() = dir.resolve("reports/journal.bin").toFile()

    @Test
    fun journalSurvivesReloadAndForgetsRemovedReports() {
        val journal = ReportJournal(journalFile())
        journal.add("a.1", ok)
        journal.add("b.1", quit)
        val reloaded = ReportJournal(journalFile())
        assertEquals(listOf("a.1", "b.1"), reloaded.keys)
        assertEquals(shown(ok), reloaded["a.1"]?.let(::shown), "the body is journaled too")
        assertEquals(quit, reloaded["b.1"])
        reloaded.remove(listOf("a.1"))
        assertEquals(listOf("b.1"), ReportJournal(journalFile()).keys)
    }

    @Test
    fun aDamagedJournalIsATypedErrorThatSaysWhatToDo() {
        Files.createDirectories(dir.resolve("reports"))
        Files.write(journalFile().toPath(), byteArrayOf(1, 2, 3))
        val error = assertThrows<PlatformStoreException> { ReportJournal(journalFile()) }
        assertTrue(error.message!!.contains("delete it"), error.message)
    }

    @Test
    fun handoffStoreRoundTripsEveryField() {
        val store = HandoffStore(dir.resolve("handoffs").toFile())
        val original = handoff(key = "id/with:odd.1", expensive = false, bytes = 42L)
        store.save(original)
        assertEquals(original, HandoffStore(dir.resolve("handoffs").toFile()).load(original.key))
        assertEquals(listOf(original.key), store.keys())
        store.remove(original.key)
        assertNull(store.load(original.key))
    }

    @Test
    fun handoffStoreRoundTripsADownloadsSegment() {
        val store = HandoffStore(dir.resolve("handoffs").toFile())
        val bounded = downloadHandoff(key = "d.1", first = 64L * 1024 * 1024, last = 128L * 1024 * 1024 - 1, path = "/data/.ferry-d.seg-67108864")
        val whole = downloadHandoff(key = "d.2", first = 0, last = null, path = "/data/.ferry-d.seg-0")
        store.save(bounded)
        store.save(whole)
        val reloaded = HandoffStore(dir.resolve("handoffs").toFile())
        assertEquals(bounded, reloaded.load("d.1"))
        assertEquals(HandoffDownload(67_108_864L, 134_217_727L, "/data/.ferry-d.seg-67108864"), reloaded.load("d.1")?.download)
        assertEquals(whole, reloaded.load("d.2"))
        assertNull(reloaded.load("d.2")?.download?.last, "to the end of the file")
        assertEquals(listOf("d.1", "d.2"), reloaded.keys())
    }

    /** A handoff stored before downloads existed (no segment section) loads as an upload. */
    @Test
    fun aHandoffStoredBeforeDownloadsLoadsAsAnUpload() {
        val original = handoff(key = "old.1", bytes = 7L)
        val folder = dir.resolve("handoffs")
        Files.createDirectories(folder)
        val name = original.key.toByteArray().joinToString("") { "%02x".format(it) } + ".handoff"
        java.io.DataOutputStream(Files.newOutputStream(folder.resolve(name))).use { out ->
            out.writeInt(0x46524831)
            out.writeUTF(original.key)
            out.writeUTF(original.transferId.toString())
            out.writeUTF(original.bodyPath)
            out.writeUTF(original.url)
            out.writeUTF(original.method)
            out.writeInt(original.headers.size)
            for (header in original.headers) {
                out.writeUTF(header.name)
                out.writeUTF(header.value)
            }
            out.writeLong(original.expectedBytes)
            out.writeBoolean(original.allowExpensive)
            out.writeBoolean(original.allowConstrained)
            out.writeBoolean(original.discretionary)
            out.writeInt(-1)
        }
        assertEquals(original, HandoffStore(folder.toFile()).load(original.key))
    }

    @Test
    fun reportsWhileDetachedAreJournaledAndReplayedAtAttach() = runBlocking {
        val relay = ReportRelay(ReportJournal(journalFile()))
        relay.finished("a.1", ok)
        relay.progress("a.1", 10, 100)
        assertEquals(listOf("a.1"), relay.queuedKeys)

        // Process death: a new relay over the same journal still has the report.
        val relaunched = ReportRelay(ReportJournal(journalFile()))
        assertEquals(listOf("a.1"), relaunched.queuedKeys)
        val sink = FakeSink(running = setOf("a.1"))
        relaunched.attach(sink)
        assertEquals(listOf("a.1" to shown(ok)), sink.finished.map { (key, outcome) -> key to shown(outcome) })

        // Not applied yet: kept. Applied: dropped.
        relaunched.pruneDelivered()
        assertEquals(listOf("a.1"), relaunched.queuedKeys)
        sink.running = emptySet()
        relaunched.pruneDelivered()
        assertEquals(emptyList<String>(), relaunched.queuedKeys)
        assertEquals(emptyList<String>(), ReportJournal(journalFile()).keys)
    }

    @Test
    fun attachedReportsAreDeliveredAtOnceAndStillJournaledUntilApplied() = runBlocking {
        val relay = ReportRelay(ReportJournal(journalFile()))
        val sink = FakeSink(running = setOf("b.1"))
        relay.attach(sink)
        relay.progress("b.1", 50, 100)
        relay.finished("b.1", quit)
        assertEquals(listOf(Triple("b.1", 50L, 100L)), sink.progress)
        assertEquals(listOf("b.1" to quit), sink.finished)
        assertEquals(listOf("b.1"), ReportJournal(journalFile()).keys, "durable before the core has applied it")
    }

    @Test
    fun aClosedQueueLeavesReportsForTheNextAttach() {
        val relay = ReportRelay(ReportJournal(journalFile()))
        val closed = FakeSink(closed = true)
        relay.attach(closed)
        relay.finished("c.1", ok)
        assertEquals(listOf("c.1"), relay.queuedKeys)
        val next = FakeSink()
        relay.attach(next)
        assertEquals(listOf("c.1" to shown(ok)), next.finished.map { (key, outcome) -> key to shown(outcome) })
    }

    @Test
    fun aCancelledTasksReportIsNeitherKeptNorDelivered() {
        val relay = ReportRelay(ReportJournal(journalFile()))
        val sink = FakeSink()
        relay.attach(sink)
        relay.cancelled("d.1")
        relay.finished("d.1", quit)
        assertTrue(sink.finished.isEmpty())
        assertEquals(emptyList<String>(), relay.queuedKeys)
        relay.started("d.1")
        relay.finished("d.1", ok)
        assertEquals(listOf("d.1" to shown(ok)), sink.finished.map { (key, outcome) -> key to shown(outcome) }, "a task started again reports again")
    }
}

/** An outcome as text, its body's bytes included (generated classes compare arrays by identity). */
internal fun shown(outcome: PlatformOutcome): String = when (outcome) {
    is PlatformOutcome.Response -> "${outcome.status} ${outcome.headers} ${outcome.body.contentToString()} ${outcome.bodyTruncated}"
    is PlatformOutcome.Failed -> outcome.toString()
}
