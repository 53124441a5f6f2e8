//! `TransferId::parse`: an id received from outside (an app, the CLI), checked.
//!
//! Apart from `id.rs` because its error is the crate's `Error`, which itself names
//! `TransferId`: the id stays a leaf that `error.rs` can use. Must never accept text that
//! is not a UUID.

use std::str::FromStr;

use crate::TransferId;
use crate::error::Error;

/// `"0192…".parse::<TransferId>()`, as [`TransferId::parse`].
impl FromStr for TransferId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

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
        assert!(matches!(
            "42".parse::<TransferId>(),
            Err(Error::InvalidTransferId { .. })
        ));
    }

    #[test]
    fn any_spelling_of_a_uuid_parses_to_the_stored_form() {
        let id: TransferId = "0192F0C2-3B4A-7C5D-8E6F-0123456789AB"
            .parse()
            .expect("a UUID");
        let stored: &str = id.as_ref();
        assert_eq!(stored, "0192f0c2-3b4a-7c5d-8e6f-0123456789ab");
    }
}
