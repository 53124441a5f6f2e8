//! The origins that answered a range of an unchanged file with the whole file: they do
//! not serve ranges (`python3 -m http.server`, some CDNs and app servers). For the rest of
//! the queue's life their downloads ask from zero and are not checkpointed: a cut costs
//! the whole file anyway, so a sync every few MiB would buy nothing.
//!
//! Kept in memory only: a server that learns ranges is trusted again at the next open.
//! Must never hold its lock across an await.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use url::Url;

/// The origins (scheme, host, port) seen ignoring `Range`.
#[derive(Debug, Default)]
pub(crate) struct RangeIgnoringOrigins(Mutex<HashSet<String>>);

impl RangeIgnoringOrigins {
    /// Remembers `url`'s origin; true the first time.
    pub(crate) fn remember(&self, url: &Url) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(url.origin().ascii_serialization())
    }

    /// Whether `url`'s origin was seen ignoring `Range`.
    pub(crate) fn contains(&self, url: &Url) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&url.origin().ascii_serialization())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_remembered_once_and_by_scheme_host_and_port() {
        let origins = RangeIgnoringOrigins::default();
        let url = |text: &str| Url::parse(text).unwrap();
        assert!(!origins.contains(&url("http://a.example:8000/x")));
        assert!(origins.remember(&url("http://a.example:8000/x")));
        assert!(!origins.remember(&url("http://a.example:8000/other")));
        assert!(origins.contains(&url("http://a.example:8000/y")));
        assert!(!origins.contains(&url("http://a.example:8001/x")));
        assert!(!origins.contains(&url("https://a.example:8000/x")));
    }
}
