// Process-wide Android set-up for Ferry: loads the native library and gives
// rustls-platform-verifier the app's Context through JNI (bindings/src/android.rs), as the
// crate's README requires before the first HTTPS request. Nothing else belongs here.
package dev.ferry.android

import android.content.Context

object FerryAndroid {
    @Volatile
    private var initialised = false

    /** Call once from `Application.onCreate`, before opening a queue. */
    fun init(context: Context) {
        if (initialised) return
        synchronized(this) {
            if (initialised) return
            System.loadLibrary("ferry_ffi")
            initPlatformVerifier(context.applicationContext)
            initialised = true
        }
    }

    @JvmStatic
    private external fun initPlatformVerifier(context: Context)
}
