// Delivers an Android shim's task reports to the queue: progress straight through when a
// queue is attached, final reports through the durable [ReportJournal] first, replayed at
// the next attach, and dropped once the core no longer runs the task. It must never decide
// retries, limits or batching: it only carries reports.
package dev.ferry.platform

import dev.ferry.PlatformOutcome
import dev.ferry.StateFilter
import dev.ferry.TransferQueue
import dev.ferry.TransferState
import dev.ferry.Lane

/** Where reports go: the queue, behind an interface so the relay is testable alone. */
interface ReportSink {
    /** Throws when the queue is closed. */
    fun platformProgress(handoffKey: String, bytesSent: Long, bytesTotal: Long)

    /** Throws when the queue is closed. */
    fun platformFinished(handoffKey: String, outcome: PlatformOutcome)

    /** The handoff keys the core still runs on the platform. */
    suspend fun runningPlatformKeys(): Set<String>
}

/** [ReportSink] over a real queue. */
class QueueReportSink(private val queue: TransferQueue) : ReportSink {
    override fun platformProgress(handoffKey: String, bytesSent: Long, bytesTotal: Long) =
        queue.platformProgress(handoffKey, bytesSent, bytesTotal)

    override fun platformFinished(handoffKey: String, outcome: PlatformOutcome) =
        queue.platformFinished(handoffKey, outcome)

    override suspend fun runningPlatformKeys(): Set<String> {
        val keys = HashSet<String>()
        val page = 500L
        for (number in 0L until 1000L) {
            val transfers = queue.list(StateFilter.RUNNING, number * page, page)
            for (transfer in transfers) {
                val lane = (transfer.state as? TransferState.Running)?.lane
                if (lane is Lane.Platform) keys += lane.handoffKey
            }
            if (transfers.size.toLong() < page) break
        }
        return keys
    }
}

class ReportRelay(private val journal: ReportJournal) {
    private val lock = Any()
    private var sink: ReportSink? = null
    private val delivered = HashSet<String>()
    private val cancelled = HashSet<String>()

    /** The last failure to write the journal; reports are then only in memory. */
    @Volatile
    var journalError: PlatformStoreException? = null
        private set

    /** Starts delivering to `sink` and delivers every report that waited for it. */
    fun attach(sink: ReportSink) {
        val waiting = synchronized(lock) {
            this.sink = sink
            journal.entries()
        }
        deliver(waiting, sink)
    }

    /** Stops delivering (before the queue shuts down); reports wait in the journal. */
    fun detach() = synchronized(lock) { sink = null }

    /** Keys of reports not yet seen applied: part of `outstanding()`. */
    val queuedKeys: List<String> get() = synchronized(lock) { journal.keys }

    /** Ferry cancelled the task: its report is not wanted. */
    fun cancelled(key: String) = synchronized(lock) {
        cancelled += key
        delivered -= key
        store { journal.remove(listOf(key)) }
    }

    /** A task for `key` was started (again): its reports count. */
    fun started(key: String) = synchronized(lock) { cancelled -= key }

    fun isCancelled(key: String): Boolean = synchronized(lock) { key in cancelled }

    fun progress(key: String, bytesSent: Long, bytesTotal: Long) {
        val sink = synchronized(lock) { sink } ?: return
        runCatching { sink.platformProgress(key, bytesSent.coerceAtLeast(0), bytesTotal.coerceAtLeast(0)) }
    }

    /** Journals the final report for `key`, then delivers it if a queue is attached. */
    fun finished(key: String, outcome: PlatformOutcome) {
        val sink = synchronized(lock) {
            if (key in cancelled) return
            store { journal.add(key, outcome) }
            sink
        } ?: return
        deliver(listOf(key to outcome), sink)
    }

    /**
     * Drops delivered reports whose task the core no longer runs (applied, or moot). The
     * shim calls it after deliveries, off the main thread; until then they stay journaled.
     */
    suspend fun pruneDelivered() {
        val (sink, candidates) = synchronized(lock) { sink to delivered.toSet() }
        if (sink == null || candidates.isEmpty()) return
        val running = runCatching { sink.runningPlatformKeys() }.getOrNull() ?: return
        val applied = candidates - running
        synchronized(lock) {
            delivered -= applied
            store { journal.remove(applied) }
        }
    }

    private fun deliver(reports: List<Pair<String, PlatformOutcome>>, sink: ReportSink) {
        val handed = ArrayList<String>()
        for ((key, outcome) in reports) {
            // Throws only when the queue is closed: the rest wait for the next attach.
            if (runCatching { sink.platformFinished(key, outcome) }.isFailure) break
            handed += key
        }
        synchronized(lock) { delivered += handed }
    }

    private inline fun store(write: () -> Unit) {
        try {
            write()
            journalError = null
        } catch (e: PlatformStoreException) {
            journalError = e
        }
    }
}
