//! Transfer ids across the FFI: a UniFFI custom type that Swift sees as `UUID` and Kotlin
//! as `java.util.UUID` (uniffi.toml's `custom_types.TransferId`), carried as the
//! hyphenated text `ferry` stores.
//!
//! Conversion only. It must never accept text that is not a UUID: a failed lift is a
//! typed `FerryError`, never a transfer id made up.

use ferry::TransferId;

use crate::FerryError;

uniffi::custom_type!(TransferId, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |text| TransferId::parse(&text).map_err(|error| FerryError::from(error).into()),
});

/// The id of a record `ferry` made itself (a handoff, a request to sign), where the engine
/// keeps ids as text. `None` only for text that is not a UUID, which `ferry` never gives.
pub(crate) fn engine_id(text: &str) -> Option<TransferId> {
    TransferId::parse(text).ok()
}
