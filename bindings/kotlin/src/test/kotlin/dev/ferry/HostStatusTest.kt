// Work to a host that refuses connections waits, and `hostStatus()` says why: the host,
// how much waits, and the failure ("could not connect"), as a Kotlin app reads it.
package dev.ferry

import java.net.ServerSocket
import java.nio.file.Path
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class HostStatusTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun hostStatusSaysWhyWorkToARefusingHostWaits() = runBlocking {
        withTimeout(60_000L) {
            // A loopback port bound once and released: nothing listens there now.
            val port = ServerSocket(0).use { it.localPort }
            val host = "127.0.0.1:$port"
            val queue = TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))
            val (file, _) = randomFile(dir, "down.bin", 500)
            queue.enqueue(Upload(file.toString(), "http://$host/down.bin", UploadMethod.Put))
            var seen: HostStatus? = null
            repeat(1000) {
                if (seen?.lastError == null) {
                    seen = queue.hostStatus().firstOrNull { it.host == host }
                    if (seen?.lastError == null) delay(20)
                }
            }
            val status = seen ?: fail("hostStatus() never listed $host")
            assertEquals(1L, status.queued + status.running)
            val error = status.lastError ?: fail("no failure recorded for $host")
            assertEquals(FailureKind.NETWORK, error.kind)
            assertTrue(error.message.contains("could not connect"), error.message)
            queue.shutdown()
            queue.close()
        }
    }
}
