// Android 14+: the one user-initiated data-transfer job that keeps the app running while
// Ferry's core sends its queue in-process (QueueConfig.keepAppRunning). It shows the
// notification Android requires and transfers nothing itself: it ends when the core lets
// the app stop (WorkManagerTransferService.letAppStop). When the OS stops it (the user's
// Stop, lost network), the core hears keepAliveEnded() and hands the work to WorkManager.
// Not built on Linux (needs the Android SDK).
package dev.ferry.android

import android.app.job.JobParameters
import android.app.job.JobService
import androidx.annotation.RequiresApi

@RequiresApi(34)
class KeepAliveJob : JobService() {
    override fun onStartJob(params: JobParameters): Boolean {
        // A job an earlier process asked for, rescheduled into this one: no core here
        // wants it, so it ends at once.
        if (!WorkManagerTransferService.get(this).keepAliveStarted(this, params)) return false
        setNotification(
            params, Notifications.ID, Notifications.sending(this),
            JobService.JOB_END_NOTIFICATION_POLICY_REMOVE,
        )
        return true // runs until letAppStop finishes it
    }

    override fun onStopJob(params: JobParameters): Boolean {
        WorkManagerTransferService.get(this).keepAliveStopped(params.stopReason)
        return false // the core decides what runs next
    }
}
