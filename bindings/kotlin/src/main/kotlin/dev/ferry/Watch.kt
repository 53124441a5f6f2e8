// Kotlin sugar over the generated bindings: one transfer's record as a Flow.
package dev.ferry

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

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
    callbackFlow {
        val watcher = object : TransferWatcher {
            override fun onRecord(transfer: Transfer) {
                // Unlimited buffer: this only fails once the channel is closed.
                trySend(transfer)
            }

            override fun onEnd() {
                channel.close()
            }
        }
        val subscription = watch(id, watcher)
        awaitClose {
            subscription.unsubscribe()
            subscription.close()
        }
    }.buffer(Channel.UNLIMITED)
