// Ferry's platform lane on Android: a PlatformTransferService over WorkManager (and, on
// Android 14+, user-initiated data-transfer jobs: per handoff, and the one KeepAliveJob
// that keeps the app running while the core sends in-process). It schedules, cancels and lists OS
// work and carries its reports; which transfer goes to the OS, how many at once, retries
// and limits are the core's. The Android-free logic lives in dev.ferry.platform
// (bindings/kotlin), tested on the JVM: WorkSpecMapper, UploadOutcomes, HandoffRunner
// (HttpUploader, HttpDownloader), HandoffStore, ReportJournal, ReportRelay.
package dev.ferry.android

import android.app.job.JobInfo
import android.app.job.JobScheduler
import android.content.ComponentName
import android.content.Context
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.os.Build
import androidx.work.Constraints
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.OutOfQuotaPolicy
import androidx.work.WorkManager
import androidx.work.workDataOf
import dev.ferry.Handoff
import dev.ferry.PlatformException
import dev.ferry.PlatformTransferService
import dev.ferry.TransferQueue
import dev.ferry.platform.HandoffStore
import dev.ferry.platform.PlatformContext
import dev.ferry.platform.QueueReportSink
import dev.ferry.platform.ReportJournal
import dev.ferry.platform.ReportRelay
import dev.ferry.platform.RequiredNetwork
import dev.ferry.platform.Runner
import dev.ferry.platform.TransferWorkSpec
import dev.ferry.platform.WorkSpecMapper
import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch

/**
 * Create one per process (in `Application.onCreate`), open the queue with it, attach:
 *
 * ```kotlin
 * val service = WorkManagerTransferService.get(context)
 * val queue = TransferQueue.openWithPlatform(config, service)
 * service.attach(queue)
 * ```
 */
class WorkManagerTransferService private constructor(private val context: Context) : PlatformTransferService {
    companion object {
        @Volatile
        private var instance: WorkManagerTransferService? = null

        /** The process's service; workers and jobs report through it. */
        fun get(context: Context): WorkManagerTransferService =
            instance ?: synchronized(this) {
                instance ?: WorkManagerTransferService(context.applicationContext).also { instance = it }
            }

        /** Sets [appVisible] of the process's service, if one was made ([QueueLifecycle]). */
        internal fun appVisibleChanged(visible: Boolean) {
            instance?.appVisible = visible
        }

        internal const val INPUT_KEY = "dev.ferry.handoff_key"
    }

    private val directory = File(context.noBackupFilesDir, "ferry-platform")
    internal val handoffs = HandoffStore(File(directory, "handoffs"))
    internal val relay = ReportRelay(ReportJournal(File(directory, "reports.bin")))
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    /** Whether an activity is visible: user-initiated jobs may only be scheduled then. */
    @Volatile
    var appVisible: Boolean = false

    /**
     * The most bytes of a server's answer a worker passes back: the queue's
     * `responseBodyLimit` (set by [openWithWorkManager]; 64 KiB, the default, for workers
     * that run before a queue is opened; the core cuts a longer body again).
     */
    @Volatile
    var responseBodyLimit: Int = 64 * 1024

    /** Opt in to user-initiated data-transfer jobs (needs RUN_USER_INITIATED_JOBS). */
    @Volatile
    var userInitiatedJobs: Boolean = false

    fun attach(queue: TransferQueue) {
        attached = queue
        relay.attach(QueueReportSink(queue))
        pruneSoon()
    }

    fun detach() {
        attached = null
        relay.detach()
    }

    @Volatile
    private var attached: TransferQueue? = null

    /** The running keep-alive job ([KeepAliveJob]), to finish when the core lets go. */
    @Volatile
    private var keepAlive: Pair<android.app.job.JobService, android.app.job.JobParameters>? = null

    // PlatformTransferService: Ferry's threads, each returns at once.

    override fun start(handoff: Handoff) {
        handoffs.save(handoff)
        relay.started(handoff.key)
        val spec = WorkSpecMapper.map(
            handoff,
            PlatformContext(Build.VERSION.SDK_INT, appVisible, userInitiatedJobs),
        )
        if (spec.runner == Runner.USER_INITIATED_JOB && Build.VERSION.SDK_INT >= 34) {
            scheduleUserInitiatedJob(spec, handoff.key)
            return
        }
        val network = when (spec.network) {
            RequiredNetwork.CONNECTED -> NetworkType.CONNECTED
            RequiredNetwork.UNMETERED -> NetworkType.UNMETERED
        }
        val request = OneTimeWorkRequestBuilder<UploadWorker>()
            .setConstraints(Constraints.Builder().setRequiredNetworkType(network).build())
            .setInputData(workDataOf(INPUT_KEY to handoff.key))
            // Expedited where quota allows, else as normal work: a scheduling hint, not policy.
            .setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST)
            .apply { spec.tags.forEach { addTag(it) } }
            .build()
        WorkManager.getInstance(context).enqueueUniqueWork(spec.uniqueWorkName, ExistingWorkPolicy.KEEP, request)
    }

    override fun cancel(handoffKey: String) {
        relay.cancelled(handoffKey)
        WorkManager.getInstance(context).cancelUniqueWork(WorkSpecMapper.uniqueWorkName(handoffKey))
        if (Build.VERSION.SDK_INT >= 34) {
            context.getSystemService(JobScheduler::class.java)?.cancel(WorkSpecMapper.jobId(handoffKey))
        }
        handoffs.remove(handoffKey)
    }

    /**
     * Schedules the one user-initiated job ([KeepAliveJob]) that keeps the process running
     * while the core sends in-process. Throws [PlatformException.Refused] where Android
     * does not allow one (see [WorkSpecMapper.userInitiatedRefusal]) or JobScheduler says no.
     */
    override fun keepAppRunning(remainingBytes: Long) {
        val platform = PlatformContext(Build.VERSION.SDK_INT, appVisible, userInitiatedJobs)
        WorkSpecMapper.userInitiatedRefusal(platform)?.let { throw PlatformException.Refused(it) }
        if (Build.VERSION.SDK_INT < 34) return // unreachable: refused above; for the compiler's API check
        val network = NetworkRequest.Builder().addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET).build()
        val job = JobInfo.Builder(WorkSpecMapper.KEEP_ALIVE_JOB_ID, ComponentName(context, KeepAliveJob::class.java))
            .setUserInitiated(true)
            .setRequiredNetwork(network)
            .setEstimatedNetworkBytes(JobInfo.NETWORK_BYTES_UNKNOWN, remainingBytes.coerceAtLeast(0))
            .build()
        val scheduler = context.getSystemService(JobScheduler::class.java)
        keepAliveWanted = true // before the job can start
        if (scheduler?.schedule(job) != JobScheduler.RESULT_SUCCESS) {
            keepAliveWanted = false
            throw PlatformException.Refused("JobScheduler refused the user-initiated job")
        }
    }

    /** Finishes the keep-alive job (or drops it if it has not started yet). */
    override fun letAppStop() {
        keepAliveWanted = false
        val running = keepAlive
        keepAlive = null
        if (running != null) {
            running.first.jobFinished(running.second, false)
        } else if (Build.VERSION.SDK_INT >= 34) {
            context.getSystemService(JobScheduler::class.java)?.cancel(WorkSpecMapper.KEEP_ALIVE_JOB_ID)
        }
    }

    /**
     * The keep-alive job started. False when this process never asked for it (JobScheduler
     * rescheduled one an earlier process held): the job must end at once, as no core here
     * would ever let it go.
     */
    internal fun keepAliveStarted(job: android.app.job.JobService, params: android.app.job.JobParameters): Boolean {
        if (!keepAliveWanted) return false
        keepAlive = job to params
        return true
    }

    /** Set once this process's core asked for the keep-alive, cleared when it lets go. */
    @Volatile
    private var keepAliveWanted = false

    /** The OS stopped the keep-alive job: the core hands its work to WorkManager. */
    internal fun keepAliveStopped(stopReason: Int) {
        keepAlive = null
        if (stopReason == android.app.job.JobParameters.STOP_REASON_CANCELLED_BY_APP) return // letAppStop
        runCatching { attached?.keepAliveEnded() } // Closed: no queue to tell
    }

    /**
     * The keys of unfinished work and of reports the relay still holds. Throws
     * [PlatformException.Refused] when WorkManager does not answer within 10 s: Ferry then
     * keeps its records (and asks again at the next open) instead of taking an empty list
     * for "every task was lost", which would send every OS upload again.
     */
    override fun outstanding(): List<String> {
        val keys = HashSet(relay.queuedKeys)
        val infos = try {
            WorkManager.getInstance(context).getWorkInfosByTag(WorkSpecMapper.TAG).get(10, TimeUnit.SECONDS)
        } catch (error: Exception) {
            throw PlatformException.Refused("WorkManager did not list its work within 10 s: $error")
        }
        for (info in infos) {
            if (!info.state.isFinished) WorkSpecMapper.handoffKey(info.tags)?.let(keys::add)
        }
        if (Build.VERSION.SDK_INT >= 34) {
            val jobs = context.getSystemService(JobScheduler::class.java)?.allPendingJobs.orEmpty()
            for (job in jobs) job.extras.getString(INPUT_KEY)?.let(keys::add)
        }
        return keys.sorted()
    }

    // Reports from workers and jobs.

    internal fun finished(key: String, outcome: dev.ferry.PlatformOutcome) {
        relay.finished(key, outcome)
        handoffs.remove(key)
        pruneSoon()
    }

    private fun pruneSoon() {
        scope.launch { relay.pruneDelivered() }
    }

    private fun scheduleUserInitiatedJob(spec: TransferWorkSpec, key: String) {
        val capabilities = NetworkRequest.Builder().addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
        if (spec.network == RequiredNetwork.UNMETERED) capabilities.addCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED)
        val job = JobInfo.Builder(spec.jobId, ComponentName(context, UserInitiatedUploadJob::class.java))
            .setUserInitiated(true)
            .setRequiredNetwork(capabilities.build())
            .setEstimatedNetworkBytes(spec.estimatedDownloadBytes, spec.estimatedUploadBytes)
            .setExtras(android.os.PersistableBundle().apply { putString(INPUT_KEY, key) })
            .build()
        val scheduler = context.getSystemService(JobScheduler::class.java)
        if (scheduler?.schedule(job) != JobScheduler.RESULT_SUCCESS) {
            // Not visible after all, or refused: the same handoff runs as WorkManager work.
            userInitiatedFallback(key)
        }
    }

    private fun userInitiatedFallback(key: String) {
        val handoff = handoffs.load(key) ?: return
        val visible = appVisible
        appVisible = false
        try {
            start(handoff)
        } finally {
            appVisible = visible
        }
    }
}
