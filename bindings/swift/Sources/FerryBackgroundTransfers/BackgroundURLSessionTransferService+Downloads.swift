// Download handoffs on the background URLSession: a download task per segment (from the
// resume data a failed task of that segment left, else a fresh ranged request), the OS's
// file moved to the segment path, and what a finished task reports. Resume data is only an
// optimisation: a task made from it that fails is replaced once by a fresh ranged task,
// since the core's recorded offset is the truth. It must never check, append or count the
// bytes (the core does, from the report), nor retry anything but that one replacement.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension BackgroundURLSessionTransferService {
    /// Where the OS puts a failed download task's resume data in the error's `userInfo`.
    #if canImport(FoundationNetworking)
    static let resumeDataKey = URLSessionDownloadTaskResumeData
    #else
    static let resumeDataKey = NSURLSessionDownloadTaskResumeData
    #endif

    /// Starts the download task of `handoff`'s segment: from its kept resume data when
    /// `resumable` and some was kept for the same URL and range, else a fresh ranged task.
    func startDownload(_ handoff: Handoff, _ segment: HandoffDownload, resumable: Bool) throws {
        let request = try HandoffRequest.make(handoff)
        let session = session(for: handoff)
        let transfer = ResumeDataStore.transfer(ofKey: handoff.key)
        let kept: Data? = resumable
            ? locked { resumeData.take(transfer: transfer, segmentPath: segment.path, request: request) }
            : nil
        let task = kept.map { makeResumedTask(session, $0) } ?? session.downloadTask(with: request)
        HandoffRequest.configure(task, for: handoff)
        locked {
            _ = cancelledKeys.remove(handoff.key)
            if kept != nil {
                resumedHandoffs[handoff.key] = handoff
                resumedTasksStarted += 1
            }
        }
        task.resume()
    }

    /// The OS's file for the task `key`, moved to `segmentPath` now (the OS deletes it once
    /// the delegate returns). A failed move is remembered and reported instead of the answer.
    func placeSegment(_ location: URL, key: String, segmentPath: String) {
        do {
            try DownloadSegments.place(location, at: segmentPath)
        } catch {
            locked { unplacedSegments[key] = "\(error)" }
        }
    }

    /// What the download task `key` reports now that it ended with `error`: nil when a fresh
    /// ranged task took the place of a failed task made from resume data (its end is
    /// reported instead). Keeps the resume data a failure carries; forgets the segment's
    /// once it succeeded.
    func downloadEnded(_ task: URLSessionTask, key: String, segmentPath: String, error: Error?) -> PlatformOutcome? {
        let failure = error as NSError?
        let fresh = failure?.userInfo[Self.resumeDataKey] as? Data
        let transfer = ResumeDataStore.transfer(ofKey: key)
        let (resumed, unplaced) = locked {
            (resumedHandoffs.removeValue(forKey: key), unplacedSegments.removeValue(forKey: key))
        }
        if let failure, let resumed, fresh == nil, !Self.isCancellation(failure), !isCancelled(key),
           let segment = resumed.download, (try? startDownload(resumed, segment, resumable: false)) != nil {
            locked { resumeFallbacks += 1 }
            return nil
        }
        locked {
            if let fresh, let request = task.originalRequest ?? task.currentRequest {
                resumeData.keep(fresh, transfer: transfer, segmentPath: segmentPath, request: request)
            } else if error == nil {
                resumeData.discard(transfer: transfer, segmentPath: segmentPath)
            }
        }
        if error == nil, let unplaced {
            return PlatformOutcomeMapping.segmentNotPlaced(path: segmentPath, reason: unplaced)
        }
        return PlatformOutcomeMapping.outcome(response: task.response, error: error)
    }

    private static func isCancellation(_ error: NSError) -> Bool {
        error.domain == NSURLErrorDomain && error.code == NSURLErrorCancelled
    }
}
