// The errors Ferry's calls throw are `LocalizedError`s whose `localizedDescription` is a
// sentence for a person. uniffi.toml omits UniFFI's own conformance, which would describe
// them with `String(reflecting:)` (the case and its fields).

import Foundation

extension FerryError: LocalizedError {
    /// What went wrong and what to do: the case's `description` field (also `description`,
    /// from the exported `Display`).
    public var errorDescription: String? { description }
}

extension PlatformError: LocalizedError {
    /// The refusal, with its reason.
    public var errorDescription: String? { String(reflecting: self) }
}

extension AuthorizerError: LocalizedError {
    /// The authorizer's failure, with its reason.
    public var errorDescription: String? { String(reflecting: self) }
}
