//! Rows of the `resumable_uploads` table: where a transfer's upload resource lives on the
//! server and the last offset the server confirmed.
//!
//! Only the actor calls these, inside its turn's transaction. A row that cannot be decoded
//! is reported as a corrupt database, never unwrapped. This module must never decide
//! whether a resource is still valid: the lane asks the server.

use rusqlite::{Connection, OptionalExtension, params};

use super::row::corrupt;
use crate::TransferId;
use crate::resumable::ResumableProtocol;
use crate::upload_resource::UploadResource;

pub(crate) fn load_resumable(
    conn: &Connection,
    id: &TransferId,
) -> rusqlite::Result<Option<UploadResource>> {
    let row = conn
        .prepare_cached(
            "SELECT protocol, upload_url, confirmed_offset FROM resumable_uploads
             WHERE transfer_id = ?1",
        )?
        .query_row(params![id.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    row.map(|(protocol, upload_url, offset)| record_of(&protocol, upload_url, offset))
        .transpose()
}

/// A record from its stored columns: protocol, upload URL, confirmed offset.
pub(super) fn record_of(
    protocol: &str,
    upload_url: String,
    offset: i64,
) -> rusqlite::Result<UploadResource> {
    let protocol = ResumableProtocol::from_stored(protocol)
        .ok_or_else(|| corrupt(0, format!("unknown resumable protocol {protocol:?}")))?;
    let confirmed_offset =
        u64::try_from(offset).map_err(|_| corrupt(2, "negative confirmed offset"))?;
    Ok(UploadResource {
        protocol,
        upload_url,
        confirmed_offset,
    })
}

pub(crate) fn save_resumable(
    conn: &Connection,
    id: &TransferId,
    record: &UploadResource,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let offset = i64::try_from(record.confirmed_offset).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO resumable_uploads (transfer_id, protocol, upload_url, confirmed_offset, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(transfer_id) DO UPDATE SET protocol = excluded.protocol,
             upload_url = excluded.upload_url, confirmed_offset = excluded.confirmed_offset,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
            id.as_str(),
            record.protocol.to_stored(),
            record.upload_url,
            offset,
            now_ms
        ],
    )?;
    Ok(())
}

/// Whether any transfer has an upload resource stored.
pub(crate) fn holds_any_resumable(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM resumable_uploads)")?
        .query_row([], |row| row.get(0))
}

/// Forgets a transfer's upload resource; returns what was stored, if anything.
pub(crate) fn forget_resumable(
    conn: &Connection,
    id: &TransferId,
) -> rusqlite::Result<Option<UploadResource>> {
    let record = load_resumable(conn, id)?;
    if record.is_some() {
        conn.prepare_cached("DELETE FROM resumable_uploads WHERE transfer_id = ?1")?
            .execute(params![id.as_str()])?;
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::schema::tests::migrated;

    #[test]
    fn a_record_is_saved_updated_and_forgotten() {
        let conn = migrated();
        let id = TransferId::generate();
        assert_eq!(load_resumable(&conn, &id).expect("load"), None);
        let mut record = UploadResource {
            protocol: ResumableProtocol::Tus,
            upload_url: "http://127.0.0.1:1/files/abc".into(),
            confirmed_offset: 0,
        };
        save_resumable(&conn, &id, &record, 1).expect("save");
        record.confirmed_offset = 1 << 40;
        save_resumable(&conn, &id, &record, 2).expect("update");
        assert_eq!(
            load_resumable(&conn, &id).expect("load"),
            Some(record.clone())
        );
        assert_eq!(forget_resumable(&conn, &id).expect("forget"), Some(record));
        assert_eq!(load_resumable(&conn, &id).expect("load"), None);
        assert_eq!(forget_resumable(&conn, &id).expect("forget again"), None);
    }

    #[test]
    fn holds_any_resumable_tells_an_empty_table_from_one_with_a_record() {
        let conn = migrated();
        assert!(!holds_any_resumable(&conn).expect("query"));
        let record = UploadResource {
            protocol: ResumableProtocol::ietf_latest(),
            upload_url: "http://127.0.0.1:1/uploads/x".into(),
            confirmed_offset: 7,
        };
        save_resumable(&conn, &TransferId::generate(), &record, 1).expect("save");
        assert!(holds_any_resumable(&conn).expect("query"));
    }

    #[test]
    fn an_unknown_protocol_is_corruption_not_a_panic() {
        let conn = migrated();
        conn.execute(
            "INSERT INTO resumable_uploads VALUES ('t', 'gopher', 'u', 0, 0)",
            [],
        )
        .expect("insert");
        let error = load_resumable(&conn, &TransferId::from_stored("t".into())).unwrap_err();
        assert!(error.to_string().contains("gopher"), "{error}");
    }
}
