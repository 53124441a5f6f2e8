// The work of one handoff, as an Android worker or job runs it: a download's segment
// (`Handoff.download` set) with HttpDownloader, anything else as an upload with
// HttpUploader. One call is one attempt. It must never retry, wait or choose what runs:
// that is the core's.
package dev.ferry.platform

import dev.ferry.Handoff
import dev.ferry.PlatformOutcome
import java.io.IOException

/** The worker was stopped and the transfer abandoned: the worker reports the stop itself. */
open class TransferStopped(message: String) : IOException(message)

class HandoffRunner(
    /** The queue's `responseBodyLimit`: the most bytes of an upload's answer passed back. */
    private val responseBodyLimit: Int = 64 * 1024,
) {
    /**
     * Runs `handoff` once and returns how it ended. `onProgress(bytes, total)` counts the
     * bytes sent (an upload) or received (a download). Throws [TransferStopped] when
     * `isCancelled` turned true on the way.
     */
    fun run(
        handoff: Handoff,
        onProgress: (bytes: Long, total: Long) -> Unit = { _, _ -> },
        isCancelled: () -> Boolean = { false },
    ): PlatformOutcome =
        if (handoff.download != null) {
            HttpDownloader().download(handoff, onProgress, isCancelled)
        } else {
            HttpUploader(responseBodyLimit = responseBodyLimit).upload(handoff, onProgress, isCancelled)
        }
}
