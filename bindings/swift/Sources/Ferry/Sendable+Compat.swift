// UniFFI 0.32 marks every record and enum `Sendable`, but only under `#if compiler(>=6)`.
// Records and enums are plain value types (strings, numbers, dates, arrays of the same),
// so they are Sendable with older compilers too; say so there, and only there (a second
// conformance would not compile with Swift 6).

#if !compiler(>=6)
extension AppState: @unchecked Sendable {}
extension EnqueueResult: @unchecked Sendable {}
extension FailureKind: @unchecked Sendable {}
extension FerryError: @unchecked Sendable {}
extension Handoff: @unchecked Sendable {}
extension Header: @unchecked Sendable {}
extension Lane: @unchecked Sendable {}
extension LogLevel: @unchecked Sendable {}
extension NetworkStatus: @unchecked Sendable {}
extension PlatformError: @unchecked Sendable {}
extension PlatformFailure: @unchecked Sendable {}
extension PlatformOutcome: @unchecked Sendable {}
extension QueueProgress: @unchecked Sendable {}
extension ServerResponse: @unchecked Sendable {}
extension QueueConfig: @unchecked Sendable {}
extension Selection: @unchecked Sendable {}
extension StateFilter: @unchecked Sendable {}
extension Transfer: @unchecked Sendable {}
extension TransferError: @unchecked Sendable {}
extension TransferEvent: @unchecked Sendable {}
extension TransferState: @unchecked Sendable {}
extension Upload: @unchecked Sendable {}
extension UploadMethod: @unchecked Sendable {}
#endif
