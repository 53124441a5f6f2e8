// Behaviour of the queue as a Kotlin app sees it, against `ferry-testkit serve`:
// events as a Flow, control calls, typed errors, reopening, concurrency and retry.
// Every test uses its own database and its own URL path prefix on the shared server.
// Timeouts only guard against hangs; nothing asserts on timing.
package dev.ferry

import java.nio.file.Path
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.cancel
import kotlinx.coroutines.Job
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertInstanceOf
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

private const val HANG_GUARD_MS = 60_000L

class QueueTest {
    @TempDir
    lateinit var dir: Path

    private fun db() = dir.resolve("queue.db").toString()

    private suspend fun openQueue(): TransferQueue = TransferQueue.open(defaultQueueConfig(db()))

    private fun assertStored(path: String, sha256: String, received: Map<String, Received>) {
        val entry = received[path] ?: fail("testkit stored nothing at $path")
        assertEquals(sha256, entry.sha256, "SHA-256 at $path")
        assertEquals(1L, entry.storedCount, "stored_count at $path")
    }

    @Test
    fun theServersAnswerIsReadByIdAfterAReopen() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("answer")
            val queue = openQueue()
            val (file, _) = randomFile(dir, "a.bin", 3000)
            val id = queue.enqueue(put(file, "$prefix/a.bin"))
            assertEquals(TransferState.Succeeded, queue.awaitResult(id).state)
            queue.shutdown()

            val reopened = openQueue()
            val answer = reopened.response(id) ?: fail("no answer kept")
            assertEquals(201, answer.status.toInt())
            assertFalse(answer.bodyTruncated)
            val body = String(answer.body, Charsets.UTF_8)
            assertTrue(body.contains("\"$prefix/a.bin\"") && body.contains("\"len\":3000"), body)
            assertEquals("[redacted]", answer.headers.first { it.name.equals("set-cookie", ignoreCase = true) }.value)
            reopened.shutdown()

            val config = defaultQueueConfig(db())
            assertEquals(65536L, config.responseBodyLimit)
            val small = TransferQueue.open(config.copy(responseBodyLimit = 8L))
            val (other, _) = randomFile(dir, "b.bin", 100)
            val cut = small.enqueue(put(other, "$prefix/b.bin"))
            small.awaitResult(cut)
            val cutAnswer = small.response(cut) ?: fail("no answer kept")
            assertEquals("{\"stored", String(cutAnswer.body, Charsets.UTF_8))
            assertTrue(cutAnswer.bodyTruncated)
            small.shutdown()
        }
    }

    @Test
    fun awaitResultReturnsEachTransferOnceItIsFinal() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("await")
            val queue = openQueue()
            queue.setNetwork(OFFLINE)
            val (sentFile, sentSha) = randomFile(dir, "sent.bin")
            val (cancelledFile, _) = randomFile(dir, "cancelled.bin")
            val sent = queue.enqueue(put(sentFile, "$prefix/sent.bin"))
            val cancelled = queue.enqueue(put(cancelledFile, "$prefix/cancelled.bin"))
            val sentResult = async(Dispatchers.Default) { queue.awaitResult(sent) }
            val cancelledResult = async(Dispatchers.Default) { queue.awaitResult(cancelled) }
            queue.cancel(cancelled)
            assertEquals(TransferState.Cancelled, cancelledResult.await().state)
            assertFalse(sentResult.isCompleted, "still waiting while offline")
            queue.setNetwork(ONLINE)
            val done = sentResult.await()
            assertEquals(sent, done.id)
            assertEquals(TransferState.Succeeded, done.state)
            assertStored("$prefix/sent.bin", sentSha, Testkit.received())
            assertThrows<FerryException.NotFound> {
                runBlocking { queue.awaitResult(java.util.UUID.fromString("0192f0c2-3b4a-7c5d-8e6f-0123456789ab")) }
            }
            queue.shutdown()
            queue.close()
        }
    }

    /** The per-transfer Flow starts with the state enqueue left, however late it is collected. */
    @Test
    fun watchEmitsTheCurrentRecordFirstThenEachChangeUntilTheFinalOne() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("watch")
            val queue = openQueue()
            queue.setNetwork(OFFLINE)
            val (file, sha) = randomFile(dir, "watched.bin")
            val id = queue.enqueue(put(file, "$prefix/watched.bin"))
            queue.pause(id)
            // Collected only now, after the pause: the first value is the paused record.
            assertEquals(TransferState.Paused, queue.watch(id).first().state)
            val records = async(Dispatchers.Default) { queue.watch(id).toList() }
            queue.resume(id)
            queue.setNetwork(ONLINE)
            val seen = records.await()
            assertEquals(id, seen.last().id)
            assertEquals(TransferState.Succeeded, seen.last().state, "the flow ends with the final record: $seen")
            assertTrue(seen.dropLast(1).none { it.state == TransferState.Succeeded }, "only the last is final: $seen")
            assertStored("$prefix/watched.bin", sha, Testkit.received())
            assertThrows<FerryException.NotFound> {
                runBlocking { queue.watch(java.util.UUID.fromString("0192f0c2-3b4a-7c5d-8e6f-0123456789ab")).first() }
            }
            queue.shutdown()
            queue.close()
        }
    }

    /** The hot stream keeps what happened before the first collect: here, a whole upload. */
    @Test
    fun theHotEventStreamLosesNothingBeforeTheFirstCollect() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("hot-events")
            val queue = openQueue()
            val scope = CoroutineScope(Dispatchers.Default + Job())
            val events = queue.events(scope)
            val (file, _) = randomFile(dir, "early.bin")
            val id = queue.enqueue(put(file, "$prefix/early.bin"))
            assertEquals(TransferState.Succeeded, queue.awaitResult(id).state)
            // Collected only now, after the upload ended.
            val seen = events.takeWhile { !(it is TransferEvent.Succeeded && it.id == id) }.toList()
            assertTrue(seen.any { it is TransferEvent.Started && it.id == id }, "the start was kept: $seen")
            queue.shutdown()
            // After shutdown, a collection gets what was kept, then completes.
            val all = events.toList()
            assertTrue(all.any { it is TransferEvent.Succeeded && it.id == id }, "kept to the end: $all")
            scope.cancel()
            queue.close()
        }
    }

    @Test
    fun theEventFlowCompletesWhenTheQueueShutsDown() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("flow-end")
            val queue = openQueue()
            val events = Channel<TransferEvent>(Channel.UNLIMITED)
            // Offline until the Flow is known to be subscribed (its first event arrives).
            queue.setNetwork(OFFLINE)
            val collector = launch(Dispatchers.Default) {
                queue.events().collect { events.send(it) }
                events.close()
            }
            val (file, _) = randomFile(dir, "one.bin")
            val id = queue.enqueue(put(file, "$prefix/one.bin"))
            while (events.tryReceive().getOrNull() == null) {
                queue.pause(id)
                queue.resume(id)
                delay(10)
            }
            queue.setNetwork(ONLINE)
            queue.awaitIdle(id)
            queue.shutdown()
            collector.join() // returns only because the Flow completed
            val rest = mutableListOf<TransferEvent>()
            for (event in events) rest += event
            assertTrue(rest.any { it is TransferEvent.Succeeded && it.id == id }, "$rest")
            var afterShutdown = 0
            queue.events().collect { afterShutdown++ }
            assertEquals(0, afterShutdown, "a Flow collected after shutdown completes at once")
            queue.close()
        }
    }

    @Test
    fun twoHundredFilesArriveIntactAndTheFlowSeesEverySuccess() = runBlocking {
        withTimeout(HANG_GUARD_MS * 2) {
            val prefix = Testkit.uniquePrefix("many")
            val queue = openQueue()
            // Offline: nothing starts before the Flow is known to be subscribed.
            queue.setNetwork(OFFLINE)
            val files = (0 until 200).map { i -> randomFile(dir, "f$i.bin") }
            val uploads = files.mapIndexed { i, (path, _) -> put(path, "$prefix/f$i.bin") }
            val results = queue.enqueueMany(uploads)
            assertEquals(200, results.size)
            val ids = results.map { assertInstanceOf(EnqueueResult.Queued::class.java, it).id }
            assertEquals(200, ids.toSet().size, "every upload gets its own id")

            val events = Channel<TransferEvent>(Channel.UNLIMITED)
            val collector = launch(Dispatchers.Default) { queue.events().collect { events.send(it) } }
            // Prove the subscription is live: pause and resume one transfer until the
            // Flow reports the pause.
            val probe = ids.first()
            var seenPause = false
            val early = mutableListOf<TransferEvent>()
            while (!seenPause) {
                queue.pause(probe)
                queue.resume(probe)
                delay(10)
                while (true) {
                    val event = events.tryReceive().getOrNull() ?: break
                    if (event is TransferEvent.Paused && event.id == probe) seenPause = true
                    early += event
                }
            }

            queue.setNetwork(ONLINE)
            val succeeded = mutableSetOf<java.util.UUID>()
            for (event in early) if (event is TransferEvent.Succeeded) succeeded += event.id
            while (succeeded.size < 200) {
                when (val event = events.receive()) {
                    is TransferEvent.Succeeded -> succeeded += event.id
                    is TransferEvent.Failed -> error("transfer ${event.id} failed: ${event.error}")
                    is TransferEvent.Lagged -> error("the Flow lagged by ${event.missed} events")
                    else -> {}
                }
            }
            collector.cancel()
            assertEquals(ids.toSet(), succeeded)
            queue.waitIdle()

            val progress = queue.progress()
            assertEquals(200L, progress.filesTotal)
            assertEquals(200L, progress.filesDone)
            assertEquals(0L, progress.filesFailed)
            assertEquals(files.sumOf { (p, _) -> p.toFile().length() }.toLong(), progress.bytesDone)

            val received = Testkit.received()
            files.forEachIndexed { i, (_, sha) -> assertStored("$prefix/f$i.bin", sha, received) }
            assertEquals(
                200,
                queue.list(StateFilter.SUCCEEDED, 0L, 1000L).size,
                "list(Succeeded) holds every transfer",
            )
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun pauseResumeAndCancelWhileOffline() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("control")
            val queue = openQueue()
            queue.setNetwork(OFFLINE)
            queue.setAppState(AppState.BACKGROUND)
            queue.setAppState(AppState.FOREGROUND)
            val (a, _) = randomFile(dir, "a.bin")
            val (b, shaB) = randomFile(dir, "b.bin")
            val (c, shaC) = randomFile(dir, "c.bin")
            val cancelled = queue.enqueue(put(a, "$prefix/a"))
            val paused = queue.enqueue(put(b, "$prefix/b"))
            val plain = queue.enqueue(put(c, "$prefix/c"))
            assertEquals(TransferState.Queued, queue.get(plain).state, "offline: nothing starts")

            queue.cancel(cancelled)
            queue.pause(paused)
            assertEquals(TransferState.Cancelled, queue.get(cancelled).state)
            assertEquals(TransferState.Paused, queue.get(paused).state)
            // Cancelled is final.
            val illegal = assertThrows<FerryException.IllegalTransition> { runBlocking { queue.resume(cancelled) } }
            assertEquals(cancelled, illegal.id)
            assertEquals("resume", illegal.action)
            assertEquals(StateFilter.CANCELLED, illegal.state)

            queue.setNetwork(ONLINE)
            queue.awaitIdle(plain, paused, cancelled)
            assertEquals(TransferState.Succeeded, queue.get(plain).state)
            assertEquals(TransferState.Paused, queue.get(paused).state, "a paused transfer stays put")
            assertEquals(TransferState.Cancelled, queue.get(cancelled).state)
            var received = Testkit.received()
            assertStored("$prefix/c", shaC, received)
            assertFalse(received.containsKey("$prefix/a"), "a cancelled upload is never sent")
            assertFalse(received.containsKey("$prefix/b"), "a paused upload is not sent")

            queue.resume(paused)
            queue.awaitIdle(plain, paused, cancelled)
            assertEquals(TransferState.Succeeded, queue.get(paused).state)
            received = Testkit.received()
            assertStored("$prefix/b", shaB, received)
            assertFalse(received.containsKey("$prefix/a"))
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun badInputsAreTypedErrors() = runBlocking {
        val queue = openQueue()
        val missing = dir.resolve("does-not-exist.bin")
        val e1 = assertThrows<FerryException.SourceMissing> {
            runBlocking { queue.enqueue(put(missing, "/kt-never/missing")) }
        }
        // The fields say what a program acts on; `message` is the sentence for a person.
        assertEquals(missing.toString(), e1.path)
        assertEquals(e1.description, e1.message)
        assertTrue(e1.message!!.contains("does not exist"), e1.message)
        val (file, _) = randomFile(dir, "ok.bin")
        val e2 = assertThrows<FerryException.InvalidDestination> {
            runBlocking { queue.enqueue(Upload(file.toString(), "ftp://x", UploadMethod.Put)) }
        }
        assertTrue(e2.destination.startsWith("ftp:"), e2.destination)
        // In a batch the bad item is refused on its own; the good one is queued.
        queue.setNetwork(OFFLINE)
        val results = queue.enqueueMany(
            listOf(Upload(file.toString(), "ftp://x", UploadMethod.Put), put(file, "/kt-never/ok")),
        )
        val refused = assertInstanceOf(EnqueueResult.Refused::class.java, results[0])
        // The same typed error `enqueue` throws, not a string.
        assertInstanceOf(FerryException.InvalidDestination::class.java, refused.error)
        val id = assertInstanceOf(EnqueueResult.Queued::class.java, results[1]).id
        queue.cancel(id)
        val unknown = java.util.UUID.randomUUID()
        val notFound = assertThrows<FerryException.NotFound> { runBlocking { queue.get(unknown) } }
        assertEquals(unknown, notFound.id)
        queue.shutdown()
        queue.close()
    }

    @Test
    fun reopeningAfterShutdownKeepsIdsAndStates() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("reopen")
            val first = openQueue()
            val (a, shaA) = randomFile(dir, "a.bin")
            val (b, _) = randomFile(dir, "b.bin")
            val (c, _) = randomFile(dir, "c.bin")
            val done = first.enqueue(put(a, "$prefix/a"))
            first.awaitIdle(done)
            assertEquals(TransferState.Succeeded, first.get(done).state)
            first.setNetwork(OFFLINE)
            val paused = first.enqueue(put(b, "$prefix/b"))
            val cancelled = first.enqueue(put(c, "$prefix/c"))
            first.pause(paused)
            first.cancel(cancelled)
            val before = first.list(null, 0L, 100L)
            first.shutdown()
            assertThrows<FerryException.Closed> { runBlocking { first.progress() } }
            first.close()

            val second = openQueue()
            val after = second.list(null, 0L, 100L)
            assertEquals(before.map { it.id }, after.map { it.id }, "same ids, same order")
            assertEquals(listOf(done, paused, cancelled), after.map { it.id })
            assertEquals(
                listOf(TransferState.Succeeded, TransferState.Paused, TransferState.Cancelled),
                after.map { it.state },
            )
            assertEquals(before.map { it.upload }, after.map { it.upload })
            assertEquals(listOf(paused), second.list(StateFilter.PAUSED, 0L, 100L).map { it.id })
            assertStored("$prefix/a", shaA, Testkit.received())
            second.shutdown()
            second.close()
        }
    }

    @Test
    fun fiftyConcurrentCallersDoNotDeadlock() = runBlocking {
        val prefix = Testkit.uniquePrefix("concurrent")
        val queue = openQueue()
        val files = (0 until 50).map { i -> randomFile(dir, "c$i.bin") }
        val ids = withTimeout(HANG_GUARD_MS) {
            withContext(Dispatchers.Default) {
                files.mapIndexed { i, (path, _) ->
                    async {
                        val id = queue.enqueue(put(path, "$prefix/c$i"))
                        val transfer = queue.get(id)
                        assertEquals(id, transfer.id)
                        assertEquals(path.toFile().length().toLong(), transfer.size)
                        assertTrue(queue.progress().filesTotal >= 1L)
                        queue.list(null, 0L, 10L)
                        id
                    }
                }.awaitAll()
            }
        }
        assertEquals(50, ids.toSet().size)
        queue.awaitIdle(*ids.toTypedArray(), timeoutMs = HANG_GUARD_MS)
        val received = Testkit.received()
        ids.forEachIndexed { i, id ->
            assertEquals(TransferState.Succeeded, queue.get(id).state)
            assertStored("$prefix/c$i", files[i].second, received)
        }
        assertEquals(50L, queue.progress().filesDone)
        queue.shutdown()
        queue.close()
    }

    @Test
    fun aPermanentFailureCanBeRetried() = runBlocking {
        withTimeout(HANG_GUARD_MS) {
            val prefix = Testkit.uniquePrefix("retry")
            val path = "$prefix/x"
            // Scoped to this test's own path, so other tests on the shared server are
            // unaffected; the plan is cleared again at the end.
            Testkit.setFaults(
                """{"scripted":[{"when":"first_to_path","path":"$path","count":1,""" +
                    """"fault":{"status":{"code":404}}}]}""",
            )
            try {
                val queue = openQueue()
                val (file, sha) = randomFile(dir, "x.bin")
                val id = queue.enqueue(put(file, path))
                queue.awaitIdle(id)
                val failed = queue.get(id)
                assertEquals(TransferState.Failed, failed.state)
                assertEquals(404, failed.lastError?.httpStatus)
                assertEquals(FailureKind.HTTP_STATUS, failed.lastError?.kind)
                assertFalse(Testkit.received().containsKey(path), "a 404 stores nothing")
                assertEquals(1L, queue.progress().filesFailed)

                queue.retry(id)
                queue.awaitIdle(id)
                assertEquals(TransferState.Succeeded, queue.get(id).state)
                assertStored(path, sha, Testkit.received())
                queue.shutdown()
                queue.close()
            } finally {
                Testkit.setFaults("{}")
            }
        }
    }
}
