// Every setting of the core reaches it from Kotlin: the defaults round-trip, and packing
// configured in Kotlin sends many small files in one request to the testkit's batch endpoint.
package dev.ferry

import java.nio.file.Path
import java.time.Duration
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class SettingsTest {
    @TempDir
    lateinit var dir: Path

    private fun requestsSoFar(): Long =
        Regex("\"requests\":\\s*(\\d+)").find(Testkit.stats())?.groupValues?.get(1)?.toLong()
            ?: error("no request count in ${Testkit.stats()}")

    @Test
    fun theDefaultsAreTheCoresAndEveryKnobIsThere() {
        val config = QueueConfig(dir.resolve("q.db").toString())
        assertEquals(HttpVersion.NEGOTIATE, config.httpVersion)
        assertEquals(Duration.ofMillis(250), config.progressInterval)
        assertEquals(5, config.breakerFailureThreshold)
        assertEquals(Duration.ofSeconds(30), config.breakerMaxCooldown)
        assertEquals(emptyList<BatchEndpoint>(), config.batching)
        assertEquals(Duration.ofSeconds(60), config.authorizeTimeout)
        assertEquals(emptyList<String>(), config.sensitiveHeaders)
    }

    @Test
    fun packingConfiguredInKotlinSendsSmallFilesInOneRequest() = runBlocking {
        withTimeout(60_000L) {
            val prefix = Testkit.uniquePrefix("packed")
            val config = QueueConfig(dir.resolve("packed.db").toString()).copy(
                batching = listOf(BatchEndpoint(Testkit.url("$prefix/"), Testkit.url("$prefix/_batch"))),
                httpVersion = HttpVersion.HTTP1_ONLY,
                progressInterval = Duration.ofMillis(100),
                breakerFailureThreshold = 3,
            )
            val queue = TransferQueue.open(config)
            queue.setNetwork(OFFLINE)
            val files = (0 until 4).map { randomFile(dir, "p$it.bin", 2048) }
            val ids = files.mapIndexed { index, (file, _) -> queue.enqueue(put(file, "$prefix/p$index.bin")) }
            val before = requestsSoFar()
            queue.setNetwork(ONLINE)
            for (id in ids) assertEquals(TransferState.Succeeded, queue.awaitResult(id).state)
            assertEquals(1L, requestsSoFar() - before, "four small files, one packed request")
            val received = Testkit.received()
            files.forEachIndexed { index, (_, sha) ->
                assertEquals(sha, received["$prefix/p$index.bin"]?.sha256, "p$index.bin")
            }
            assertTrue(
                runCatching { TransferQueue.open(config.copy(databasePath = dir.resolve("other.db").toString(), breakerFailureThreshold = -1)) }
                    .exceptionOrNull() is FerryException.InvalidArgument,
                "a negative setting is refused by name",
            )
            queue.shutdown()
            queue.close()
        }
    }
}
