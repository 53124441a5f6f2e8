// The request authorizer across the FFI: a RequestAuthorizer written in Kotlin is asked
// right before the attempt, its URL and headers are what the server sees, and its secret
// never reaches the database.
package dev.ferry

import java.nio.file.Files
import java.nio.file.Path
import java.time.Instant
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

private const val SECRET = "Bearer kotlin-secret-9d2b"

/** Sends `…/photo.bin` to `…/signed-photo.bin`, with a bearer token. */
class SigningAuthorizer : RequestAuthorizer {
    val calls = java.util.Collections.synchronizedList(mutableListOf<Pair<RequestInfo, AuthReason>>())

    override fun authorize(request: RequestInfo, reason: AuthReason): Authorization {
        calls += request to reason
        return Authorization(
            url = request.destination.replace("/photo.bin", "/signed-photo.bin"),
            headers = listOf(Header("Authorization", SECRET)),
            expiresAt = Instant.now().plusSeconds(3600),
        )
    }
}

class AuthorizerTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun theAuthorizersUrlAndHeadersAreUsedAndNeverStored() = runBlocking {
        withTimeout(60_000L) {
            val database = dir.resolve("queue.db").toString()
            val authorizer = SigningAuthorizer()
            val queue = TransferQueue.openWithAuthorizer(defaultQueueConfig(database), authorizer)
            val prefix = Testkit.uniquePrefix("auth")
            val (file, sha) = randomFile(dir, "photo.bin", 20_000)
            val id = queue.enqueue(put(file, "$prefix/photo.bin"))
            queue.awaitIdle(id)

            assertEquals(TransferState.Succeeded, queue.get(id).state)
            assertEquals(1, authorizer.calls.size)
            val (request, reason) = authorizer.calls.first()
            assertEquals(id, request.transferId)
            assertEquals(20_000L, request.size)
            assertEquals("PUT", request.method)
            assertEquals(AuthReason.FIRST, reason)
            val received = Testkit.received()
            assertEquals(sha, received["$prefix/signed-photo.bin"]?.sha256, "sent to the authorizer's URL")
            assertNull(received["$prefix/photo.bin"], "not to the enqueued URL")
            queue.shutdown()

            for (path in listOf(database, "$database-wal")) {
                val file = Path.of(path)
                if (!Files.exists(file)) continue
                val text = String(Files.readAllBytes(file), Charsets.ISO_8859_1)
                assertFalse(text.contains(SECRET), "$path holds the secret")
            }
        }
    }
}
