// Downloads as a Kotlin app sees them (issue 21): a file fetched into place through the
// generated bindings, checked against its SHA-256, with its direction and where it was
// saved on the transfer; a repeat is the same transfer; a wrong SHA-256 fails with its
// own kind; a missing folder is a typed error with nothing queued.
package dev.ferry

import java.nio.file.Files
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

class DownloadTest {
    @TempDir
    lateinit var dir: Path

    private fun served(size: Int): Pair<String, ByteArray> = serveRandomFile("dl", size)

    @Test
    fun aDownloadArrivesWholeAtItsDestinationAndARepeatIsTheSameTransfer() = runBlocking {
        withTimeout(60_000L) {
            val queue = TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))
            val (name, bytes) = served(300_000)
            val destination = dir.resolve("photo.bin")
            val download = Download(
                url = Testkit.fileUrl(name),
                destinationPath = destination.toString(),
                expectedSha256 = sha256Hex(bytes),
                group = "album",
            )
            val id = queue.enqueueDownload(download)
            assertEquals(id, queue.enqueueDownload(download), "the same URL to the same file")

            val done = queue.awaitResult(id)
            assertEquals(TransferState.Succeeded, done.state, "${done.lastError}")
            assertEquals(Direction.DOWNLOAD, done.direction)
            assertEquals(destination.toString(), done.savedAs)
            assertEquals("album", done.download?.group)
            assertArrayEquals(bytes, Files.readAllBytes(destination))
            assertEquals(bytes.size.toLong(), Testkit.bytesServed(name), "every byte served once")
            val leftovers = Files.list(dir).use { files -> files.map { it.fileName.toString() }.toList() }
            assertFalse(leftovers.any { it.endsWith(".partial") }, "no partial file left: $leftovers")
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun aWrongSha256FailsWithItsOwnKindAndABadFolderIsRefused() = runBlocking {
        withTimeout(60_000L) {
            val queue = TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))
            val (name, _) = served(10_000)
            val destination = dir.resolve("wrong.bin")
            val id = queue.enqueueDownload(
                Download(
                    url = Testkit.fileUrl(name),
                    destinationPath = destination.toString(),
                    expectedSha256 = "0".repeat(64),
                ),
            )
            val failed = queue.awaitResult(id)
            assertEquals(TransferState.Failed, failed.state)
            assertEquals(FailureKind.DIGEST_MISMATCH, failed.lastError?.kind, "${failed.lastError}")
            assertFalse(Files.exists(destination), "nothing put in place")

            val missing = dir.resolve("no-such-folder").resolve("f.bin").toString()
            val refused = assertThrows<FerryException.InvalidDownload> {
                runBlocking { queue.enqueueDownload(Download(url = Testkit.fileUrl(name), destinationPath = missing)) }
            }
            assertEquals(missing, refused.path)
            assertTrue(refused.message!!.isNotEmpty())
            assertEquals(1, queue.list(null, 0L, 10L).size, "nothing queued for the refused download")
            queue.shutdown()
            queue.close()
        }
    }
}
