//! Reading and writing one column of a stored row: a text column borrowed from the row, a
//! count as SQLite's `i64`, and the error for a value that cannot be what it claims to be.
//! One copy, used by every table's code in `store/`.
//!
//! Must never know a table: only columns.

use rusqlite::Row;

pub(super) fn corrupt(column: usize, detail: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        detail.into().into(),
    )
}

/// A text column, borrowed from the row: decoding a transfer allocates only what it keeps.
pub(super) fn text<'row>(row: &'row Row<'_>, column: usize) -> rusqlite::Result<&'row str> {
    row.get_ref(column)?.as_str().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
