// The demo's one screen in Compose: server switch, add (pick or generate), aggregate
// progress with rate and ETA, and each file with pause/resume/cancel.
package dev.ferry.demo

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import dev.ferry.QueueProgress

class MainActivity : ComponentActivity() {
    private val model: UploadViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { DemoScreen(model) } }
    }
}

@Composable
fun DemoScreen(model: UploadViewModel) {
    val rows by model.rows.collectAsState()
    val progress by model.progress.collectAsState()
    val demo by model.useDemoServer.collectAsState()
    val url by model.serverUrl.collectAsState()
    val error by model.error.collectAsState()
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.GetMultipleContents()) { model.addUris(it) }

    LazyColumn(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            Row { Text("Demo server ${UploadViewModel.DEMO_SERVER}", Modifier.weight(1f)); Switch(demo, { model.useDemoServer.value = it }) }
            if (!demo) OutlinedTextField(url, { model.serverUrl.value = it }, label = { Text("Upload base URL") }, modifier = Modifier.fillMaxWidth())
        }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button({ pick.launch("*/*") }) { Text("Pick files") }
                Button({ model.generate(200, 256 * 1024) }) { Text("200 × 256 KiB") }
                Button({ model.generate(5, 64 * 1024 * 1024) }) { Text("5 × 64 MiB") }
            }
        }
        progress?.let { item { Aggregate(it) } }
        error?.let { item { Text(it, color = MaterialTheme.colorScheme.error) } }
        items(rows, key = { it.id }) { row ->
            Column {
                Row {
                    Text(row.name, Modifier.weight(1f), maxLines = 1)
                    Text(row.state)
                }
                LinearProgressIndicator(progress = { if (row.total > 0) row.sent.toFloat() / row.total else 0f }, modifier = Modifier.fillMaxWidth())
                Row {
                    if (row.state == "paused") TextButton({ model.resume(row.id) }) { Text("Resume") }
                    else TextButton({ model.pause(row.id) }) { Text("Pause") }
                    TextButton({ model.cancel(row.id) }) { Text("Cancel") }
                }
            }
        }
    }
}

@Composable
fun Aggregate(progress: QueueProgress) {
    val total = progress.bytesTotal.toLong().coerceAtLeast(1)
    Column {
        LinearProgressIndicator(progress = { progress.bytesDone.toLong().toFloat() / total }, modifier = Modifier.fillMaxWidth())
        Text("${progress.filesDone}/${progress.filesTotal} files, ${progress.filesFailed} failed")
        Text("${progress.bytesDone / 1_048_576L} of ${progress.bytesTotal / 1_048_576L} MiB at ${(progress.bytesPerSecond / 1_048_576).toInt()} MiB/s")
        progress.eta?.let { Text("About ${it.seconds} s left") }
    }
}
