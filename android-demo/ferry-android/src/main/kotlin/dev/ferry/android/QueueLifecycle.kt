// Tells a queue the app's state and network as they change, so the app does not wire
// ProcessLifecycleOwner and ConnectivityManager by hand. Not built on Linux (needs the
// Android SDK); it only forwards to calls the JVM suite tests.
package dev.ferry.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import dev.ferry.AppState
import dev.ferry.NetworkStatus
import dev.ferry.TransferQueue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch

/**
 * Observes the process's lifecycle and the default network and tells [queue]: the state
 * when created and on every change (leaving the foreground calls `enterBackground()`, so
 * WorkManager holds the queued work), the network as ConnectivityManager reports it; and
 * the process's [WorkManagerTransferService], if any, whether the app is visible.
 * Create it on the main thread after opening the queue; [stop] it before shutting down.
 */
class QueueLifecycle(context: Context, private val queue: TransferQueue) : DefaultLifecycleObserver {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    // One consumer, so the queue hears the changes in the order they happened (a quick
    // background-foreground switch must not end in the background). A change that fails
    // (the queue shut down) is dropped: the next one, or the next open, says it again.
    private val changes = Channel<suspend () -> Unit>(Channel.UNLIMITED)

    private fun tell(change: suspend () -> Unit) {
        changes.trySend(change)
    }
    private val connectivity = context.getSystemService(ConnectivityManager::class.java)
    private val networkCallback = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, capabilities: NetworkCapabilities) {
            val status = NetworkStatus(
                online = capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED),
                expensive = !capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED),
                // Data Saver: what iOS calls Low Data Mode.
                constrained = connectivity?.restrictBackgroundStatus ==
                    ConnectivityManager.RESTRICT_BACKGROUND_STATUS_ENABLED,
            )
            tell { queue.setNetwork(status) }
        }

        override fun onLost(network: Network) {
            tell { queue.setNetwork(NetworkStatus(online = false)) }
        }
    }

    init {
        scope.launch {
            for (change in changes) runCatching { change() }
        }
        ProcessLifecycleOwner.get().lifecycle.addObserver(this)
        connectivity?.registerDefaultNetworkCallback(networkCallback)
    }

    // The WorkManager service hears visibility first: told it is in the foreground, the
    // core may ask it at once for a user-initiated job, which it schedules only while visible.
    override fun onStart(owner: LifecycleOwner) {
        WorkManagerTransferService.appVisibleChanged(true)
        tell { queue.setAppState(AppState.FOREGROUND) }
    }

    override fun onStop(owner: LifecycleOwner) {
        WorkManagerTransferService.appVisibleChanged(false)
        tell { queue.enterBackground() }
    }

    /** Stops observing. Call on the main thread. */
    fun stop() {
        ProcessLifecycleOwner.get().lifecycle.removeObserver(this)
        connectivity?.unregisterNetworkCallback(networkCallback)
        changes.close()
        scope.cancel()
    }
}
