// Process start: native library + TLS verifier, the WorkManager shim, one queue, and the
// app's visibility reported to both Ferry (foreground/background) and the shim (user-
// initiated jobs may only be scheduled while visible).
package dev.ferry.demo

import android.app.Application
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import dev.ferry.AppState
import dev.ferry.TransferQueue
import dev.ferry.android.FerryAndroid
import dev.ferry.android.WorkManagerTransferService
import dev.ferry.defaultQueueConfig
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch

class DemoApplication : Application() {
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    val queue = CompletableDeferred<TransferQueue>()

    override fun onCreate() {
        super.onCreate()
        FerryAndroid.init(this)
        val service = WorkManagerTransferService.get(this)
        service.userInitiatedJobs = true
        scope.launch {
            val config = defaultQueueConfig(getDatabasePath("uploads.db").path)
            val opened = TransferQueue.openWithPlatform(config, service)
            service.attach(opened)
            queue.complete(opened)
        }
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) = visible(true, service)
            override fun onStop(owner: LifecycleOwner) = visible(false, service)
        })
    }

    private fun visible(visible: Boolean, service: WorkManagerTransferService) {
        service.appVisible = visible
        scope.launch { queue.await().setAppState(if (visible) AppState.FOREGROUND else AppState.BACKGROUND) }
    }
}
