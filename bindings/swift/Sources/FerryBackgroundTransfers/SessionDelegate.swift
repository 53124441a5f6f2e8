// URLSession's delegate callbacks, forwarded to Ferry: bytes sent become
// `platformProgress`, the response body's first bytes are gathered, a finished task
// becomes `platformFinished` (through the journal) with them,
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
        guard let key = task.taskDescription else { return }
        let total = totalBytesExpectedToSend > 0 ? totalBytesExpectedToSend : task.countOfBytesClientExpectsToSend
        progress(key: key, sent: totalBytesSent, total: max(total, totalBytesSent))
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        // Tasks without a description are not Ferry's.
        guard let key = task.taskDescription else { return }
        let body = takeResponseBody(key: key)
        record(key: key, outcome: PlatformOutcomeMapping.outcome(
            response: task.response, error: error, body: body.data, bodyTruncated: body.truncated))
    }

    /// The response body's first `responseBodyLimit` bytes travel with the final report:
    /// the core keeps them as the server's answer.
    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let key = dataTask.taskDescription else { return }
        appendResponseBody(data, key: key)
    }

    #if !canImport(FoundationNetworking)
    public func urlSessionDidFinishEvents(forBackgroundURLSession session: URLSession) {
        finishEvents(of: session)
    }
    #endif
}
