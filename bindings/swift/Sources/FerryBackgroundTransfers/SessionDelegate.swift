// URLSession's delegate callbacks, forwarded to Ferry: bytes sent (or received by a
// download) become `platformProgress`, the response body's first bytes are gathered, a
// download's file is moved to its segment path, a finished task becomes
// `platformFinished` (through the journal),
// and the end of a background relaunch's events calls the app's completion handler.
// It must never decide anything; it only translates.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension BackgroundURLSessionTransferService: URLSessionDataDelegate {
    public func urlSession(
        _ session: URLSession, task: URLSessionTask, didSendBodyData bytesSent: Int64,
        totalBytesSent: Int64, totalBytesExpectedToSend: Int64
    ) {
        guard let key = TaskLabel.key(of: task) else { return }
        let total = totalBytesExpectedToSend > 0 ? totalBytesExpectedToSend : task.countOfBytesClientExpectsToSend
        progress(key: key, sent: totalBytesSent, total: max(total, totalBytesSent))
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        // Tasks without a description are not Ferry's.
        guard let label = TaskLabel.read(task) else { return }
        let key = label.key
        if let segmentPath = label.segmentPath {
            guard let outcome = downloadEnded(task, key: key, segmentPath: segmentPath, error: error) else { return }
            return record(key: key, outcome: outcome)
        }
        let body = takeResponseBody(key: key)
        record(key: key, outcome: PlatformOutcomeMapping.outcome(
            response: task.response, error: error, body: body.data, bodyTruncated: body.truncated))
    }

    /// The response body's first `responseBodyLimit` bytes travel with the final report:
    /// the core keeps them as the server's answer.
    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let key = TaskLabel.key(of: dataTask) else { return }
        appendResponseBody(data, key: key)
    }

    #if !canImport(FoundationNetworking)
    public func urlSessionDidFinishEvents(forBackgroundURLSession session: URLSession) {
        finishEvents(of: session)
    }
    #endif
}

extension BackgroundURLSessionTransferService: URLSessionDownloadDelegate {
    /// The file is moved before this returns: the OS deletes it after.
    public func urlSession(
        _ session: URLSession, downloadTask: URLSessionDownloadTask, didFinishDownloadingTo location: URL
    ) {
        guard let label = TaskLabel.read(downloadTask), let segmentPath = label.segmentPath else { return }
        placeSegment(location, key: label.key, segmentPath: segmentPath)
    }

    /// Bytes received count as movement (the core counts a segment's bytes once appended).
    public func urlSession(
        _ session: URLSession, downloadTask: URLSessionDownloadTask, didWriteData bytesWritten: Int64,
        totalBytesWritten: Int64, totalBytesExpectedToWrite: Int64
    ) {
        guard let key = TaskLabel.key(of: downloadTask) else { return }
        progress(key: key, sent: totalBytesWritten, total: max(totalBytesExpectedToWrite, totalBytesWritten))
    }
}
