//! Rows of the `server_responses` table: the server's answer to each upload that
//! succeeded (status, headers as JSON, the body's kept bytes, whether it was cut), one per
//! transfer at most, written in the turn that records the success and deleted with the
//! transfer (`bulk.rs`, a purge).
//!
//! Only the actor calls these, inside its turn's transaction. A row that cannot be decoded
//! is reported as a corrupt database, never unwrapped. This module must never redact or
//! cut anything: it stores what it is given (`ServerResponse::kept` made it fit).

use rusqlite::{Connection, OptionalExtension, params};

use super::row::{corrupt, text};
use super::transfers::decode_headers;
use crate::TransferId;
use crate::server_response::ServerResponse;

/// Stores `answer` as the answer of the transfer `id` (replacing any earlier one).
pub(crate) fn save_response(
    conn: &Connection,
    id: &TransferId,
    answer: &ServerResponse,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let headers = if answer.headers.is_empty() {
        "[]".to_owned()
    } else {
        serde_json::to_string(&answer.headers)
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO server_responses \
         (transfer_id, status, headers, body, body_truncated, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id.as_str(),
        answer.status,
        headers,
        answer.body,
        answer.body_truncated,
        now_ms
    ])?;
    Ok(())
}

/// The stored answer of the transfer `id`, if it has one.
pub(crate) fn load_response(
    conn: &Connection,
    id: &TransferId,
) -> rusqlite::Result<Option<ServerResponse>> {
    conn.prepare_cached(
        "SELECT status, headers, body, body_truncated FROM server_responses \
         WHERE transfer_id = ?1",
    )?
    .query_row(params![id.as_str()], |row| {
        let status: i64 = row.get(0)?;
        let status = u16::try_from(status)
            .map_err(|_| corrupt(0, format!("status {status} is no HTTP status")))?;
        let headers = decode_headers(text(row, 1)?, 1)?;
        Ok(ServerResponse::received(
            status,
            headers,
            row.get(2)?,
            row.get(3)?,
        ))
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::tests::migrated;

    #[test]
    fn an_answer_reads_back_as_it_was_stored() {
        let conn = migrated();
        let id = TransferId::generate();
        assert_eq!(load_response(&conn, &id).expect("load"), None);
        let answer = ServerResponse::received(
            201,
            vec![("location".into(), "/f/1".into())],
            b"{\"ok\":true}".to_vec(),
            true,
        );
        save_response(&conn, &id, &answer, 7).expect("save");
        assert_eq!(load_response(&conn, &id).expect("load"), Some(answer));
    }

    #[test]
    fn a_stored_status_out_of_range_is_a_corrupt_row() {
        let conn = migrated();
        let id = TransferId::generate();
        conn.execute(
            "INSERT INTO server_responses VALUES (?1, 70000, '[]', x'', 0, 0)",
            params![id.as_str()],
        )
        .expect("insert");
        assert!(load_response(&conn, &id).is_err());
    }
}
