//! A file's destination: the CLI's `BaseUrl::join` of the base URL and the file's path
//! segments (`cli/src/destination.rs`, compiled here as it is, with the `CliError` it
//! returns and the `StopSignal` that error names: the CLI is a binary, so there is no
//! library to link).
//!
//! Names are any bytes, as a file system may hand them: control characters (TAB, LF, CR,
//! NUL), bytes that are not UTF-8, `/`, `%`, `\`, the empty name.
//!
//! Checks: no panic and no error for a base that parses; the destination is printable
//! ASCII, parses as a URL that serialises back to the same text (it is a transfer's
//! identity key), keeps the base's scheme, host, port and query without a fragment, stays
//! under the base's path, and its added segments percent-decode to the names' bytes (`.`
//! and `..` add no level). Names the `url` crate could take as they are (non-empty UTF-8
//! without TAB, LF or CR) are encoded as its `path_segments_mut` encodes them, so a rerun
//! finds transfers queued by earlier versions.

#![no_main]

#[allow(dead_code)]
#[path = "../../cli/src/error.rs"]
mod error;

#[allow(dead_code)]
#[path = "../../cli/src/gave_up.rs"]
mod gave_up;

#[allow(dead_code)]
#[path = "../../cli/src/signals.rs"]
mod signals;

#[allow(dead_code)]
#[path = "../../cli/src/destination.rs"]
mod destination;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

const BASES: [&str; 6] = [
    "http://127.0.0.1:8080/uploads/",
    "http://127.0.0.1:8080/uploads",
    "https://h.example/up?sig=a%20b&x=1",
    "http://h",
    "http://[::1]:81/a/b/",
    "https://h.example/p/#fragment",
];

#[derive(Arbitrary, Debug)]
enum Base {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// Any bytes (a name that is not UTF-8, control characters, ...).
    Bytes(Vec<u8>),
    /// UTF-8 text, which reaches the `url` crate's encoding for comparison more often.
    Text(String),
}

impl Name {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Bytes(bytes) => bytes,
            Self::Text(text) => text.as_bytes(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: Base,
    names: Vec<Name>,
}

/// The names that add a level: `join` skips `.` and `..`, which no directory entry is.
fn levels(names: &[&[u8]]) -> Vec<Vec<u8>> {
    names
        .iter()
        .filter(|name| !matches!(**name, b"." | b".."))
        .map(|name| name.to_vec())
        .collect()
}

/// The destination as the `url` crate's `path_segments_mut` built it before names were
/// encoded byte by byte, where it could take the names as they are. Not where the path
/// would begin with an empty segment (an empty name, which no directory entry has, or a
/// base path such as `//`): there the `url` crate drops it (`http://h/` + `["", "x"]` and
/// `http://h//` + `["x"]` were `http://h/x`), `join` keeps the base's path and every name
/// (`http://h//x`).
fn url_crate_join(base: &url::Url, names: &[&[u8]]) -> Option<String> {
    let texts: Vec<&str> = names
        .iter()
        .map(|name| std::str::from_utf8(name).ok())
        .collect::<Option<_>>()?;
    let takes_as_is = !texts.is_empty()
        && texts
            .iter()
            .all(|text| !matches!(*text, "" | "." | "..") && !text.contains(['\t', '\n', '\r']));
    if !takes_as_is || base.path().starts_with("//") {
        return None;
    }
    let mut url = base.clone();
    url.path_segments_mut().ok()?.pop_if_empty().extend(texts);
    Some(url.into())
}

fuzz_target!(|input: Input| {
    let base_text = match &input.base {
        Base::Known(index) => BASES[usize::from(*index) % BASES.len()].to_owned(),
        Base::Other(text) => text.clone(),
    };
    let names: Vec<&[u8]> = input.names.iter().map(Name::bytes).collect();
    let Ok(base) = destination::BaseUrl::parse(&base_text) else {
        return;
    };
    let os_names: Vec<&OsStr> = names.iter().map(|name| OsStr::from_bytes(name)).collect();
    let joined = base
        .join(&os_names)
        .unwrap_or_else(|error| panic!("{base_text:?} + {names:?}: {error}"));
    assert!(
        joined.bytes().all(|byte| byte.is_ascii_graphic()),
        "{joined:?} is not printable ASCII"
    );
    let base_url = url::Url::parse(base.as_str()).expect("a checked base URL parses again");
    let url = url::Url::parse(&joined)
        .unwrap_or_else(|error| panic!("{joined:?} does not parse: {error}"));
    assert_eq!(
        url.as_str(),
        joined,
        "parsed again, the destination changed"
    );
    assert_eq!(url.scheme(), base_url.scheme());
    assert_eq!(url.host_str(), base_url.host_str());
    assert_eq!(url.port(), base_url.port());
    assert_eq!(url.query(), base_url.query(), "{joined}");
    assert_eq!(url.fragment(), None);

    let mut under = base_url.path().to_owned();
    if !under.ends_with('/') {
        under.push('/');
    }
    let added = url
        .path()
        .strip_prefix(&under)
        .unwrap_or_else(|| panic!("{joined} is not under {under}"));
    let decoded: Vec<Vec<u8>> = if added.is_empty() {
        Vec::new()
    } else {
        added
            .split('/')
            .map(|segment| percent_decode_str(segment).collect())
            .collect()
    };
    let expected = levels(&names);
    // One empty name alone adds an empty segment, which reads the same as none.
    if !(expected.len() == 1 && expected[0].is_empty()) {
        assert_eq!(
            decoded, expected,
            "{joined}: the segments are not the names"
        );
    }

    if let Some(before) = url_crate_join(&base_url, &names) {
        assert_eq!(joined, before, "encoded unlike the url crate did");
    }
});
