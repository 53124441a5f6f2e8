// How a finished URLSession task becomes a `PlatformOutcome` for Ferry: the HTTP status,
// headers and the body's first bytes when the server answered (a download's bytes are in
// its segment file, not here), else an error kind. Pure translation: it must
// never decide whether to retry; the core classifies every outcome.
import Foundation
import Ferry
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

enum PlatformOutcomeMapping {
    /// The outcome of a task that ended with `response` and `error` (what
    /// `urlSession(_:task:didCompleteWithError:)` sees: `task.response` and the error).
    ///
    /// A response wins over an error only when there is no error: a task cancelled after
    /// its headers arrived did not finish its upload.
    /// `body` is the response body's first bytes as gathered from `didReceive data`, and
    /// `bodyTruncated` whether more were dropped.
    static func outcome(
        response: URLResponse?, error: Error?, body: Data = Data(), bodyTruncated: Bool = false
    ) -> PlatformOutcome {
        if let error {
            let ns = error as NSError
            return .failed(kind: failureKind(ns), message: describe(ns))
        }
        guard let http = response as? HTTPURLResponse else {
            return .failed(kind: .other, message: "the task ended without an HTTP response")
        }
        // Ferry takes any status that fits HTTP's 16 bits.
        return .response(
            status: Int32(min(max(http.statusCode, 0), 65_535)), headers: headers(of: http),
            body: body, bodyTruncated: bodyTruncated)
    }

    /// The outcome of a download task whose file could not be moved to its segment path:
    /// the answer cannot be used without its bytes.
    static func segmentNotPlaced(path: String, reason: String) -> PlatformOutcome {
        .failed(kind: .other, message: "the downloaded segment could not be moved to \(path): \(reason)")
    }

    /// The response's headers, sorted by name so that the same response always maps to
    /// the same list.
    static func headers(of response: HTTPURLResponse) -> [Header] {
        response.allHeaderFields
            .compactMap { name, value -> Header? in
                guard let name = name as? String else { return nil }
                return Header(name: name, value: "\(value)")
            }
            .sorted { $0.name.lowercased() < $1.name.lowercased() }
    }

    /// Why a task ended without a response.
    ///
    /// A cancellation carries the OS's reason in `NSURLErrorBackgroundTaskCancelledReasonKey`:
    /// the user's force-quit becomes `cancelledByUser` (the core queues the work again);
    /// any other reason, or none, is the system's (`cancelledBySystem`). A cancellation that
    /// Ferry asked for is never reported (see `BackgroundURLSessionTransferService.cancel`).
    static func failureKind(_ error: NSError) -> PlatformFailure {
        guard error.domain == NSURLErrorDomain else { return .other }
        if error.code == NSURLErrorCancelled {
            let reason = error.userInfo[NSURLErrorBackgroundTaskCancelledReasonKey] as? Int
            return reason == NSURLErrorCancelledReasonUserForceQuitApplication
                ? .cancelledByUser : .cancelledBySystem
        }
        return networkErrorCodes.contains(error.code) ? .network : .other
    }

    /// URL-loading errors that say the network or the server could not be reached or
    /// dropped the exchange.
    static let networkErrorCodes: Set<Int> = [
        NSURLErrorTimedOut,
        NSURLErrorCannotFindHost,
        NSURLErrorCannotConnectToHost,
        NSURLErrorNetworkConnectionLost,
        NSURLErrorDNSLookupFailed,
        NSURLErrorNotConnectedToInternet,
        NSURLErrorInternationalRoamingOff,
        NSURLErrorCallIsActive,
        NSURLErrorDataNotAllowed,
        NSURLErrorSecureConnectionFailed,
        NSURLErrorCannotLoadFromNetwork,
        NSURLErrorBadServerResponse,
        NSURLErrorZeroByteResource,
        NSURLErrorCannotParseResponse,
    ]

    private static func describe(_ error: NSError) -> String {
        "\(error.domain) \(error.code): \(error.localizedDescription)"
    }
}
