//! Where each file goes: the base URL, and a file's relative path joined onto it.
//!
//! What it is for: checking `BASE_URL` once (http or https, with a host) and building each
//! destination by percent-encoding every byte of every path segment that could change its
//! meaning (spaces, `#`, `?`, `%`, `/` or `\` inside a name, non-ASCII, control characters
//! such as TAB, LF and CR), so a file name can never change the meaning of its URL and
//! always arrives whole. Names are encoded here as bytes, not handed to the `url` crate as
//! text: it silently drops TAB, LF and CR from a segment (`new\nline.txt` arrived as
//! `newline.txt`), and it takes only UTF-8, where Linux allows any bytes but `/` and NUL.
//!
//! What it must never do: touch the network or the disk, build URLs by string
//! concatenation of unencoded names, or change the encoding of a name the `url` crate
//! encoded the same way before (a rerun finds its earlier transfers by destination).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use percent_encoding::{AsciiSet, CONTROLS, percent_encode};
use url::Url;

use crate::error::CliError;

/// What a path segment of an http(s) URL must not hold unencoded: WHATWG's path
/// percent-encode set plus `/`, `%` and `\` (a separator in http URLs), the set the `url`
/// crate's `path_segments_mut` used for special schemes (its `SPECIAL_PATH_SEGMENT`). Every
/// byte outside ASCII is encoded too. `url_encodes_printable_names_the_same` pins it.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%')
    .add(b'\\');

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

    /// The URL without its query, its path as given: `--prefix` compares it literally, so
    /// `http://h/up/f2.txt` selects that one file.
    pub fn without_query(&self) -> String {
        let mut url = self.0.clone();
        url.set_query(None);
        url.into()
    }

    /// What the destinations under this base start with: the URL without its query, its
    /// path ending in `/` as [`join`](Self::join) makes it (so `http://h/up` does not
    /// select `http://h/upload/...`). Used to select the queue's transfers to this base
    /// (`push` makes them due now).
    pub fn destination_prefix(&self) -> String {
        let mut url = self.0.clone();
        url.set_query(None);
        if !url.path().ends_with('/') {
            let directory = format!("{}/", url.path());
            url.set_path(&directory);
        }
        url.into()
    }

    /// The destination of a file whose path, relative to what was pushed, is `segments`
    /// (names as the file system gives them: any bytes).
    pub fn join<S: AsRef<OsStr>>(&self, segments: &[S]) -> Result<String, CliError> {
        let mut path = self.0.path().to_owned();
        if !path.ends_with('/') {
            path.push('/');
        }
        let mut first = true;
        for segment in segments {
            let bytes = segment.as_ref().as_bytes();
            // No file or directory is named `.` or `..`; should one come, it adds no level.
            if matches!(bytes, b"." | b"..") {
                continue;
            }
            if !first {
                path.push('/');
            }
            first = false;
            path.extend(percent_encode(bytes, SEGMENT));
        }
        let mut url = self.0.clone();
        // Every byte that `set_path` would read as a separator, an escape or something to
        // drop is already encoded: it keeps the path as given.
        url.set_path(&path);
        if url.path() != path {
            return Err(CliError::Internal(format!(
                "the destination path {path} changed when parsed, to {}",
                url.path()
            )));
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
    fn the_prefix_of_a_base_selects_only_what_join_puts_under_it() {
        let base = BaseUrl::parse("http://h/up?sig=x").expect("valid base");
        let prefix = base.destination_prefix();
        assert_eq!(prefix, "http://h/up/");
        assert!(join("http://h/up", &["a.txt"]).starts_with(&prefix));
        assert!(!"http://h/upload/a.txt".starts_with(&prefix));
        let root = BaseUrl::parse("http://h").expect("valid base");
        assert_eq!(root.destination_prefix(), "http://h/");
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
    fn control_characters_are_encoded_never_dropped() {
        assert_eq!(
            join(
                "http://h/up/",
                &["new\nline.txt", "tab\there", "cr\r", "bell\u{7}del\u{7f}"]
            ),
            "http://h/up/new%0Aline.txt/tab%09here/cr%0D/bell%07del%7F"
        );
        assert_eq!(join("http://h/", &["\u{85}nel"]), "http://h/%C2%85nel");
    }

    #[test]
    fn a_name_that_is_not_utf8_is_encoded_byte_by_byte() {
        let name = OsStr::from_bytes(b"caf\xe9 \xff.txt");
        let joined = BaseUrl::parse("http://h/up/")
            .expect("valid base")
            .join(&[name])
            .expect("joins");
        assert_eq!(joined, "http://h/up/caf%E9%20%FF.txt");
    }

    #[test]
    fn url_encodes_printable_names_the_same() {
        // Destinations built before (with `path_segments_mut`) must come out the same, so
        // that a rerun finds its earlier transfers: every printable ASCII character and a
        // few beyond, in a name of their own and in the middle of one.
        let mut names: Vec<String> = (0x20u8..0x7f)
            .map(|byte| char::from(byte).to_string())
            .filter(|name| !matches!(name.as_str(), "." | ".."))
            .collect();
        names.extend(["a.b", "..a", "é", "日本語", "emoji 😀", "%2e", "%41"].map(String::from));
        names.push((0x20u8..0x7f).map(char::from).collect());
        let base = Url::parse("https://h/up/").expect("url");
        for name in names {
            let mut expected = base.clone();
            expected
                .path_segments_mut()
                .expect("a base")
                .pop_if_empty()
                .push(&name);
            assert_eq!(
                join("https://h/up/", &[&name]),
                expected.as_str(),
                "{name:?}"
            );
        }
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
