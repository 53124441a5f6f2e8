// The Android shim's durable record of final task reports that Ferry has not yet applied:
// one small file, rewritten atomically on each change. Reports land here first (a worker
// may finish while no queue is open, or the process may die right after), are delivered
// when a queue is attached, and are dropped once the core no longer runs the task. It must
// never decide anything about the work itself.
package dev.ferry.platform

import dev.ferry.PlatformOutcome
import java.io.File

/** Not thread-safe: its owner ([ReportRelay]) serialises access. */
class ReportJournal(private val file: File) {
    private companion object {
        const val MAGIC = 0x46524a31 // "FRJ1"
    }

    private val reports: MutableMap<String, PlatformOutcome> =
        DurableFile.read(file, MAGIC) { input ->
            val count = input.readInt()
            if (count < 0 || count > 1_000_000) throw java.io.IOException("implausible report count $count")
            val loaded = LinkedHashMap<String, PlatformOutcome>()
            repeat(count) { loaded[input.readUTF()] = DurableFile.readOutcome(input) }
            loaded
        } ?: LinkedHashMap()

    val keys: List<String> get() = reports.keys.sorted()

    /** Every report, in key order. */
    fun entries(): List<Pair<String, PlatformOutcome>> = reports.entries.sortedBy { it.key }.map { it.key to it.value }

    operator fun get(key: String): PlatformOutcome? = reports[key]

    /** Adds (or replaces) the report for `key` and writes the journal. */
    fun add(key: String, outcome: PlatformOutcome) {
        reports[key] = outcome
        save()
    }

    /** Removes the reports for `keys`; writes only if something changed. */
    fun remove(keys: Collection<String>) {
        var changed = false
        for (key in keys) if (reports.remove(key) != null) changed = true
        if (changed) save()
    }

    private fun save() = DurableFile.write(file, MAGIC) { out ->
        val entries = entries()
        out.writeInt(entries.size)
        for ((key, outcome) in entries) {
            out.writeUTF(key)
            DurableFile.writeOutcome(out, outcome)
        }
    }
}
