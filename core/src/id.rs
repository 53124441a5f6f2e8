//! Transfer identifiers.
//!
//! A [`TransferId`] is a UUID v7: unique across devices and reinstalls (it is sent to the
//! server as the `Idempotency-Key`, so two phones must never share one) and ordered by
//! creation time, to the millisecond. It must never be derived from anything the server
//! could confuse between two different uploads, such as a row number.
//!
//! Its 74 random bits come from `rand`'s thread-local CSPRNG (ChaCha, seeded and
//! periodically reseeded from the OS), not from one `getrandom` system call per id as
//! `Uuid::now_v7` takes them: enqueueing 10,000 files made 10,000 of those calls. That
//! generator is not reseeded in a child forked without `exec` (rand 0.9), so ids must never
//! be generated both before and after such a fork; Ferry never forks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable identity of one transfer, from enqueue until it is forgotten.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransferId(String);

impl TransferId {
    /// A fresh, globally unique id.
    pub(crate) fn generate() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        let random: [u8; 10] = rand::random();
        let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        Self(uuid.hyphenated().to_string())
    }

    /// The id `text` spells, if it is a UUID (`TransferId::parse`, `id_parse.rs`, says
    /// why it is not).
    pub(crate) fn from_text(text: &str) -> Option<Self> {
        uuid::Uuid::parse_str(text)
            .ok()
            .map(|uuid| Self(uuid.hyphenated().to_string()))
    }

    /// Wraps a value read back from the store, which only ever holds generated ids.
    pub(crate) fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The id as text: a hyphenated lowercase UUID, as stored, sent to the server as the
    /// `Idempotency-Key` and accepted back by [`TransferId::parse`].
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TransferId {
    fn as_ref(&self) -> &str {
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
    fn generated_ids_are_version_7_stamped_with_the_current_millisecond() {
        let millis_now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|since| since.as_millis())
                .unwrap_or_default()
        };
        let before = millis_now();
        let id = TransferId::generate();
        let after = millis_now();
        let uuid = uuid::Uuid::parse_str(id.as_str()).expect("a generated id is a UUID");
        assert_eq!(uuid.get_version_num(), 7);
        let (seconds, nanos) = uuid.get_timestamp().expect("v7 has a timestamp").to_unix();
        let stamped = u128::from(seconds) * 1000 + u128::from(nanos / 1_000_000);
        assert!(
            (before..=after).contains(&stamped),
            "{stamped} not in {before}..={after}"
        );
    }
}
