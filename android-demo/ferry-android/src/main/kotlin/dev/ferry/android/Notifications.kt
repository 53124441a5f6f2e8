// The notification Android requires for foreground workers and user-initiated jobs.
// Only presentation; it must never affect what is transferred.
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

    fun transferring(context: Context, url: String?, download: Boolean): Notification =
        builder(context)
            .setContentTitle(if (download) "Downloading" else "Uploading")
            .setContentText(url?.substringAfterLast('/') ?: "Ferry")
            .setSmallIcon(if (download) android.R.drawable.stat_sys_download else android.R.drawable.stat_sys_upload)
            .build()

    /** The keep-alive job's: the queue as a whole is being sent. */
    fun sending(context: Context): Notification =
        builder(context)
            .setContentTitle("Transferring files")
            .setSmallIcon(android.R.drawable.stat_sys_upload)
            .build()

    private fun builder(context: Context): NotificationCompat.Builder {
        if (Build.VERSION.SDK_INT >= 26) {
            val manager = context.getSystemService(NotificationManager::class.java)
            manager?.createNotificationChannel(
                NotificationChannel(CHANNEL, "Uploads", NotificationManager.IMPORTANCE_LOW),
            )
        }
        return NotificationCompat.Builder(context, CHANNEL).setOngoing(true).setSilent(true)
    }
}
