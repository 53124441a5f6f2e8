// The WorkManager side of the Android shim: one long-running CoroutineWorker per handoff,
// in the foreground (dataSync) with a notification, running the stored handoff once (an
// upload, or a download's segment) and reporting how it ended. It never returns
// Result.retry(): retrying is the core's policy. Stops are reported (the user's as
// "cancelled by user"), and the work is then cancelled so WorkManager does not run it
// again behind the core's back. After process death
// WorkManager runs persisted work again; that run reports through the same journal.
package dev.ferry.android

import android.content.Context
import android.content.pm.ServiceInfo
import android.os.Build
import androidx.work.CoroutineWorker
import androidx.work.ForegroundInfo
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import dev.ferry.platform.HandoffRunner
import dev.ferry.platform.StopReasons
import dev.ferry.platform.TransferStopped
import dev.ferry.platform.UploadOutcomes
import dev.ferry.platform.WorkSpecMapper
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.isActive
import kotlinx.coroutines.runInterruptible
import kotlinx.coroutines.withContext

class UploadWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    private val service = WorkManagerTransferService.get(context)

    override suspend fun doWork(): Result {
        val key = inputData.getString(WorkManagerTransferService.INPUT_KEY) ?: return Result.failure()
        val handoff = service.handoffs.load(key)
            ?: return Result.success() // cancelled or already reported: nothing left to do
        setForeground(foregroundInfo(handoff.url, handoff.download != null))
        return try {
            val outcome = runInterruptible(Dispatchers.IO) {
                HandoffRunner(responseBodyLimit = service.responseBodyLimit).run(
                    handoff,
                    onProgress = { sent, total -> service.relay.progress(key, sent, total) },
                    isCancelled = { isStopped },
                )
            }
            service.finished(key, outcome)
            Result.success()
        } catch (e: CancellationException) {
            reportStop(key)
            throw e
        } catch (e: TransferStopped) {
            reportStop(key)
            Result.failure()
        }
    }

    private suspend fun reportStop(key: String) = withContext(NonCancellable) {
        val reason = if (Build.VERSION.SDK_INT >= 31) stopReason else StopReasons.UNDEFINED
        // Ferry's own cancel() already dropped the handoff: nothing to report then.
        if (service.handoffs.load(key) == null) return@withContext
        service.finished(key, UploadOutcomes.stopped(reason))
        WorkManager.getInstance(applicationContext).cancelUniqueWork(WorkSpecMapper.uniqueWorkName(key))
    }

    override suspend fun getForegroundInfo(): ForegroundInfo = foregroundInfo(null, false)

    private fun foregroundInfo(url: String?, download: Boolean): ForegroundInfo {
        val notification = Notifications.transferring(applicationContext, url, download)
        return if (Build.VERSION.SDK_INT >= 29) {
            ForegroundInfo(Notifications.ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC)
        } else {
            ForegroundInfo(Notifications.ID, notification)
        }
    }
}
