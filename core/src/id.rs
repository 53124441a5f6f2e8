//! Transfer identifiers.
//!
//! A [`TransferId`] is a UUID v7: unique across devices and reinstalls (it is sent to the
//! server as the `Idempotency-Key`, so two phones must never share one) and ordered by
//! creation time. It must never be derived from anything the server could confuse
//! between two different uploads, such as a row number.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable identity of one transfer, from enqueue until it is forgotten.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransferId(String);

impl TransferId {
    /// A fresh, globally unique id.
    pub(crate) fn generate() -> Self {
        Self(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// Parses an id received from outside (an app, the CLI).
    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        uuid::Uuid::parse_str(text)
            .map(|uuid| Self(uuid.hyphenated().to_string()))
            .map_err(|_| crate::Error::InvalidTransferId {
                text: text.to_owned(),
            })
    }

    /// Wraps a value read back from the store, which only ever holds generated ids.
    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_and_round_trip_through_parse() {
        let first = TransferId::generate();
        let second = TransferId::generate();
        assert_ne!(first, second);
        assert_eq!(TransferId::parse(first.as_str()).ok(), Some(first));
    }

    #[test]
    fn parse_rejects_text_that_is_not_a_uuid() {
        assert!(matches!(
            TransferId::parse("42"),
            Err(crate::Error::InvalidTransferId { .. })
        ));
    }
}
