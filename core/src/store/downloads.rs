//! Rows of the `downloads` table (migration 9): each download's resume state
//! ([`DownloadRecord`]), and where a finished download was saved (`transfers.saved_as`).
//!
//! Only the actor calls these, inside its turn's transaction. A row that cannot be decoded
//! is reported as a corrupt database, never unwrapped. This module must never decide
//! whether a partial file may be resumed: the lane asks the server.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::row::{corrupt, to_i64};
use super::source_path;
use crate::TransferId;
use crate::download_record::DownloadRecord;

/// The resume state of download `id`, if an attempt recorded one.
pub(crate) fn load_download(
    conn: &Connection,
    id: &TransferId,
) -> rusqlite::Result<Option<DownloadRecord>> {
    conn.prepare_cached(
        "SELECT etag, last_modified, total_length, recorded_offset, digest_failures, placing \
         FROM downloads WHERE transfer_id = ?1",
    )?
    .query_row(params![id.as_str()], |row| {
        let total: Option<i64> = row.get(2)?;
        let offset: i64 = row.get(3)?;
        let failures: i64 = row.get(4)?;
        let placing = match row.get_ref(5)? {
            rusqlite::types::ValueRef::Null => None,
            _ => Some(source_path::from_row(row, 5)?),
        };
        Ok(DownloadRecord {
            etag: row.get(0)?,
            last_modified: row.get(1)?,
            total: total
                .map(|total| u64::try_from(total).map_err(|_| corrupt(2, "negative length")))
                .transpose()?,
            offset: u64::try_from(offset).map_err(|_| corrupt(3, "negative offset"))?,
            digest_failures: u32::try_from(failures).unwrap_or(u32::MAX),
            placing,
        })
    })
    .optional()
}

/// Records a download's resume state (a checkpoint).
pub(crate) fn save_download(
    conn: &Connection,
    id: &TransferId,
    record: &DownloadRecord,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO downloads (transfer_id, etag, last_modified, total_length, \
         recorded_offset, digest_failures, placing, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT(transfer_id) DO UPDATE SET etag = excluded.etag, \
             last_modified = excluded.last_modified, total_length = excluded.total_length, \
             recorded_offset = excluded.recorded_offset, \
             digest_failures = excluded.digest_failures, placing = excluded.placing, \
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        id.as_str(),
        record.etag,
        record.last_modified,
        record.total.map(to_i64),
        to_i64(record.offset),
        i64::from(record.digest_failures),
        record.placing.as_deref().map(source_path::to_sql),
        now_ms,
    ])?;
    Ok(())
}

/// Forgets a download's resume state (a retry from scratch, a purge).
pub(crate) fn forget_download(conn: &Connection, id: &TransferId) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM downloads WHERE transfer_id = ?1")?
        .execute(params![id.as_str()])?;
    Ok(())
}

/// Records a download's size once it is known (it was enqueued without one), in the turn
/// that records its success; the caller counts the change in the totals (`totals.rs`).
pub(crate) fn set_size(conn: &Connection, seq: i64, size: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE transfers SET size = ?2 WHERE seq = ?1")?
        .execute(params![seq, to_i64(size)])?;
    Ok(())
}

/// Records where a finished download was saved, in the turn that records its success.
pub(crate) fn set_saved_as(conn: &Connection, seq: i64, path: &Path) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE transfers SET saved_as = ?2 WHERE seq = ?1")?
        .execute(params![seq, source_path::to_sql(path)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::tests::migrated;

    #[test]
    fn a_record_round_trips_and_is_forgotten() {
        let conn = migrated();
        let id = TransferId::generate();
        assert_eq!(load_download(&conn, &id).expect("load"), None);
        let mut record = DownloadRecord {
            etag: Some("\"abc\"".into()),
            last_modified: None,
            total: Some(10),
            offset: 4,
            digest_failures: 1,
            placing: Some("/tmp/x".into()),
        };
        save_download(&conn, &id, &record, 1).expect("save");
        assert_eq!(
            load_download(&conn, &id).expect("load"),
            Some(record.clone())
        );
        record.offset = 10;
        record.placing = None;
        save_download(&conn, &id, &record, 2).expect("save again");
        assert_eq!(load_download(&conn, &id).expect("load"), Some(record));
        forget_download(&conn, &id).expect("forget");
        assert_eq!(load_download(&conn, &id).expect("load"), None);
    }

    #[test]
    fn a_negative_offset_is_a_corrupt_database() {
        let conn = migrated();
        conn.execute(
            "INSERT INTO downloads (transfer_id, recorded_offset, updated_at) VALUES ('t', -1, 0)",
            [],
        )
        .expect("insert");
        assert!(load_download(&conn, &TransferId::from_stored("t".into())).is_err());
    }
}
