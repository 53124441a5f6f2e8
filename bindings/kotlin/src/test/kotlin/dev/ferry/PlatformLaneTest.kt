// The platform lane across the FFI: a PlatformTransferService written in Kotlin
// (RecordingPlatform) is driven by the core, uploads handoffs with java.net.http, and
// reports back with platformProgress/platformFinished; the queue's persisted state follows.
// Also reconciliation at open against outstanding(), and shims that throw or refuse.
package dev.ferry

import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

private const val GUARD_MS = 60_000L

/** Files at least this big go to the platform in these tests. */
private const val THRESHOLD = 64 * 1024

class PlatformLaneTest {
    @TempDir
    lateinit var dir: Path

    /** A foreground app's queue: the app says so as it opens it. */
    private fun config(threshold: Long) =
        defaultQueueConfig(dir.resolve("queue.db").toString())
            .copy(largeFileThreshold = threshold, appState = AppState.FOREGROUND)

    private suspend fun open(platform: RecordingPlatform, threshold: Long): TransferQueue =
        TransferQueue.openWithPlatform(config(threshold), platform).also { platform.attach(it) }

    /** An app relaunched in the background opens its queue saying so: even a small file goes to the OS. */
    @Test
    fun aQueueOpenedInTheBackgroundSendsNothingInProcess() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("background")
            val platform = RecordingPlatform(RecordingPlatform.Behaviour.HOLD)
            val config = config(Long.MAX_VALUE).copy(appState = AppState.BACKGROUND)
            val queue = TransferQueue.openWithPlatform(config, platform).also { platform.attach(it) }
            val (small, _) = randomFile(dir, "small.bin", 4096)
            val id = queue.enqueue(put(small, "$prefix/small.bin"))
            platform.awaitHandoffs(1)
            assertEquals(listOf(id), platform.handoffs.map { it.transferId }, "even a small file goes to the OS")
            assertEquals(null, Testkit.received()["$prefix/small.bin"], "nothing was sent in-process")
            queue.shutdown()
            queue.close()
        }
    }

    /** A foreground app going to the background says so: from then on even a small file goes to the OS. */
    @Test
    fun afterEnterBackgroundEvenASmallFileGoesToTheOs() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("enter-background")
            val platform = RecordingPlatform(RecordingPlatform.Behaviour.HOLD)
            val queue = open(platform, Long.MAX_VALUE)
            queue.enterBackground()
            assertEquals(0, platform.handoffs.size, "nothing was queued to hand over")
            val (small, _) = randomFile(dir, "small.bin", 4096)
            val id = queue.enqueue(put(small, "$prefix/small.bin"))
            platform.awaitHandoffs(1)
            assertEquals(listOf(id), platform.handoffs.map { it.transferId }, "the small file went to the OS")
            assertEquals(null, Testkit.received()["$prefix/small.bin"], "nothing was sent in-process")
            queue.shutdown()
            queue.close()
        }
    }

    /** `QueueConfig(databasePath)` is the default configuration; `open(config, platform = ...)` uses the service. */
    @Test
    fun oneOpenWithDefaultArgumentsTakesThePlatformItIsGiven() = runBlocking {
        withTimeout(GUARD_MS) {
            val path = dir.resolve("defaults.db").toString()
            assertEquals(defaultQueueConfig(path), QueueConfig(path))
            val platform = RecordingPlatform(RecordingPlatform.Behaviour.HOLD)
            val queue = TransferQueue.open(QueueConfig(path).copy(appState = AppState.BACKGROUND), platform = platform)
                .also { platform.attach(it) }
            val prefix = Testkit.uniquePrefix("open-defaults")
            val (small, _) = randomFile(dir, "small.bin", 1024)
            val id = queue.enqueue(put(small, "$prefix/small.bin"))
            platform.awaitHandoffs(1)
            assertEquals(listOf(id), platform.handoffs.map { it.transferId })
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun aQueueConfigLeavesTheAppStateAndNetworkUntoldUntilTheAppSays() {
        val config = defaultQueueConfig(dir.resolve("x.db").toString())
        assertEquals(null, config.appState)
        assertEquals(null, config.network)
    }

    @Test
    fun queueConfigCarriesThePlatformPolicy() {
        val config = defaultQueueConfig(dir.resolve("x.db").toString())
        assertEquals(8L * 1024L * 1024L, config.largeFileThreshold)
        assertEquals(6, config.maxPlatformTasks)
        assertTrue(config.platformStallTimeout > java.time.Duration.ZERO)
        assertTrue(config.queueStallAfter > java.time.Duration.ZERO)
        // A server's Retry-After is honoured for at most 15 minutes.
        assertEquals(java.time.Duration.ofMinutes(15), config.retryMaxServerDelay)
    }

    /**
     * With `keepAppRunning`, work queued in the foreground asks the service to keep the app
     * running (Android: a user-initiated job); while it is kept even a large file is sent
     * in-process, into the background, and the app is let stop once nothing is left.
     */
    @Test
    fun aKeptAppSendsEvenALargeFileInProcessAndIsLetStopWhenDone() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("keep-alive")
            val platform = RecordingPlatform(RecordingPlatform.Behaviour.UPLOAD)
            val config = config(THRESHOLD.toLong()).copy(keepAppRunning = true)
            val queue = TransferQueue.openWithPlatform(config, platform).also { platform.attach(it) }
            val (big, bigSha) = randomFile(dir, "big.bin", THRESHOLD * 2)
            val id = queue.enqueue(put(big, "$prefix/big.bin"))
            queue.enterBackground()
            queue.awaitIdle(id)
            while (platform.letAppStopCalls == 0) kotlinx.coroutines.delay(10)

            assertEquals(TransferState.Succeeded, queue.get(id).state)
            assertStoredOnce("$prefix/big.bin", bigSha)
            assertEquals(0, platform.handoffs.size, "nothing went to the OS")
            assertEquals(listOf((THRESHOLD * 2).toLong()), platform.keepAppRunningCalls.toList())
            assertEquals(1, platform.letAppStopCalls)
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun largeFileIsHandedOffUploadedByKotlinAndSucceeds() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("platform")
            val platform = RecordingPlatform(RecordingPlatform.Behaviour.UPLOAD)
            val queue = open(platform, THRESHOLD.toLong())
            assertTrue(platform.outstandingCalls >= 1, "outstanding() is asked at open")
            val (big, bigSha) = randomFile(dir, "big.bin", THRESHOLD)
            val (small, smallSha) = randomFile(dir, "small.bin", 4096)
            val bigId = queue.enqueue(put(big, "$prefix/big.bin"))
            val smallId = queue.enqueue(put(small, "$prefix/small.bin"))

            platform.awaitHandoffs(1)
            queue.awaitIdle(bigId, smallId)

            assertEquals(1, platform.handoffs.size, "only the large file goes to the platform")
            val handoff = platform.handoffs.single()
            assertEquals(bigId, handoff.transferId)
            assertEquals(THRESHOLD.toLong(), handoff.expectedBytes)
            assertEquals("PUT", handoff.method)
            assertEquals(Testkit.url("$prefix/big.bin"), handoff.url)
            assertTrue(handoff.key.isNotEmpty())
            assertEquals(
                bigId.toString(),
                handoff.headers.firstOrNull { it.name.equals("Idempotency-Key", ignoreCase = true) }?.value,
                "the handoff carries the transfer's idempotency key",
            )
            assertEquals(listOf(handoff.key to 201), platform.finishedReports.toList())

            assertEquals(TransferState.Succeeded, queue.get(bigId).state)
            assertEquals(TransferState.Succeeded, queue.get(smallId).state)
            assertStoredOnce("$prefix/big.bin", bigSha)
            assertStoredOnce("$prefix/small.bin", smallSha)
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun openRequeuesAHandoffTheServiceNoLongerHas() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("reconcile")
            val (file, sha) = randomFile(dir, "lost.bin", THRESHOLD * 2)
            val (id, _) = leaveAHandoffRunning(file, "$prefix/lost.bin")

            // The OS lost the task: nothing outstanding. Out of the threshold's reach, the
            // transfer then runs in-process.
            val forgetful = RecordingPlatform(RecordingPlatform.Behaviour.HOLD, outstandingKeys = emptyList())
            val queue = open(forgetful, Long.MAX_VALUE)
            assertTrue(forgetful.outstandingCalls >= 1, "outstanding() is asked at open")
            queue.awaitIdle(id)
            assertEquals(TransferState.Succeeded, queue.get(id).state)
            assertTrue(forgetful.handoffs.isEmpty())
            assertStoredOnce("$prefix/lost.bin", sha)
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun openKeepsAHandoffTheServiceStillHasAndItsReportFinishesIt() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("survivor")
            val (file, sha) = randomFile(dir, "kept.bin", THRESHOLD)
            val (id, handoff) = leaveAHandoffRunning(file, "$prefix/kept.bin")

            val survivor = RecordingPlatform(RecordingPlatform.Behaviour.HOLD, outstandingKeys = listOf(handoff.key))
            val queue = open(survivor, Long.MAX_VALUE)
            assertTrue(survivor.outstandingCalls >= 1)
            assertEquals(TransferState.Running(Lane.Platform(handoff.key)), queue.get(id).state)

            // The OS task finishes after the relaunch: the shim uploads and reports it.
            val outcome = RecordingPlatform.upload(handoff)
            assertEquals(201, (outcome as PlatformOutcome.Response).status.toInt())
            queue.platformProgress(handoff.key, handoff.expectedBytes, handoff.expectedBytes)
            queue.platformFinished(handoff.key, outcome)
            queue.awaitIdle(id)
            assertEquals(TransferState.Succeeded, queue.get(id).state)
            assertTrue(survivor.handoffs.isEmpty(), "nothing was handed off again")
            assertStoredOnce("$prefix/kept.bin", sha)
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun aServiceThatThrowsFromOutstandingKeepsTheRecordUntilItIsTakenBack() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("broken-shim")
            val (file, sha) = randomFile(dir, "orphan.bin", THRESHOLD)
            val (id, handoff) = leaveAHandoffRunning(file, "$prefix/orphan.bin")

            // A Kotlin exception from outstanding() neither crashes the app nor fails the
            // open: Ferry keeps the record on the platform, and in the foreground takes the
            // task back once it has made no progress for platformStallTimeout.
            val broken = RecordingPlatform(RecordingPlatform.Behaviour.THROW_ON_OUTSTANDING)
            val config = config(Long.MAX_VALUE).copy(platformStallTimeout = java.time.Duration.ofSeconds(1))
            val queue = TransferQueue.openWithPlatform(config, broken).also { broken.attach(it) }
            assertTrue(broken.outstandingCalls >= 1)
            assertEquals(TransferState.Running(Lane.Platform(handoff.key)), queue.get(id).state)
            queue.awaitIdle(id)
            assertEquals(TransferState.Succeeded, queue.get(id).state)
            // Ferry's platform driver cancels after the take-back is committed, on its own
            // thread; the in-process retry may finish first. Wait for it, bounded.
            for (attempt in 0 until 200) {
                if (handoff.key in broken.cancelled) break
                kotlinx.coroutines.delay(10)
            }
            assertTrue(handoff.key in broken.cancelled, "the stalled OS task is cancelled")
            assertStoredOnce("$prefix/orphan.bin", sha)
            queue.shutdown()
            queue.close()
        }
    }

    @Test
    fun aRefusalFromStartIsRecordedAsAPlatformFailure() = runBlocking {
        withTimeout(GUARD_MS) {
            val prefix = Testkit.uniquePrefix("refused")
            val refusing = RecordingPlatform(RecordingPlatform.Behaviour.REFUSE)
            // Backoff is full-jitter, so a retry may come at once: assert on the error only.
            val config = config(THRESHOLD.toLong())
            val queue = TransferQueue.openWithPlatform(config, refusing).also { refusing.attach(it) }
            val (file, _) = randomFile(dir, "refused.bin", THRESHOLD)
            val id = queue.enqueue(put(file, "$prefix/refused.bin"))
            refusing.awaitHandoffs(1)
            var transfer = queue.get(id)
            while (transfer.lastError == null) {
                kotlinx.coroutines.delay(20)
                transfer = queue.get(id)
            }
            assertEquals(FailureKind.PLATFORM, transfer.lastError?.kind)
            assertTrue(
                transfer.lastError!!.message.contains("the OS task queue is full"),
                "the shim's reason reaches the transfer: ${transfer.lastError}",
            )
            assertTrue(transfer.state != TransferState.Succeeded && transfer.state != TransferState.Failed)
            assertEquals(id, refusing.handoffs.first().transferId)
            queue.cancel(id)
            queue.shutdown()
            queue.close()
        }
    }

    /**
     * Opens a queue whose service holds every handoff, enqueues [file], waits for its
     * handoff and shuts the queue down with the transfer still on the platform.
     */
    private suspend fun leaveAHandoffRunning(file: Path, path: String): Pair<java.util.UUID, Handoff> {
        val holder = RecordingPlatform(RecordingPlatform.Behaviour.HOLD)
        val queue = open(holder, THRESHOLD.toLong())
        val id = queue.enqueue(put(file, path))
        val handoff = holder.awaitHandoffs(1).single()
        assertEquals(id, handoff.transferId)
        assertEquals(TransferState.Running(Lane.Platform(handoff.key)), queue.get(id).state)
        queue.shutdown()
        queue.close()
        return id to handoff
    }
}
