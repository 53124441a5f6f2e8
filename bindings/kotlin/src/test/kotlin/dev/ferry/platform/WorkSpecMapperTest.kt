// The Android shim's pure mappings: a handoff to a work specification, and the end of an
// upload (answer, exception, stop reason) to a PlatformOutcome.
package dev.ferry.platform

import dev.ferry.Handoff
import dev.ferry.HandoffDownload
import dev.ferry.Header
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import java.io.FileNotFoundException
import java.io.IOException
import java.net.ConnectException
import java.net.SocketTimeoutException
import java.net.UnknownHostException
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

fun handoff(
    key: String = "t1.1",
    body: String = "/data/body.bin",
    url: String = "https://example.com/u/a.bin",
    expensive: Boolean = true,
    constrained: Boolean = true,
    bytes: Long = 5_000_000L,
    transferId: java.util.UUID = java.util.UUID.nameUUIDFromBytes(key.substringBefore('.').toByteArray()),
) = Handoff(
    key = key, transferId = transferId, bodyPath = body, url = url, method = "PUT",
    headers = listOf(Header("Idempotency-Key", transferId.toString())),
    expectedBytes = bytes, allowExpensive = expensive, allowConstrained = constrained, discretionary = false,
    ietfInteropVersion = null,
)

/** A download's handoff as Ferry builds one: a `GET` with `Range` for a bounded segment. */
fun downloadHandoff(
    key: String = "d1.1",
    url: String = "https://example.com/files/a.bin",
    first: Long = 0,
    last: Long? = 1023,
    path: String = "/data/.ferry-d1.seg-0",
    headers: List<Header> = listOfNotNull(
        Header("Accept-Encoding", "identity"),
        last?.let { Header("Range", "bytes=$first-$it") },
    ),
    transferId: java.util.UUID = java.util.UUID.nameUUIDFromBytes(key.substringBefore('.').toByteArray()),
) = Handoff(
    key = key, transferId = transferId, bodyPath = "", url = url, method = "GET", headers = headers,
    expectedBytes = last?.let { it - first + 1 } ?: 0, allowExpensive = true, allowConstrained = true,
    discretionary = true, ietfInteropVersion = null, download = HandoffDownload(first, last, path),
)

class WorkSpecMapperTest {
    private val foreground14 = PlatformContext(sdkInt = 34, appVisible = true, userInitiatedJobs = true)

    @Test
    fun eachHandoffIsUniqueWorkTaggedWithItsKey() {
        val spec = WorkSpecMapper.map(handoff("abc.2"), foreground14)
        assertEquals("dev.ferry.upload/abc.2", spec.uniqueWorkName)
        assertEquals("abc.2", WorkSpecMapper.handoffKey(spec.tags))
        assertNotEquals(spec.uniqueWorkName, WorkSpecMapper.map(handoff("abc.3"), foreground14).uniqueWorkName)
        assertNull(WorkSpecMapper.handoffKey(setOf("dev.ferry.key:abc.2")), "only Ferry-tagged work counts")
    }

    @Test
    fun unmeteredWhenExpensiveOrConstrainedNetworksAreNotAllowed() {
        assertEquals(RequiredNetwork.CONNECTED, WorkSpecMapper.map(handoff(), foreground14).network)
        assertEquals(RequiredNetwork.UNMETERED, WorkSpecMapper.map(handoff(expensive = false), foreground14).network)
        assertEquals(RequiredNetwork.UNMETERED, WorkSpecMapper.map(handoff(constrained = false), foreground14).network)
    }

    @Test
    fun userInitiatedJobOnlyOnAndroid14WhileVisibleAndOptedIn() {
        assertEquals(Runner.USER_INITIATED_JOB, WorkSpecMapper.map(handoff(), foreground14).runner)
        assertEquals(Runner.WORK_MANAGER, WorkSpecMapper.map(handoff(), foreground14.copy(appVisible = false)).runner)
        assertEquals(Runner.WORK_MANAGER, WorkSpecMapper.map(handoff(), foreground14.copy(sdkInt = 33)).runner)
        assertEquals(Runner.WORK_MANAGER, WorkSpecMapper.map(handoff(), foreground14.copy(userInitiatedJobs = false)).runner)
    }

    @Test
    fun aUserInitiatedJobIsRefusedWithTheReasonAndItsKeepAliveIdIsNoHandoffs() {
        assertEquals(null, WorkSpecMapper.userInitiatedRefusal(foreground14))
        val refusals = listOf(
            foreground14.copy(sdkInt = 33) to "Android 14",
            foreground14.copy(userInitiatedJobs = false) to "RUN_USER_INITIATED_JOBS",
            foreground14.copy(appVisible = false) to "visible",
        )
        for ((context, reason) in refusals) {
            val refusal = WorkSpecMapper.userInitiatedRefusal(context) ?: error("refused: $context")
            assertTrue(reason in refusal, refusal)
        }
        assertTrue(WorkSpecMapper.KEEP_ALIVE_JOB_ID < 0, "handoff job ids are never negative")
    }

    @Test
    fun sizeHintAndJobIdComeFromTheHandoff() {
        val spec = WorkSpecMapper.map(handoff(bytes = 123_456L), foreground14)
        assertEquals(123_456L, spec.estimatedUploadBytes)
        assertEquals(Long.MAX_VALUE, WorkSpecMapper.map(handoff(bytes = Long.MAX_VALUE), foreground14).estimatedUploadBytes)
        assertEquals(spec.jobId, WorkSpecMapper.jobId("t1.1"), "stable for a key")
        assertTrue(WorkSpecMapper.jobId("\u0000weird key") >= 0)
        assertEquals(0L, spec.estimatedDownloadBytes, "an upload receives nothing to speak of")
    }

    @Test
    fun aDownloadsSizeHintIsItsSegmentToReceive() {
        val spec = WorkSpecMapper.map(downloadHandoff(first = 1000, last = 1999), foreground14)
        assertEquals(1000L, spec.estimatedDownloadBytes)
        assertEquals(0L, spec.estimatedUploadBytes)
        assertEquals(0L, WorkSpecMapper.map(downloadHandoff(last = null), foreground14).estimatedDownloadBytes, "size unknown")
    }
}

class UploadOutcomesTest {
    @Test
    fun aResponseKeepsItsStatusAndHeaders() {
        val outcome = UploadOutcomes.response(503, listOf(Header("Retry-After", "7")))
        assertEquals(shown(PlatformOutcome.Response(503, listOf(Header("Retry-After", "7")), ByteArray(0), false)), shown(outcome))
    }

    @Test
    fun theUsersStopIsCancelledByUserAndEveryOtherStopIsTheSystems() {
        assertEquals(PlatformFailure.CANCELLED_BY_USER, (UploadOutcomes.stopped(StopReasons.USER) as PlatformOutcome.Failed).kind)
        for (reason in listOf(StopReasons.TIMEOUT, StopReasons.CONSTRAINT_CONNECTIVITY, StopReasons.QUOTA,
                              StopReasons.APP_STANDBY, StopReasons.UNDEFINED, StopReasons.CANCELLED_BY_APP)) {
            assertEquals(PlatformFailure.CANCELLED_BY_SYSTEM, (UploadOutcomes.stopped(reason) as PlatformOutcome.Failed).kind, "reason $reason")
        }
    }

    @Test
    fun connectionTroubleIsNetworkAndAMissingBodyIsOther() {
        assertEquals(PlatformFailure.NETWORK, UploadOutcomes.failureKind(ConnectException("refused")))
        assertEquals(PlatformFailure.NETWORK, UploadOutcomes.failureKind(UnknownHostException("x")))
        assertEquals(PlatformFailure.NETWORK, UploadOutcomes.failureKind(SocketTimeoutException("slow")))
        assertEquals(PlatformFailure.NETWORK, UploadOutcomes.failureKind(IOException("reset")))
        assertEquals(PlatformFailure.OTHER, UploadOutcomes.failureKind(FileNotFoundException("gone")))
        assertEquals(PlatformFailure.OTHER, UploadOutcomes.failureKind(IllegalStateException("bug")))
    }
}
