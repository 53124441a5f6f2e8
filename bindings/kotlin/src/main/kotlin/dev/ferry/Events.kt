// Kotlin sugar over the generated bindings: the queue's events as a cold Flow, or a hot
// SharedFlow that keeps what happens before the first collect.
package dev.ferry

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.asSharedFlow
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
 * The flow is cold: events that happen before collection starts are not replayed (use
 * `events(scope)` for a hot stream that keeps them, or `watch(id)`, which starts with the
 * transfer's current record). It completes after the queue shuts down.
 */
fun TransferQueue.events(): Flow<TransferEvent> =
    subscriptionFlow { deliver, end ->
        subscribe(
            object : TransferObserver {
                override fun onEvent(event: TransferEvent) = deliver(event)

                // The queue has shut down: the flow completes.
                override fun onEnd() = end()
            },
        )
    }

/**
 * A cold flow over one Ferry subscription per collection: [start] subscribes, handing its
 * callbacks `deliver` (one value) and `end` (no value follows; the flow completes). When
 * the collector stops, the subscription is unsubscribed and closed. Values are buffered
 * without bound, since Ferry's delivery thread must never block.
 */
internal fun <T> subscriptionFlow(
    start: suspend (deliver: (T) -> Unit, end: () -> Unit) -> EventSubscription,
): Flow<T> =
    callbackFlow {
        // Unlimited buffer: `trySend` only fails once the channel is closed, and then
        // nobody is listening any more.
        val subscription = start({ value -> trySend(value) }, { channel.close() })
        awaitClose {
            subscription.unsubscribe()
            subscription.close()
        }
    }.buffer(Channel.UNLIMITED)

/**
 * The queue's events as a hot [SharedFlow], subscribed at once: call it before enqueueing,
 * and every event from then on reaches collectors that start later, up to the last
 * [replay] events (older ones are dropped, oldest first). Nothing is lost between
 * `enqueue` and a first `collect` that comes late.
 *
 * The subscription lives as long as [scope]; cancel the scope to end it. Collectors never
 * complete on their own (a SharedFlow does not), so stop collecting when the queue shuts
 * down, e.g. with `takeWhile`.
 */
fun TransferQueue.events(scope: CoroutineScope, replay: Int = 1024): SharedFlow<TransferEvent> {
    require(replay > 0) { "replay must be at least 1, was $replay" }
    val flow = MutableSharedFlow<TransferEvent>(replay = replay, onBufferOverflow = BufferOverflow.DROP_OLDEST)
    // Subscribed before this returns, so an `enqueue` right after cannot overtake it.
    val subscription = subscribe(
        object : TransferObserver {
            override fun onEvent(event: TransferEvent) {
                // Never fails: DROP_OLDEST makes room.
                flow.tryEmit(event)
            }

            override fun onEnd() {}
        },
    )
    scope.coroutineContext[Job]?.invokeOnCompletion {
        subscription.unsubscribe()
        subscription.close()
    }
    return flow.asSharedFlow()
}
