// Kotlin sugar over the generated bindings: the queue's events as a cold Flow.
package dev.ferry

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow

/**
 * Every [TransferEvent] of this queue from the moment collection starts, in order.
 *
 * Each collection subscribes its own [TransferObserver] through [TransferQueue.subscribe];
 * when the collector stops (cancelled, or an operator such as `take` completes), the
 * [EventSubscription] is unsubscribed and closed, so no event reaches a dead collector and
 * the Rust-side task ends.
 *
 * The observer runs on Ferry's own thread and must never block it, so events are buffered
 * without bound on the Kotlin side; a collector that falls far behind Ferry itself still
 * receives [TransferEvent.Lagged] from Rust and should call [TransferQueue.list] to catch up.
 *
 * The flow is cold: events that happen before collection starts are not replayed. It
 * completes after the queue shuts down.
 */
fun TransferQueue.events(): Flow<TransferEvent> =
    callbackFlow {
        val observer = object : TransferObserver {
            override fun onEvent(event: TransferEvent) {
                // Unlimited buffer: this only fails once the channel is closed, and then
                // nobody is listening any more.
                trySend(event)
            }

            override fun onEnd() {
                // The queue has shut down: the flow completes.
                channel.close()
            }
        }
        val subscription = subscribe(observer)
        awaitClose {
            subscription.unsubscribe()
            subscription.close()
        }
    }.buffer(Channel.UNLIMITED)
