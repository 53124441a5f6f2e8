// What an Android shim asks of the OS for one handoff, as plain data: the unique work
// name, the network it needs, which runner carries it (WorkManager or, on Android 14+, a
// user-initiated data-transfer job) and its size hint. Pure translation of the core's
// decision and of Android's documented rules; it must never choose *what* to transfer, how
// many at once, or when to retry: that is the core's policy.
package dev.ferry.platform

import dev.ferry.Handoff

/** The network a task may use. */
enum class RequiredNetwork {
    /** Any connected network (WorkManager `NetworkType.CONNECTED`). */
    CONNECTED,

    /** Wi-Fi or another network the user does not pay for (`NetworkType.UNMETERED`). */
    UNMETERED,
}

/** Which Android mechanism runs the transfer. */
enum class Runner {
    /** A long-running `CoroutineWorker` with a foreground notification. */
    WORK_MANAGER,

    /** A user-initiated data-transfer job (`JobInfo.Builder.setUserInitiated`, API 34+). */
    USER_INITIATED_JOB,
}

/** What the app tells the mapper about the device and itself, at hand-off time. */
data class PlatformContext(
    /** `Build.VERSION.SDK_INT`. */
    val sdkInt: Int,
    /** Whether an activity of the app is visible (user-initiated jobs need that). */
    val appVisible: Boolean,
    /** The app opted in to user-initiated jobs (it holds RUN_USER_INITIATED_JOBS). */
    val userInitiatedJobs: Boolean,
)

/** One handoff as Android work. */
data class TransferWorkSpec(
    val handoffKey: String,
    /** `WorkManager.enqueueUniqueWork` name: one piece of work per handoff, ever. */
    val uniqueWorkName: String,
    /** Tags: every Ferry task carries [WorkSpecMapper.TAG]; a second tag carries the key. */
    val tags: Set<String>,
    val network: RequiredNetwork,
    val runner: Runner,
    /** `JobInfo.Builder.setEstimatedNetworkBytes(download, upload = this)`; 0 for a download. */
    val estimatedUploadBytes: Long,
    /** `JobInfo.Builder.setEstimatedNetworkBytes(download = this, upload)`: a download's segment, else 0. */
    val estimatedDownloadBytes: Long,
    /** A stable JobScheduler id for the user-initiated job of this handoff. */
    val jobId: Int,
)

object WorkSpecMapper {
    /** Tag of every Ferry task, upload or download (named before downloads existed): `outstanding()` lists work with it. */
    const val TAG = "dev.ferry.upload"
    private const val KEY_TAG_PREFIX = "dev.ferry.key:"

    /** Android 14 (API 34): the first with user-initiated data-transfer jobs. */
    const val USER_INITIATED_JOBS_SDK = 34

    fun map(handoff: Handoff, context: PlatformContext): TransferWorkSpec = TransferWorkSpec(
        handoffKey = handoff.key,
        uniqueWorkName = uniqueWorkName(handoff.key),
        tags = setOf(TAG, KEY_TAG_PREFIX + handoff.key),
        network = network(handoff),
        runner = runner(context),
        estimatedUploadBytes = if (handoff.download == null) handoff.expectedBytes else 0,
        estimatedDownloadBytes = if (handoff.download != null) handoff.expectedBytes else 0,
        jobId = jobId(handoff.key),
    )

    fun uniqueWorkName(handoffKey: String): String = "dev.ferry.upload/$handoffKey"

    /** The handoff key a task's tags carry, if it is a Ferry task. */
    fun handoffKey(tags: Collection<String>): String? =
        if (TAG in tags) tags.firstOrNull { it.startsWith(KEY_TAG_PREFIX) }?.removePrefix(KEY_TAG_PREFIX) else null

    /**
     * Unmetered when the handoff may not use an expensive network. Android has no separate
     * "constrained" (Low Data Mode) network type; Data Saver restricts metered networks, so
     * a handoff that may not use a constrained network also asks for an unmetered one.
     */
    fun network(handoff: Handoff): RequiredNetwork =
        if (handoff.allowExpensive && handoff.allowConstrained) RequiredNetwork.CONNECTED else RequiredNetwork.UNMETERED

    /**
     * A user-initiated job only where Android allows one: API 34+, the app opted in, and
     * the app is visible (a job scheduled otherwise fails at once, os-model rule 15).
     */
    fun runner(context: PlatformContext): Runner =
        if (userInitiatedRefusal(context) == null) Runner.USER_INITIATED_JOB else Runner.WORK_MANAGER

    /**
     * The JobScheduler id of the one user-initiated job that keeps the app running while the
     * core sends in-process (`PlatformTransferService.keepAppRunning`). Handoff job ids are
     * non-negative ([jobId]), so a negative id never collides with them.
     */
    const val KEEP_ALIVE_JOB_ID = -0x4652

    /**
     * Why no user-initiated job may be scheduled now (null: one may): for a handoff
     * ([runner]) or to keep the app running ([KEEP_ALIVE_JOB_ID]).
     */
    fun userInitiatedRefusal(context: PlatformContext): String? = when {
        context.sdkInt < USER_INITIATED_JOBS_SDK -> "user-initiated jobs need Android 14 (API 34)"
        !context.userInitiatedJobs -> "the app did not opt in to user-initiated jobs (RUN_USER_INITIATED_JOBS)"
        !context.appVisible -> "a user-initiated job can only be scheduled while the app is visible"
        else -> null
    }

    /** Non-negative and stable for a key; collisions only matter between live jobs. */
    fun jobId(handoffKey: String): Int = handoffKey.hashCode() and Int.MAX_VALUE
}
