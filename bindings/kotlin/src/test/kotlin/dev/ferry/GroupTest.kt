// The app's own data on an upload as a Kotlin app sees it: metadata and a group stored with
// the transfer and read back after a reopen, out-of-bounds metadata refused with a typed
// error, and listWhere, cancelWhere, retryWhere and purgeWhere by group acting on that
// group alone.
package dev.ferry

import java.nio.file.Path
import java.time.Duration
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

class GroupTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun metadataAndGroupSurviveAReopen() = runBlocking {
        withTimeout(60_000L) {
            val config = defaultQueueConfig(dir.resolve("queue.db").toString())
            var queue = TransferQueue.open(config)
            queue.setNetwork(OFFLINE)
            val prefix = Testkit.uniquePrefix("group-meta")
            val metadata = mapOf("album" to "7", "caption" to "the beach, at dusk ✓")
            val upload = put(randomFile(dir, "m.bin").first, "$prefix/m.bin")
                .copy(metadata = metadata, group = "holiday")
            val id = queue.enqueue(upload)

            val refused = assertThrows<FerryException.InvalidMetadata> {
                runBlocking {
                    queue.enqueue(
                        put(randomFile(dir, "n.bin").first, "$prefix/n.bin").copy(group = ""),
                    )
                }
            }
            assertTrue(refused.message!!.contains("group is empty"), refused.message)
            queue.shutdown()
            queue.close()

            queue = TransferQueue.open(config)
            queue.setNetwork(OFFLINE)
            val stored = queue.get(id)
            assertEquals(metadata, stored.upload.metadata)
            assertEquals("holiday", stored.upload.group)
            val listed = queue.listWhere(Selection(group = "holiday"), 0L, 10L)
            assertEquals(listOf(id), listed.map { it.id })
            assertEquals(metadata, listed[0].upload.metadata)
            assertEquals(1, queue.list(null, 0L, 10L).size, "nothing queued for the refused upload")
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun cancelRetryListAndPurgeByGroup() = runBlocking {
        withTimeout(60_000L) {
            val queue = TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))
            // Offline: nothing starts until the selections have been made.
            queue.setNetwork(OFFLINE)
            val prefix = Testkit.uniquePrefix("group-bulk")
            suspend fun enqueue(name: String, group: String?): java.util.UUID =
                queue.enqueue(put(randomFile(dir, name).first, "$prefix/$name").copy(group = group))
            val album = (0 until 3).map { enqueue("a$it.bin", "album") }
            val trip = (0 until 2).map { enqueue("t$it.bin", "trip") }
            val loose = enqueue("loose.bin", null)

            assertEquals(album, queue.listWhere(Selection(group = "album"), 0L, 100L).map { it.id })

            assertEquals(3L, queue.cancelWhere(Selection(group = "album")))
            for (id in album) assertEquals(TransferState.Cancelled, queue.get(id).state)
            for (id in trip + loose) assertEquals(TransferState.Queued, queue.get(id).state)

            for (id in trip + loose) queue.pause(id)
            assertEquals(
                2L,
                queue.retryWhere(Selection(states = listOf(StateFilter.PAUSED), group = "trip")),
            )
            // A transfer in no group is never selected by a group.
            assertEquals(TransferState.Paused, queue.get(loose).state)

            queue.setNetwork(ONLINE)
            queue.resume(loose)
            queue.awaitIdle(*(trip + loose).toTypedArray())
            for (id in trip) assertEquals(TransferState.Succeeded, queue.get(id).state)

            assertEquals(3L, queue.purgeWhere(Selection(group = "album"), Duration.ZERO))
            assertEquals(
                (trip + loose).toSet(),
                queue.list(null, 0L, 100L).map { it.id }.toSet(),
            )
            queue.shutdown()
            queue.close()
        }
    }
}
