//! How names and messages are shown: on a terminal with every control character escaped,
//! and in JSON with the bytes of a name that are not UTF-8 escaped.
//!
//! What it is for: a file may be named with a newline, a TAB, an ANSI escape sequence or
//! a right-to-left override; printed raw, such a name breaks a line of output in two,
//! forges one, moves the cursor or reorders what follows. [`for_terminal`] shows those
//! characters as `\n`, `\t`, `\u{1b}`, `\u{202e}`. Linux names may hold any bytes but `/`
//! and NUL, and JSON strings hold only Unicode: [`serialize_path`] writes such bytes as
//! `\xNN` (lower-case hex, as Python's `backslashreplace`), where serde would refuse the
//! whole summary. A name that already holds a backslash followed by `x` and two hex digits
//! reads the same; the `destination` beside it (percent-encoded bytes) is exact.
//!
//! What it must never do: drop or merge characters (two names stay told apart), or change
//! anything in JSON that JSON itself can carry (it escapes control characters itself).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `text` with every character that could act on a terminal escaped.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_a_terminal) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts_on_a_terminal(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// `path` for a terminal: control characters escaped, bytes that are not UTF-8 as `\xNN`.
pub fn path_for_terminal(path: &Path) -> String {
    for_terminal(&path_text(path)).into_owned()
}

/// `path` as Unicode text: as it is when it is UTF-8, else with each byte that is not
/// written as `\xNN`.
pub fn path_text(path: &Path) -> Cow<'_, str> {
    let bytes = path.as_os_str().as_bytes();
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut text = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    Cow::Owned(text)
}

/// For `#[serde(serialize_with)]`: a path as [`path_text`], never an error.
pub fn serialize_path<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path_text(path))
}

/// Control characters (C0, DEL, C1) and the invisible marks that reorder text around them.
fn acts_on_a_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn control_characters_are_shown_escaped_and_the_rest_as_is() {
        assert_eq!(for_terminal("plain café.txt"), "plain café.txt");
        assert_eq!(
            for_terminal("new\nline\ttab\rcr\u{1b}[2J\u{7f}\u{85}"),
            "new\\nline\\ttab\\rcr\\u{1b}[2J\\u{7f}\\u{85}"
        );
        assert_eq!(for_terminal("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_written_as_hex_escapes() {
        let path = Path::new(OsStr::from_bytes(b"/d/caf\xe9\n\xff\xfe.txt"));
        assert_eq!(path_text(path), "/d/caf\\xe9\n\\xff\\xfe.txt");
        assert_eq!(path_for_terminal(path), "/d/caf\\xe9\\n\\xff\\xfe.txt");
        assert_eq!(path_text(Path::new("/d/é.txt")), "/d/é.txt");
    }

    #[test]
    fn a_path_that_is_not_utf8_serialises_to_json() {
        #[derive(serde::Serialize)]
        struct Report {
            #[serde(serialize_with = "serialize_path")]
            path: std::path::PathBuf,
        }
        let path = Path::new(OsStr::from_bytes(b"caf\xe9\t.txt")).to_path_buf();
        let json = serde_json::to_string(&Report { path }).expect("serialises");
        assert_eq!(json, r#"{"path":"caf\\xe9\t.txt"}"#);
    }
}
