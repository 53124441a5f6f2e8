//! `TransferId::parse`: an id received from outside (an app, the CLI), checked.
//!
//! Apart from `id.rs` because its error is the crate's `Error`, which itself names
//! `TransferId`: the id stays a leaf that `error.rs` can use. Must never accept text that
//! is not a UUID.

use crate::TransferId;
use crate::error::Error;

impl TransferId {
    /// Parses an id received from outside (an app, the CLI). Any spelling of a UUID is
    /// accepted and kept in the hyphenated lowercase form the queue stores.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransferId`] when `text` is not a UUID.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::from_text(text).ok_or_else(|| Error::InvalidTransferId {
            text: text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_text_that_is_not_a_uuid() {
        assert!(matches!(
            TransferId::parse("42"),
            Err(Error::InvalidTransferId { .. })
        ));
    }
}
