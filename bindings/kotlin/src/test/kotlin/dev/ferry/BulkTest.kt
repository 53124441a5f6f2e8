// Queue management in bulk as a Kotlin app sees it: cancelWhere, retryWhere and
// purgeWhere by state and by destination prefix, each returning how many transfers it
// changed, and a selection of a state a call never changes refused with a typed error.
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

class BulkTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun cancelRetryAndPurgeActOnWhatTheySelect() = runBlocking {
        withTimeout(60_000L) {
            val queue = TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))
            // Offline: nothing starts until the selections have been made.
            queue.setNetwork(OFFLINE)
            val dropped = Testkit.uniquePrefix("bulk-dropped")
            val kept = Testkit.uniquePrefix("bulk-kept")
            val droppedIds = (0 until 4).map { i ->
                queue.enqueue(put(randomFile(dir, "d$i.bin").first, "$dropped/d$i.bin"))
            }
            val keptIds = (0 until 2).map { i ->
                queue.enqueue(put(randomFile(dir, "k$i.bin").first, "$kept/k$i.bin"))
            }

            val refused = assertThrows<FerryException.InvalidSelection> {
                runBlocking { queue.cancelWhere(Selection(states = listOf(StateFilter.SUCCEEDED))) }
            }
            assertTrue(refused.message!!.contains("cannot cancel"), refused.message)
            assertEquals("cancel", refused.action)
            assertEquals(StateFilter.SUCCEEDED, refused.state)

            val cancelled = queue.cancelWhere(Selection(destinationPrefix = Testkit.url("$dropped/")))
            assertEquals(4L, cancelled)
            for (id in droppedIds) assertEquals(TransferState.Cancelled, queue.get(id).state)
            for (id in keptIds) assertEquals(TransferState.Queued, queue.get(id).state)

            queue.pause(keptIds[0])
            assertEquals(1L, queue.retryWhere(Selection(states = listOf(StateFilter.PAUSED))))
            assertEquals(TransferState.Queued, queue.get(keptIds[0]).state)

            queue.setNetwork(ONLINE)
            queue.awaitIdle(*keptIds.toTypedArray())
            for (id in keptIds) assertEquals(TransferState.Succeeded, queue.get(id).state)

            // Everything finished just now: younger than an hour, so nothing is purged.
            assertEquals(0L, queue.purgeWhere(Selection(), Duration.ofHours(1)))
            assertEquals(
                4L,
                queue.purgeWhere(Selection(states = listOf(StateFilter.CANCELLED)), Duration.ZERO),
            )
            assertEquals(2L, queue.purgeWhere(Selection(), Duration.ZERO))
            assertEquals(0L, queue.progress().filesTotal)
            assertThrows<FerryException.NotFound> { runBlocking { queue.get(droppedIds[0]) } }
            queue.shutdown()
            queue.close()
        }
    }
}
