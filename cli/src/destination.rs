//! Where each file goes: the base URL, and a file's relative path joined onto it.
//!
//! What it is for: checking `BASE_URL` once (http or https, with a host) and building each
//! destination with the `url` crate, which percent-encodes every path segment (spaces,
//! `#`, `?`, `%`, `/` inside a name, non-ASCII), so a file name can never change the
//! meaning of its URL.
//!
//! What it must never do: touch the network or the disk, or build URLs by string
//! concatenation.

use url::Url;

use crate::error::CliError;

/// A checked base URL. Its query is kept on every destination; its fragment is dropped.
#[derive(Clone, Debug)]
pub struct BaseUrl(Url);

impl BaseUrl {
    pub fn parse(text: &str) -> Result<Self, CliError> {
        let invalid = |why: &str| {
            CliError::usage(format!(
                "BASE_URL {text:?} {why}; give an http:// or https:// URL such as \
                 http://127.0.0.1:8080/uploads/ as the last argument"
            ))
        };
        let mut url =
            Url::parse(text).map_err(|error| invalid(&format!("is not a URL ({error})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("is not an http or https URL"));
        }
        if url.host_str().is_none_or(str::is_empty) || url.cannot_be_a_base() {
            return Err(invalid("has no host"));
        }
        url.set_fragment(None);
        Ok(Self(url))
    }

    /// The URL as given (without its fragment).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The destination of a file whose path, relative to what was pushed, is `segments`.
    pub fn join<S: AsRef<str>>(&self, segments: &[S]) -> Result<String, CliError> {
        let mut url = self.0.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                CliError::Internal(format!("base URL {} cannot take a path", self.0))
            })?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url.into())
    }
}

/// The request path a server sees for `destination` (still percent-encoded), which is the
/// key the test server stores a body under.
pub fn request_path(destination: &str) -> Option<String> {
    Url::parse(destination)
        .ok()
        .map(|url| url.path().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(base: &str, segments: &[&str]) -> String {
        BaseUrl::parse(base)
            .expect("valid base")
            .join(segments)
            .expect("joins")
    }

    #[test]
    fn relative_paths_are_appended_with_or_without_a_trailing_slash() {
        assert_eq!(join("http://h/up/", &["a", "b.txt"]), "http://h/up/a/b.txt");
        assert_eq!(join("http://h/up", &["a", "b.txt"]), "http://h/up/a/b.txt");
        assert_eq!(join("http://h", &["b.txt"]), "http://h/b.txt");
        assert_eq!(join("http://h:81/", &["b.txt"]), "http://h:81/b.txt");
    }

    #[test]
    fn every_segment_is_percent_encoded() {
        assert_eq!(
            join("https://h/up/", &["dir with space", "café #1?%.txt"]),
            "https://h/up/dir%20with%20space/caf%C3%A9%20%231%3F%25.txt"
        );
        assert_eq!(join("http://h/", &["a/b", "c\\d"]), "http://h/a%2Fb/c%5Cd");
    }

    #[test]
    fn the_query_is_kept_and_the_fragment_dropped() {
        assert_eq!(
            join("http://h/up?sig=1#frag", &["x"]),
            "http://h/up/x?sig=1"
        );
    }

    #[test]
    fn only_http_urls_with_a_host_are_accepted() {
        for bad in [
            "ftp://h/",
            "file:///tmp/",
            "not a url",
            "http://",
            "mailto:a@b",
            "/up/",
        ] {
            let error = BaseUrl::parse(bad).expect_err(bad);
            assert!(matches!(error, CliError::Usage(_)), "{bad}");
        }
    }

    #[test]
    fn the_request_path_stays_encoded() {
        assert_eq!(
            request_path("http://h/a%20b/c?x=1").as_deref(),
            Some("/a%20b/c")
        );
    }
}
