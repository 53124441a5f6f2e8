// Kotlin sugar over the generated bindings: one transfer's record as a Flow.
package dev.ferry

import kotlinx.coroutines.flow.Flow

/**
 * The transfer's record now, then again after each change (a progress event updates
 * `bytesSent`), completing after the final one (succeeded, failed or cancelled).
 *
 * The first value is read when collection starts, after Ferry has subscribed, so nothing
 * that happened between [TransferQueue.enqueue] and the first `collect` is lost: the state
 * it left is the first value. Collecting twice follows the transfer twice.
 *
 * The flow fails with [FerryException] when `id` is not a transfer's, and completes when
 * the queue shuts down. Cancelling the collector unsubscribes.
 */
fun TransferQueue.watch(id: java.util.UUID): Flow<Transfer> =
    subscriptionFlow { deliver, end ->
        watch(
            id,
            object : TransferWatcher {
                override fun onRecord(transfer: Transfer) = deliver(transfer)

                override fun onEnd() = end()
            },
        )
    }
