// Smoke tests of the Kotlin bindings on the JVM: the generated code (android = false)
// compiles, JNA loads the host-built library, and suspend calls, typed errors and the
// foreign observer all cross the FFI. Behaviour belongs in the Rust tests; keep these few.
package dev.ferry

import java.nio.file.Files
import java.nio.file.Path
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/** Collects the events Rust delivers on Ferry's own thread. */
class EventLog : TransferObserver {
    val events = CopyOnWriteArrayList<TransferEvent>()

    override fun onEvent(event: TransferEvent) {
        events.add(event)
    }

    override fun onEnd() {}

    fun started(id: java.util.UUID) = events.any { it is TransferEvent.Started && it.id == id }
}

class BindingsSmokeTest {
    @TempDir
    lateinit var dir: Path

    private suspend fun openQueue() =
        TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))

    @Test
    fun idsAreJavaUuidsAndAnUnknownOneIsNamedInTheError() = runBlocking {
        val queue = openQueue()
        val file = dir.resolve("id.bin")
        Files.write(file, ByteArray(16) { 1 })
        queue.setNetwork(OFFLINE)
        val id: UUID = queue.enqueue(Upload(file.toString(), "http://127.0.0.1:9/id.bin", UploadMethod.Put))
        // Ferry's ids are UUID v7; the same id comes back from every call, as a UUID.
        assertEquals(7, id.version())
        val transfer = queue.get(id)
        assertEquals(id, transfer.id)
        assertEquals(listOf(id), queue.list(null, 0L, 10L).map { it.id })
        val unknown = UUID.randomUUID()
        val error = assertThrows<FerryException.NotFound> { runBlocking { queue.get(unknown) } }
        assertEquals(unknown, error.id)
        assertEquals(error.description, error.message)
        assertTrue(error.message!!.contains(unknown.toString()), error.message)
        queue.cancel(id)
        queue.shutdown()
    }

    @Test
    fun aNegativeCountIsATypedErrorNamingTheArgument() = runBlocking {
        val queue = openQueue()
        val error = assertThrows<FerryException.InvalidArgument> {
            runBlocking { queue.list(null, -1L, 10L) }
        }
        assertEquals("offset", error.name)
        queue.shutdown()
    }

    @Test
    fun observerImplementedInKotlinHearsTheAttemptStart() = runBlocking {
        val queue = openQueue()
        val log = EventLog()
        val subscription = queue.subscribe(log)
        val file = dir.resolve("a.bin")
        Files.write(file, ByteArray(1024) { 7 })
        // Nothing listens on the loopback discard port: the attempt starts, then fails.
        val id = queue.enqueue(Upload(file.toString(), "http://127.0.0.1:9/a.bin", UploadMethod.Put))
        val heard = withTimeoutOrNull(10_000) {
            while (!log.started(id)) delay(20)
            true
        }
        assertNotNull(heard, "no Started event for $id within 10 s")
        assertEquals(1L, queue.progress().filesTotal)
        subscription.close()
        queue.cancel(id)
        queue.shutdown()
    }
}
