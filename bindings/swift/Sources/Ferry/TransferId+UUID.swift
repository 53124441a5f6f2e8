// Transfer ids are Foundation's `UUID` (uniffi.toml maps the Rust custom type
// `TransferId` to it), so a `Transfer` is `Identifiable` as SwiftUI lists expect.

import Foundation

/// Lifts an id Ferry sent as text. Ferry sends only UUIDs; a text that is not one throws
/// rather than crashing the app. Called by the generated converter, not by apps.
func transferIdFromRust(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else {
        throw FerryError.Internal(description: "Ferry sent a transfer id that is not a UUID: \(text)")
    }
    return id
}

/// `ForEach(transfers) { transfer in ... }` works as is: each transfer is identified by its
/// id.
extension Transfer: Identifiable {}
