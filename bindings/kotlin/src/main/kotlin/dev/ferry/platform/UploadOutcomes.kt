// How an Android upload's end becomes a `PlatformOutcome` for Ferry: the HTTP status and
// headers when the server answered, else an error kind (network, stopped by the user,
// stopped by the system, other). Pure translation: it must never decide a retry; the
// core classifies every outcome.
package dev.ferry.platform

import dev.ferry.Header
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import java.io.FileNotFoundException
import java.io.IOException
import java.io.InterruptedIOException
import java.net.ConnectException
import java.net.NoRouteToHostException
import java.net.PortUnreachableException
import java.net.SocketException
import java.net.UnknownHostException
import javax.net.ssl.SSLException

/**
 * Why Android stopped a worker or job: the values of `android.app.job.JobParameters`
 * `STOP_REASON_*` (API 31+), which WorkManager's `WorkInfo.STOP_REASON_*` mirror.
 */
object StopReasons {
    const val UNDEFINED = 0
    const val CANCELLED_BY_APP = 1
    const val PREEMPT = 2
    const val TIMEOUT = 3
    const val DEVICE_STATE = 4
    const val CONSTRAINT_CONNECTIVITY = 7
    const val QUOTA = 10
    const val BACKGROUND_RESTRICTION = 11
    const val APP_STANDBY = 12

    /** The user stopped the app's work (Task Manager "Stop", or a user-initiated job's stop). */
    const val USER = 13
    const val SYSTEM_PROCESSING = 14
}

object UploadOutcomes {
    /** The server answered: its status, headers and the body's first bytes. */
    fun response(
        status: Int,
        headers: List<Header>,
        body: ByteArray = ByteArray(0),
        bodyTruncated: Boolean = false,
    ): PlatformOutcome =
        PlatformOutcome.Response(status.coerceIn(0, 65_535), headers, body, bodyTruncated)

    /**
     * The worker or job was stopped before the upload ended. The user's stop becomes
     * "cancelled by user"; any other reason is the system's. The core queues the work
     * again in both cases.
     */
    fun stopped(reason: Int): PlatformOutcome =
        if (reason == StopReasons.USER) {
            PlatformOutcome.Failed(PlatformFailure.CANCELLED_BY_USER, "stopped by the user")
        } else {
            PlatformOutcome.Failed(PlatformFailure.CANCELLED_BY_SYSTEM, "stopped by Android (reason $reason)")
        }

    /** The upload failed without a response. */
    fun failed(error: Throwable): PlatformOutcome =
        PlatformOutcome.Failed(failureKind(error), error.message ?: error.javaClass.simpleName)

    fun failureKind(error: Throwable): PlatformFailure = when (error) {
        // The body file is gone: nothing the network can fix.
        is FileNotFoundException -> PlatformFailure.OTHER
        is UnknownHostException, is ConnectException, is NoRouteToHostException,
        is PortUnreachableException, is SocketException, is InterruptedIOException,
        is SSLException -> PlatformFailure.NETWORK
        is IOException -> PlatformFailure.NETWORK
        else -> PlatformFailure.OTHER
    }
}
