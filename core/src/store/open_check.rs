//! What a file opened as a queue's database is: a Ferry database of a version this build
//! reads, an empty file, or something refused with a typed [`StoreError`]; and how a
//! SQLite error on opening becomes one. Shared by the one opener (`mod.rs`) and the
//! read-only snapshots (`read_only.rs`).
//!
//! Must never write: it reads pragmas and counts objects only.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

use super::schema;
use crate::error::StoreError;

/// `PRAGMA application_id` of every Ferry database: "FRRY".
pub(super) const FERRY_APPLICATION_ID: i64 = 0x4652_5259;

/// What a file opened as a queue's database holds, once [`identify`] accepted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identified {
    /// A new, empty file: nothing was ever stored in it.
    Empty,
    /// A Ferry database at this schema version (at most [`schema::LATEST_VERSION`]).
    Ferry { version: i64 },
}

/// Checks that `conn` holds a Ferry database this build can read (or an empty file),
/// reading only: a foreign file or a newer schema is refused.
pub(crate) fn identify(conn: &Connection, path: &Path) -> Result<Identified, StoreError> {
    let read = |pragma: &str| -> Result<i64, StoreError> {
        conn.pragma_query_value(None, pragma, |row| row.get(0))
            .map_err(|error| classify_sqlite_error(path, error))
    };
    let application_id = read("application_id")?;
    let version = read("user_version")?;
    let object_count: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(|error| classify_sqlite_error(path, error))?;
    // An empty file, perhaps being created right now by an opener that has yet to write
    // the schema (it writes the application id first).
    let ours_or_none = application_id == 0 || application_id == FERRY_APPLICATION_ID;
    if ours_or_none && object_count == 0 {
        return Ok(Identified::Empty);
    }
    if application_id != FERRY_APPLICATION_ID {
        return Err(StoreError::Foreign {
            path: path.into(),
            application_id,
        });
    }
    if version > schema::LATEST_VERSION {
        return Err(StoreError::NewerVersion {
            path: path.into(),
            found: version,
            supported: schema::LATEST_VERSION,
        });
    }
    Ok(Identified::Ferry { version })
}

pub(crate) fn classify_sqlite_error(path: &Path, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path: path.into() },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.into(),
            detail: error.to_string(),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Unavailable {
                path: path.into(),
                detail: error.to_string(),
            }
        }
        _ => StoreError::sqlite(error),
    }
}
