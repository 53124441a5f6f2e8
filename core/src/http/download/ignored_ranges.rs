//! The resources (origin and path, not the query, which a request authorizer may change
//! per attempt) that answered a range of an unchanged file with the whole file: they are
//! not served in ranges (`python3 -m http.server`, a dynamic URL on a server whose static
//! files are, some CDNs). For the rest of the queue's life their downloads ask from zero
//! and are not checkpointed: a cut costs the whole file anyway, so a sync every few MiB
//! would buy nothing. Only the resource is remembered, never its whole server: one URL
//! that ignores ranges must not cost every other file there its resumes.
//!
//! Kept in memory only: a server that learns ranges is trusted again at the next open.
//! Must never hold its lock across an await.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use url::Url;

/// The resources (scheme, host, port and path) seen ignoring `Range`.
#[derive(Debug, Default)]
pub(crate) struct RangeIgnoringResources(Mutex<HashSet<String>>);

impl RangeIgnoringResources {
    /// Remembers `url`'s resource; true the first time.
    pub(crate) fn remember(&self, url: &Url) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(resource(url))
    }

    /// Whether `url`'s resource was seen ignoring `Range`. Builds no string while none was
    /// (every download asks twice: ~1% of `many_small_gets`' CPU went to building them).
    pub(crate) fn contains(&self, url: &Url) -> bool {
        let resources = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        !resources.is_empty() && resources.contains(&resource(url))
    }
}

/// `url` without its query and fragment.
fn resource(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_remembered_once_by_origin_and_path_whatever_its_query() {
        let resources = RangeIgnoringResources::default();
        let url = |text: &str| Url::parse(text).unwrap();
        assert!(!resources.contains(&url("http://a.example:8000/x")));
        assert!(resources.remember(&url("http://a.example:8000/x?sig=1")));
        assert!(!resources.remember(&url("http://a.example:8000/x?sig=2")));
        assert!(resources.contains(&url("http://a.example:8000/x")));
        assert!(
            !resources.contains(&url("http://a.example:8000/y")),
            "another file there"
        );
        assert!(!resources.contains(&url("http://a.example:8001/x")));
        assert!(!resources.contains(&url("https://a.example:8000/x")));
    }
}
