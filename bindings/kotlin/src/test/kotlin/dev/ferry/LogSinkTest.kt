// A LogSink written in Kotlin receives Ferry's log lines, and can be set and swapped while
// a queue is open: Ferry installs one forwarding logger and routes to the current sink.
package dev.ferry

import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

class LogSinkTest {
    @TempDir
    lateinit var dir: Path

    private class Lines : LogSink {
        val messages = CopyOnWriteArrayList<String>()

        override fun log(level: LogLevel, target: String, message: String) {
            messages += message
        }

        fun appStateLines() = messages.count { "app state" in it }
    }

    /** Toggles the app state (logged at debug) until [sink] has seen a line about it. */
    private suspend fun logUntilSeen(queue: TransferQueue, sink: Lines) {
        withTimeout(10_000) {
            while (sink.appStateLines() == 0) {
                queue.setAppState(AppState.BACKGROUND)
                queue.setAppState(AppState.FOREGROUND)
                delay(20)
            }
        }
    }

    @Test
    fun sinksSetAndSwappedAfterOpenReceiveTheLines() = runBlocking {
        val queue = TransferQueue.open(defaultQueueConfig(dir.resolve("queue.db").toString()))
        try {
            val first = Lines()
            setLogSink(first, LogLevel.DEBUG)
            logUntilSeen(queue, first)

            val second = Lines()
            setLogSink(second, LogLevel.DEBUG)
            val firstBefore = first.appStateLines()
            logUntilSeen(queue, second)
            assertTrue(second.appStateLines() >= 1)
            assertEquals(firstBefore, first.appStateLines(), "a replaced sink hears nothing more")
        } finally {
            clearLogSink()
            queue.shutdown()
            queue.close()
        }
    }
}
