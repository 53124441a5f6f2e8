// One call to open a queue whose OS lane is WorkManager: the shim is fetched, the queue
// opened with it, and the shim attached (which replays reports journaled while closed).
// Not built on Linux (needs the Android SDK); the calls it makes are tested on the JVM.
package dev.ferry.android

import android.content.Context
import dev.ferry.QueueConfig
import dev.ferry.RequestAuthorizer
import dev.ferry.TransferQueue
import dev.ferry.open

/**
 * Opens the queue with this process's [WorkManagerTransferService], attached at once:
 * reports that workers journaled while no queue was open are delivered.
 *
 * With `config.keepAppRunning` (Android 14+, RUN_USER_INITIATED_JOBS declared), the
 * service may schedule user-initiated jobs: the core keeps the app running with one
 * while work is queued, and sends it in-process through Doze.
 *
 * @throws dev.ferry.FerryException as [TransferQueue.Companion.open] does.
 */
suspend fun TransferQueue.Companion.openWithWorkManager(
    context: Context,
    config: QueueConfig,
    authorizer: RequestAuthorizer? = null,
): TransferQueue {
    val service = WorkManagerTransferService.get(context)
    service.responseBodyLimit = config.responseBodyLimit.coerceIn(0L, Int.MAX_VALUE.toLong()).toInt()
    if (config.keepAppRunning) service.userInitiatedJobs = true
    val queue = open(config, platform = service, authorizer = authorizer)
    service.attach(queue)
    return queue
}
