// Kotlin sugar over the generated bindings: the queue's events as a cold Flow, or a hot
// one that keeps what happens before the first collect; both complete at shutdown.
package dev.ferry

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.takeWhile

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
 * The queue's events, subscribed at once: call it before enqueueing, and every event from
 * then on reaches collectors that start later, up to the last [replay] events (older ones
 * are dropped, oldest first; a collector far behind should call [TransferQueue.list]).
 * Nothing is lost between `enqueue` and a first `collect` that comes late.
 *
 * Every collection completes once the queue has shut down (after the kept events, for a
 * collector that starts later). The subscription lives until then or until [scope] is
 * cancelled, whichever comes first.
 */
fun TransferQueue.events(scope: CoroutineScope, replay: Int = 1024): Flow<TransferEvent> {
    require(replay > 0) { "replay must be at least 1, was $replay" }
    // `null` marks the queue's end; it is the last value, so it is never dropped.
    val flow = MutableSharedFlow<TransferEvent?>(replay = replay + 1, onBufferOverflow = BufferOverflow.DROP_OLDEST)
    // Subscribed before this returns, so an `enqueue` right after cannot overtake it.
    val subscription = subscribe(
        object : TransferObserver {
            override fun onEvent(event: TransferEvent) {
                // Never fails: DROP_OLDEST makes room.
                flow.tryEmit(event)
            }

            override fun onEnd() {
                flow.tryEmit(null)
            }
        },
    )
    scope.coroutineContext[Job]?.invokeOnCompletion {
        subscription.unsubscribe()
        subscription.close()
    }
    return flow.takeWhile { it != null }.filterNotNull()
}
