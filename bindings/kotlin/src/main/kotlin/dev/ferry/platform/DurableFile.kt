// Small binary files written atomically (temp file, fsync, rename), read back with a
// format check: the storage under the Android shim's report journal and handoff store.
// It must never interpret what it stores.
package dev.ferry.platform

import dev.ferry.Handoff
import dev.ferry.HandoffDownload
import dev.ferry.Header
import dev.ferry.PlatformFailure
import dev.ferry.PlatformOutcome
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.util.UUID

/** A stored file could not be read or written; the message says what to do. */
class PlatformStoreException(message: String, cause: Throwable? = null) : IOException(message, cause)

internal object DurableFile {
    /** Writes `bytes` to `file` so that a crash leaves either the old or the new content. */
    fun write(file: File, magic: Int, body: (DataOutputStream) -> Unit) {
        try {
            file.parentFile?.mkdirs()
            val bytes = ByteArrayOutputStream().also { buffer ->
                DataOutputStream(buffer).use { out ->
                    out.writeInt(magic)
                    body(out)
                }
            }.toByteArray()
            val temp = File(file.parentFile, "${file.name}.tmp")
            FileOutputStream(temp).use { out ->
                out.write(bytes)
                out.fd.sync()
            }
            Files.move(temp.toPath(), file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        } catch (e: IOException) {
            throw PlatformStoreException("cannot write ${file.path}: ${e.message}; check free space and permissions", e)
        }
    }

    /** Reads `file`, or returns null if there is none. */
    fun <T> read(file: File, magic: Int, body: (DataInputStream) -> T): T? {
        if (!file.exists()) return null
        try {
            DataInputStream(ByteArrayInputStream(file.readBytes())).use { input ->
                if (input.readInt() != magic) throw IOException("not a Ferry file of this kind")
                return body(input)
            }
        } catch (e: IOException) {
            throw PlatformStoreException(
                "cannot read ${file.path} (${e.message}); delete it to start without it " +
                    "(its transfers are then sent again)",
                e,
            )
        }
    }

    fun writeHeaders(out: DataOutputStream, headers: List<Header>) {
        out.writeInt(headers.size)
        for (header in headers) {
            out.writeUTF(header.name)
            out.writeUTF(header.value)
        }
    }

    fun readHeaders(input: DataInputStream): List<Header> {
        val count = input.readInt()
        if (count < 0 || count > 10_000) throw IOException("implausible header count $count")
        return List(count) { Header(input.readUTF(), input.readUTF()) }
    }

    fun writeOutcome(out: DataOutputStream, outcome: PlatformOutcome) {
        when (outcome) {
            is PlatformOutcome.Response -> {
                // Tag 2: with the body (tag 0, without, is still read).
                out.writeByte(2)
                out.writeInt(outcome.status)
                writeHeaders(out, outcome.headers)
                out.writeInt(outcome.body.size)
                out.write(outcome.body)
                out.writeBoolean(outcome.bodyTruncated)
            }
            is PlatformOutcome.Failed -> {
                out.writeByte(1)
                out.writeUTF(outcome.kind.name)
                out.writeUTF(outcome.message)
            }
        }
    }

    fun readOutcome(input: DataInputStream): PlatformOutcome = when (val tag = input.readByte().toInt()) {
        0 -> PlatformOutcome.Response(input.readInt(), readHeaders(input), ByteArray(0), false)
        2 -> {
            val status = input.readInt()
            val headers = readHeaders(input)
            val size = input.readInt()
            if (size < 0 || size > 64 * 1024 * 1024) throw IOException("implausible body size $size")
            val body = ByteArray(size).also { input.readFully(it) }
            PlatformOutcome.Response(status, headers, body, input.readBoolean())
        }
        1 -> {
            val kind = input.readUTF()
            PlatformOutcome.Failed(
                PlatformFailure.values().firstOrNull { it.name == kind } ?: PlatformFailure.OTHER,
                input.readUTF(),
            )
        }
        else -> throw IOException("unknown outcome tag $tag")
    }

    fun writeHandoff(out: DataOutputStream, handoff: Handoff) {
        out.writeUTF(handoff.key)
        out.writeUTF(handoff.transferId.toString())
        out.writeUTF(handoff.bodyPath)
        out.writeUTF(handoff.url)
        out.writeUTF(handoff.method)
        writeHeaders(out, handoff.headers)
        out.writeLong(handoff.expectedBytes)
        out.writeBoolean(handoff.allowExpensive)
        out.writeBoolean(handoff.allowConstrained)
        out.writeBoolean(handoff.discretionary)
        out.writeInt(handoff.ietfInteropVersion ?: -1)
        // Last, so a file stored before downloads existed reads as an upload.
        val download = handoff.download
        out.writeBoolean(download != null)
        if (download != null) {
            out.writeLong(download.first)
            out.writeLong(download.last ?: -1)
            out.writeUTF(download.path)
        }
    }

    private fun readDownload(input: DataInputStream): HandoffDownload? {
        // A handoff stored before downloads existed ends here.
        if (input.available() == 0 || !input.readBoolean()) return null
        val first = input.readLong()
        val last = input.readLong()
        if (first < 0 || last < -1 || (last >= 0 && last < first)) {
            throw IOException("implausible download segment $first-$last")
        }
        return HandoffDownload(first = first, last = last.takeIf { it >= 0 }, path = input.readUTF())
    }

    /** A stored transfer id; one that is not a UUID is a damaged file, like a bad magic. */
    private fun readTransferId(input: DataInputStream): UUID {
        val text = input.readUTF()
        return try {
            UUID.fromString(text)
        } catch (e: IllegalArgumentException) {
            throw IOException("a stored transfer id is not a UUID", e)
        }
    }

    fun readHandoff(input: DataInputStream): Handoff = Handoff(
        key = input.readUTF(),
        transferId = readTransferId(input),
        bodyPath = input.readUTF(),
        url = input.readUTF(),
        method = input.readUTF(),
        headers = readHeaders(input),
        expectedBytes = input.readLong(),
        allowExpensive = input.readBoolean(),
        allowConstrained = input.readBoolean(),
        discretionary = input.readBoolean(),
        ietfInteropVersion = input.readInt().takeIf { it >= 0 },
        download = readDownload(input),
    )
}
