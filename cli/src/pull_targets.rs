//! What `ferry pull` fetches: the URLs from the command line or from a `--list` file, each
//! with the file name it is saved under and, from a list, the SHA-256 it must have.
//!
//! What it is for: parsing a list (one URL per line, optionally followed or preceded, as
//! `sha256sum` prints it, by whitespace and 64 hex digits; blank lines, `#` comments and a
//! byte order mark skipped) and telling a bad line by its
//! number; taking a file name from a URL's last path segment, percent-decoded byte by
//! byte, and refusing one that is empty, `.`, `..`, holds a `/` or a NUL, or is named
//! like Ferry's own partial files; refusing a URL that is not http(s) or carries a user
//! name or password (downloads store their URL); and refusing two URLs that would be
//! saved under one name (the same URL twice is taken once).
//!
//! What it must never do: touch the disk or the network, or print a URL's query (a
//! presigned URL's signature) or user information: URLs in messages are redacted.

use std::collections::HashMap;
use std::ffi::OsString;

use crate::error::CliError;
use crate::escape;

/// One URL to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// The file name in DIR: the URL's last path segment, percent-decoded.
    pub name: OsString,
    /// The SHA-256 the file must have, as lowercase hex.
    pub sha256: Option<String>,
}

/// The targets of URLs given on the command line.
pub fn from_args(urls: &[String]) -> Result<Vec<Target>, CliError> {
    let mut found = Found::default();
    for url in urls {
        let place = format!("URL {}", ferry::redact_url(url));
        let target = target(url, None).map_err(|problem| at(&place, &problem))?;
        found.add(target, place)?;
    }
    Ok(found.targets)
}

/// The targets listed in `text`, the contents of the `--list` file `list` (named in errors).
pub fn from_list(text: &str, list: &str) -> Result<Vec<Target>, CliError> {
    let mut found = Found::default();
    // A byte order mark (editors on Windows write one) is no part of the first URL.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let place = format!("--list {list} line {}", index + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(first), second, None) = (words.next(), words.next(), words.next()) else {
            return Err(at(
                &place,
                "has more than a URL and a SHA-256; give one URL per line, optionally \
                 followed by its SHA-256 in hex",
            ));
        };
        // `sha256sum` prints the digest first: taken in either order.
        let (url, sha256) = match second {
            Some(second) if is_sha256(first) && !is_sha256(second) => (second, Some(first)),
            _ => (first, second),
        };
        if let Some(word) = sha256
            && !is_sha256(word)
        {
            let problem = if url::Url::parse(url).is_err() {
                format!(
                    "{} is not a URL; give one URL per line, optionally with its SHA-256 \
                     (64 hex digits)",
                    escape::for_terminal(&ferry::redact_url(url))
                )
            } else {
                "has a SHA-256 that is not 64 hex digits; give it as `sha256sum` prints it"
                    .to_owned()
            };
            return Err(at(&place, &problem));
        }
        let target = target(url, sha256).map_err(|problem| at(&place, &problem))?;
        found.add(target, place)?;
    }
    Ok(found.targets)
}

fn is_sha256(word: &str) -> bool {
    word.len() == 64 && word.bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn at(place: &str, problem: &str) -> CliError {
    CliError::usage(format!("{place}: {problem}"))
}

/// The targets so far, and where each name came from.
#[derive(Default)]
struct Found {
    targets: Vec<Target>,
    by_name: HashMap<OsString, (usize, String)>,
}

impl Found {
    /// Adds `target` found at `place`; the same URL again is dropped, another URL to the
    /// same name refused.
    fn add(&mut self, target: Target, place: String) -> Result<(), CliError> {
        if let Some((index, first_place)) = self.by_name.get(&target.name) {
            let first = &self.targets[*index];
            if first.url == target.url && (target.sha256.is_none() || first.sha256 == target.sha256)
            {
                return Ok(());
            }
            let problem = if first.url == target.url {
                format!("gives another SHA-256 for the URL of {first_place}")
            } else {
                format!(
                    "would be saved as {:?}, the name {first_place} is saved as; pull them \
                     into different folders",
                    target.name
                )
            };
            return Err(at(&place, &problem));
        }
        self.by_name
            .insert(target.name.clone(), (self.targets.len(), place));
        self.targets.push(target);
        Ok(())
    }
}

/// One URL checked and named.
fn target(url: &str, sha256: Option<&str>) -> Result<Target, String> {
    let parsed = url::Url::parse(url).map_err(|error| {
        format!("is not a URL ({error}); give an absolute http:// or https:// URL")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "is a {}: URL; ferry fetches http:// and https:// URLs",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "carries a user name or password, which would be stored with the download; \
             give the URL without them and the credentials with --bearer-command"
                .into(),
        );
    }
    Ok(Target {
        url: url.to_owned(),
        name: file_name(&parsed)?,
        sha256: sha256.map(str::to_ascii_lowercase),
    })
}

/// The URL's last path segment, percent-decoded: the name the file is saved under.
fn file_name(url: &url::Url) -> Result<OsString, String> {
    let segment = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or_default();
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
    let refuse = |why: &str| {
        Err(format!(
            "{why}, so it names no file to save; give the URL of a file (ending in its name)"
        ))
    };
    match bytes.as_slice() {
        [] => return refuse("ends in `/`"),
        b"." | b".." => return refuse("ends in `.` or `..`"),
        name if name.contains(&b'/') => return refuse("has a last segment holding `/` (%2F)"),
        name if name.contains(&0) => return refuse("has a last segment holding a NUL (%00)"),
        name if name.starts_with(b".ferry-") && name.ends_with(b".partial") => {
            return refuse("ends in a name like ferry's own partial files");
        }
        _ => {}
    }
    os_string(bytes)
}

#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> Result<OsString, String> {
    use std::os::unix::ffi::OsStringExt;
    Ok(OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> Result<OsString, String> {
    String::from_utf8(bytes)
        .map(OsString::from)
        .map_err(|_| "has a last segment that is not UTF-8 once decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(targets: &[Target]) -> Vec<&str> {
        targets
            .iter()
            .map(|target| target.name.to_str().expect("utf-8"))
            .collect()
    }

    #[test]
    fn names_are_the_decoded_last_segment_and_the_query_is_ignored() {
        let targets = from_args(&[
            "http://h/d/a%20b.txt?X-Amz-Signature=s".to_owned(),
            "https://h/caf%C3%A9".to_owned(),
        ])
        .expect("valid");
        assert_eq!(names(&targets), ["a b.txt", "café"]);
        assert_eq!(targets[0].url, "http://h/d/a%20b.txt?X-Amz-Signature=s");
    }

    #[test]
    fn urls_that_name_no_file_are_refused_with_a_clear_reason() {
        for (url, why) in [
            ("http://h/", "ends in `/`"),
            ("http://h/d/", "ends in `/`"),
            ("http://h/d/..", "names no file"),
            ("http://h/a%2Fb", "(%2F)"),
            ("http://h/a%00b", "NUL"),
            ("http://h/.ferry-x.partial", "partial"),
            ("ftp://h/f", "http:// and https://"),
            ("http://u:p@h/f", "user name or password"),
            ("no url", "not a URL"),
        ] {
            let error = from_args(&[url.to_owned()]).expect_err(url).to_string();
            assert!(error.contains(why), "{url}: {error}");
            assert!(!error.contains(":p@"), "{error}");
        }
    }

    #[test]
    fn a_list_skips_blanks_and_comments_and_takes_an_optional_digest() {
        let digest = "AB".repeat(32);
        let text = format!("# mine\n\n  http://h/a  {digest}\nhttp://h/b\n\t\nhttp://h/a\n");
        let targets = from_list(&text, "l.txt").expect("valid");
        assert_eq!(names(&targets), ["a", "b"]);
        assert_eq!(targets[0].sha256, Some("ab".repeat(32)));
        assert_eq!(targets[1].sha256, None);
    }

    #[test]
    fn a_list_as_sha256sum_prints_it_and_one_with_a_byte_order_mark_are_read() {
        let digest = "ab".repeat(32);
        let text = format!("\u{feff}http://h/a\n{digest}  http://h/b\n");
        let targets = from_list(&text, "l.txt").expect("valid");
        assert_eq!(names(&targets), ["a", "b"]);
        assert_eq!(targets[0].sha256, None);
        assert_eq!(targets[1].sha256, Some(digest));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        for (text, line, why) in [
            ("http://h/a\nhttp://h/b abc\n", 2, "64 hex digits"),
            ("\n# c\nhttp://h/a x y\n", 3, "more than a URL"),
            ("http://h/a\n\nhttp://h/\n", 3, "ends in `/`"),
            ("http://h/x/a\nhttp://g/a\n", 2, "line 1"),
            ("http://h/a\nnot-a-url here\n", 2, "not-a-url is not a URL"),
        ] {
            let error = from_list(text, "l.txt").expect_err(text).to_string();
            assert!(
                error.starts_with(&format!("--list l.txt line {line}: ")),
                "{error}"
            );
            assert!(error.contains(why), "{error}");
        }
    }
}
