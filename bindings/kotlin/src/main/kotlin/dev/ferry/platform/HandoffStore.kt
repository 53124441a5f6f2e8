// The handoffs an Android shim has scheduled, one small file each, so that a worker
// started after process death (WorkManager reruns persisted work) finds its request.
// WorkManager's input `Data` is limited to 10 KB, too small for arbitrary headers, so the
// work carries only the key. It must never decide anything about the work.
package dev.ferry.platform

import dev.ferry.Handoff
import java.io.File

class HandoffStore(private val directory: File) {
    private companion object {
        const val MAGIC = 0x46524831 // "FRH1"
        const val SUFFIX = ".handoff"
    }

    fun save(handoff: Handoff) = DurableFile.write(fileOf(handoff.key), MAGIC) { DurableFile.writeHandoff(it, handoff) }

    /** The handoff stored under `key`, or null if it was removed (or never stored). */
    fun load(key: String): Handoff? = DurableFile.read(fileOf(key), MAGIC) { DurableFile.readHandoff(it) }

    fun remove(key: String) {
        fileOf(key).delete()
    }

    /** Keys of every stored handoff. */
    fun keys(): List<String> =
        directory.listFiles { file -> file.name.endsWith(SUFFIX) }
            ?.mapNotNull { file -> runCatching { load(decode(file.name.removeSuffix(SUFFIX))) }.getOrNull()?.key }
            ?.sorted()
            ?: emptyList()

    /** Keys are `<transfer id>.<attempt>`, but any text must map to a safe file name. */
    private fun fileOf(key: String) = File(directory, encode(key) + SUFFIX)

    private fun encode(key: String) = key.toByteArray().joinToString("") { "%02x".format(it) }

    private fun decode(name: String) = String(name.chunked(2).map { it.toInt(16).toByte() }.toByteArray())
}
