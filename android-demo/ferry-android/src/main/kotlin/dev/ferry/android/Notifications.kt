// The notification Android requires for foreground workers and user-initiated jobs.
// Only presentation; it must never affect what is uploaded.
package dev.ferry.android

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.content.Context
import android.os.Build
import androidx.core.app.NotificationCompat

internal object Notifications {
    const val ID = 0x4652 // "FR"
    private const val CHANNEL = "dev.ferry.uploads"

    fun uploading(context: Context, url: String?): Notification {
        if (Build.VERSION.SDK_INT >= 26) {
            val manager = context.getSystemService(NotificationManager::class.java)
            manager?.createNotificationChannel(
                NotificationChannel(CHANNEL, "Uploads", NotificationManager.IMPORTANCE_LOW),
            )
        }
        return NotificationCompat.Builder(context, CHANNEL)
            .setContentTitle("Uploading")
            .setContentText(url?.substringAfterLast('/') ?: "Ferry")
            .setSmallIcon(android.R.drawable.stat_sys_upload)
            .setOngoing(true)
            .setSilent(true)
            .build()
    }
}
