//! How a source path is stored: as TEXT when it is valid UTF-8, as every path was before
//! other names were accepted, and as a BLOB of its raw bytes when it is not (Linux allows
//! any bytes but `/` and NUL in a name). A lossy conversion would store a path that names
//! another file, or none.
//!
//! It must never change the stored form of a UTF-8 path: the identity keys and lookups of
//! rows written earlier depend on it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rusqlite::Row;
use rusqlite::types::{ToSqlOutput, ValueRef};

/// The value bound for `path`: its text, or its bytes when it is not UTF-8.
pub(super) fn to_sql(path: &Path) -> ToSqlOutput<'_> {
    match path.to_str() {
        Some(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        None => ToSqlOutput::Borrowed(ValueRef::Blob(bytes(path))),
    }
}

/// The bytes of `path`, as the identity key hashes them (for a UTF-8 path, its text's).
pub(super) fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// The path stored in `column`, text or bytes.
pub(super) fn from_row(row: &Row<'_>, column: usize) -> rusqlite::Result<PathBuf> {
    match row.get_ref(column)? {
        ValueRef::Text(text) | ValueRef::Blob(text) => Ok(PathBuf::from(OsStr::from_bytes(text))),
        other => Err(rusqlite::Error::InvalidColumnType(
            column,
            "source".into(),
            other.data_type(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn round_trip(path: &Path) -> (PathBuf, String) {
        let conn = Connection::open_in_memory().expect("memory");
        conn.execute_batch("CREATE TABLE t(source TEXT NOT NULL)")
            .expect("table");
        conn.execute("INSERT INTO t VALUES (?1)", [to_sql(path)])
            .expect("insert");
        conn.query_row("SELECT source, typeof(source) FROM t", [], |row| {
            Ok((from_row(row, 0)?, row.get(1)?))
        })
        .expect("read")
    }

    #[test]
    fn a_utf8_path_is_stored_as_text_and_read_back() {
        let path = Path::new("/photos/café\tnew\nline.jpg");
        assert_eq!(round_trip(path), (path.to_path_buf(), "text".into()));
    }

    #[test]
    fn a_path_that_is_not_utf8_keeps_its_bytes() {
        let path = Path::new(OsStr::from_bytes(b"/photos/caf\xe9.jpg"));
        assert_eq!(round_trip(path), (path.to_path_buf(), "blob".into()));
    }
}
