// Android 14+: a user-initiated data-transfer job for one handoff, scheduled only while
// the app is visible (WorkManagerTransferService decides that from Android's rule, not
// from policy). It runs the handoff once (an upload, or a download's segment) and
// reports; a stop is reported (the user's "Stop" as "cancelled by user") and never
// rescheduled here: the core decides what runs next.
package dev.ferry.android

import android.app.job.JobParameters
import android.app.job.JobService
import android.os.Build
import androidx.annotation.RequiresApi
import dev.ferry.platform.HandoffRunner
import dev.ferry.platform.TransferStopped
import dev.ferry.platform.UploadOutcomes
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch

@RequiresApi(34)
class UserInitiatedUploadJob : JobService() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val stopped = ConcurrentHashMap<Int, AtomicBoolean>()

    override fun onStartJob(params: JobParameters): Boolean {
        val service = WorkManagerTransferService.get(this)
        val key = params.extras.getString(WorkManagerTransferService.INPUT_KEY) ?: return false
        val handoff = service.handoffs.load(key) ?: return false
        setNotification(
            params, Notifications.ID, Notifications.transferring(this, handoff.url, handoff.download != null),
            JobService.JOB_END_NOTIFICATION_POLICY_REMOVE,
        )
        val stop = AtomicBoolean(false).also { stopped[params.jobId] = it }
        scope.launch {
            try {
                val download = handoff.download != null
                val outcome = HandoffRunner(responseBodyLimit = service.responseBodyLimit).run(
                    handoff,
                    onProgress = { bytes, total ->
                        service.relay.progress(key, bytes, total)
                        if (download) {
                            updateTransferredNetworkBytes(params, bytes, 0)
                        } else {
                            updateTransferredNetworkBytes(params, 0, bytes)
                        }
                    },
                    isCancelled = { stop.get() },
                )
                service.finished(key, outcome)
            } catch (e: TransferStopped) {
                // onStopJob reported it.
            } finally {
                stopped.remove(params.jobId)
                jobFinished(params, false)
            }
        }
        return true
    }

    override fun onStopJob(params: JobParameters): Boolean {
        stopped[params.jobId]?.set(true)
        val key = params.extras.getString(WorkManagerTransferService.INPUT_KEY) ?: return false
        val service = WorkManagerTransferService.get(this)
        if (service.handoffs.load(key) != null) service.finished(key, UploadOutcomes.stopped(params.stopReason))
        return false // never rescheduled by the OS: the core requeues
    }
}
