//! Writing the uploads (and downloads) of one enqueue (`enqueue`, `enqueue_many`,
//! `enqueue_download`): finding each one's reusable transfer, inserting the new ones.
//!
//! The statements are prepared once per enqueue, not looked up in the connection's cache
//! for every row: with 10,000 uploads, the cache lookups alone were about a tenth of the
//! enqueue's SQLite time (`many_small_puts`, where nothing can start until it commits).
//!
//! It counts what it inserted or queued again ([`EnqueueWriter::totals`]); the turn adds
//! that to the totals before it commits (`totals.rs`).
//!
//! It only reads, inserts and renews rows; deciding what an existing transfer means for a
//! new enqueue is the actor's.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use super::identity::identity_key;
use super::row::{corrupt, text, to_i64};
use super::source_path;
use super::totals::TotalsDelta;
use crate::TransferId;
use crate::download::{Direction, Download, DownloadSpec, ValidatedDownload};
use crate::state::StateKind;
use crate::upload::{SourceSnapshot, Upload, ValidatedUpload};

/// The newest transfer of an upload's source, destination and method.
pub(crate) struct Reusable {
    pub id: TransferId,
    pub state: StateKind,
    pub snapshot: SourceSnapshot,
    /// Its headers as stored (see [`stored_headers`]).
    pub headers: String,
    /// The row's key.
    pub seq: i64,
}

/// An upload's headers as the store holds them: a JSON array of name and value pairs.
pub(crate) fn stored_headers(upload: &Upload) -> rusqlite::Result<Cow<'static, str>> {
    headers_json(&upload.headers)
}

/// Headers as the store holds them: a JSON array of name and value pairs.
fn headers_json(headers: &[(String, String)]) -> rusqlite::Result<Cow<'static, str>> {
    if headers.is_empty() {
        return Ok(Cow::Borrowed("[]"));
    }
    serde_json::to_string(headers)
        .map(Cow::Owned)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
}

/// An upload's metadata as the store holds it: a JSON object, or NULL when it has none.
pub(crate) fn stored_metadata(upload: &Upload) -> rusqlite::Result<Option<String>> {
    metadata_json(&upload.metadata)
}

fn metadata_json(metadata: &BTreeMap<String, String>) -> rusqlite::Result<Option<String>> {
    if metadata.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(metadata)
        .map(Some)
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
}

/// What makes two uploads the same: their source, destination, method and multipart
/// field, as stored, and the key they are found by. Never their metadata or group: those
/// are the app's data about the upload, and a repeat returns the transfer as first
/// enqueued.
pub(crate) struct Identity<'upload> {
    source: &'upload Path,
    destination: &'upload str,
    method: &'static str,
    field: Option<&'upload str>,
    key: i64,
}

impl<'upload> Identity<'upload> {
    /// A download's identity: its local file and URL, with the method `GET` that no
    /// upload has, so a download and an upload of the same pair are two transfers.
    pub(crate) fn of_download(download: &'upload Download) -> Self {
        let source = download.destination.as_path();
        let key = identity_key(source_path::bytes(source), &download.url, "GET", None);
        Self {
            source,
            destination: &download.url,
            method: "GET",
            field: None,
            key,
        }
    }

    pub(crate) fn of(upload: &'upload Upload) -> Self {
        let source = upload.source.as_path();
        let (method, field) = upload.method.to_stored();
        let key = identity_key(
            source_path::bytes(source),
            &upload.destination,
            method,
            field,
        );
        Self {
            source,
            destination: &upload.destination,
            method,
            field,
            key,
        }
    }
}

/// The prepared statements of one enqueue, on its turn's transaction.
pub(crate) struct EnqueueWriter<'conn> {
    conn: &'conn Connection,
    exists: CachedStatement<'conn>,
    insert: CachedStatement<'conn>,
    totals: TotalsDelta,
}

impl<'conn> EnqueueWriter<'conn> {
    pub(crate) fn new(conn: &'conn Connection) -> rusqlite::Result<Self> {
        // Most enqueues are new files: a probe of the identity index alone, which never
        // reads the table, is far cheaper than the ordered lookup in `newest_of`, which
        // only runs when there may be something to find.
        let exists =
            conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM transfers WHERE identity = ?1)")?;
        let insert = conn.prepare_cached(
            "INSERT INTO transfers (id, source, destination, host, method, multipart_field, \
             headers, priority, allow_expensive, allow_constrained, size, mtime_ns, state, \
             next_attempt_at, created_at, updated_at, identity, group_name, metadata) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'queued', ?13, ?13, ?13, \
             ?14, ?15, ?16)",
        )?;
        Ok(Self {
            conn,
            exists,
            insert,
            totals: TotalsDelta::default(),
        })
    }

    /// The newest transfer of the same source, destination and method, if any.
    pub(crate) fn find_reusable(
        &mut self,
        identity: &Identity<'_>,
    ) -> rusqlite::Result<Option<Reusable>> {
        let Identity {
            source,
            destination,
            method,
            field,
            key,
        } = identity;
        let found: bool = self.exists.query_row([key], |row| row.get(0))?;
        if !found {
            return Ok(None);
        }
        let mut newest_of = self.conn.prepare_cached(
            "SELECT id, state, size, mtime_ns, headers, seq FROM transfers \
             WHERE identity = ?1 AND source = ?2 AND destination = ?3 AND method = ?4 \
               AND multipart_field IS ?5 \
             ORDER BY seq DESC LIMIT 1",
        )?;
        newest_of
            .query_row(
                params![key, source_path::to_sql(source), destination, method, field],
                |row| {
                    let state = StateKind::parse(text(row, 1)?)
                        .ok_or_else(|| corrupt(1, "unknown state"))?;
                    let size: i64 = row.get(2)?;
                    Ok(Reusable {
                        id: TransferId::from_stored(row.get(0)?),
                        state,
                        snapshot: SourceSnapshot {
                            size: u64::try_from(size).unwrap_or(0),
                            mtime_ns: row.get(3)?,
                        },
                        headers: row.get(4)?,
                        seq: row.get(5)?,
                    })
                },
            )
            .optional()
    }

    /// Inserts a new queued transfer; `identity` is its upload's.
    pub(crate) fn insert(
        &mut self,
        id: &TransferId,
        validated: &ValidatedUpload,
        identity: &Identity<'_>,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let upload = &validated.upload;
        let headers = stored_headers(upload)?;
        let metadata = stored_metadata(upload)?;
        self.insert.execute(params![
            id.as_str(),
            source_path::to_sql(identity.source),
            identity.destination,
            validated.host,
            identity.method,
            identity.field,
            headers,
            upload.priority,
            upload.constraints.allow_expensive,
            upload.constraints.allow_constrained,
            to_i64(validated.snapshot.size),
            validated.snapshot.mtime_ns,
            now_ms,
            identity.key,
            upload.group,
            metadata,
        ])?;
        self.totals.inserted(validated.snapshot.size);
        Ok(())
    }

    /// Inserts a new queued download; `identity` is its own ([`Identity::of_download`]).
    /// Its size is the expected one, 0 when unknown.
    pub(crate) fn insert_download(
        &mut self,
        id: &TransferId,
        validated: &ValidatedDownload,
        identity: &Identity<'_>,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let download = &validated.download;
        let spec = serde_json::to_string(&DownloadSpec::of(download))
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        let size = download.expected_size.unwrap_or(0);
        self.conn
            .prepare_cached(
                "INSERT INTO transfers (id, source, destination, host, method, multipart_field, \
                 headers, priority, allow_expensive, allow_constrained, size, mtime_ns, state, \
                 next_attempt_at, created_at, updated_at, identity, group_name, metadata, \
                 direction, download) \
                 VALUES (?1, ?2, ?3, ?4, 'GET', NULL, ?5, ?6, ?7, ?8, ?9, 0, 'queued', ?10, \
                 ?10, ?10, ?11, ?12, ?13, ?15, ?14)",
            )?
            .execute(params![
                id.as_str(),
                source_path::to_sql(identity.source),
                identity.destination,
                validated.host,
                headers_json(&download.headers)?,
                download.priority,
                download.constraints.allow_expensive,
                download.constraints.allow_constrained,
                to_i64(size),
                now_ms,
                identity.key,
                download.group,
                metadata_json(&download.metadata)?,
                spec,
                Direction::Download.as_str(),
            ])?;
        self.totals.inserted(size);
        Ok(())
    }

    /// Gives the transfer waiting for credentials in `existing` the `headers` (as
    /// [`stored_headers`] gives them) and queues it again, due `now_ms`, with a fresh
    /// attempt budget. Returns whether it was still waiting (and so was renewed).
    pub(crate) fn renew_waiting_for_credentials(
        &mut self,
        existing: &Reusable,
        headers: &str,
        now_ms: i64,
    ) -> rusqlite::Result<bool> {
        let renewed = self
            .conn
            .prepare_cached(
                "UPDATE transfers SET headers = ?2, state = 'queued', attempts = 0, \
                 next_attempt_at = ?3, updated_at = ?3 WHERE seq = ?1 AND state = 'auth_required'",
            )?
            .execute(params![existing.seq, headers, now_ms])?;
        if renewed == 1 {
            self.totals.moved(
                StateKind::AuthRequired,
                StateKind::Queued,
                existing.snapshot.size,
            );
        }
        Ok(renewed == 1)
    }

    /// What this batch inserted and queued again, for the totals (`totals.rs`).
    pub(crate) fn totals(&self) -> &TotalsDelta {
        &self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransferState;
    use crate::clock::from_ms;
    use crate::store::schema::tests::migrated;
    use crate::store::transfers::load;
    use crate::store::transfers::tests::{edited, stored_in};

    #[test]
    fn a_credential_renewal_writes_what_a_fresh_requeue_writes() {
        let conn = migrated();
        let now_ms = 7_000;
        let waiting = stored_in(&conn, "a", TransferState::AuthRequired);
        let mut by_the_edge = waiting.clone();
        assert!(by_the_edge.requeue_afresh(from_ms(now_ms)));
        let existing = Reusable {
            id: waiting.id.clone(),
            state: StateKind::AuthRequired,
            snapshot: waiting.snapshot(),
            headers: "[]".into(),
            seq: waiting.seq,
        };
        let mut writer = EnqueueWriter::new(&conn).expect("writer");
        let renewed = writer
            .renew_waiting_for_credentials(
                &existing,
                "[[\"Authorization\",\"Bearer new\"]]",
                now_ms,
            )
            .expect("renew");
        assert!(renewed, "it waited for credentials");
        let stored = load(&conn, &waiting.id).expect("load").expect("stored");
        assert_eq!(edited(&stored), edited(&by_the_edge));
        assert_eq!(stored.upload.headers.len(), 1, "the new headers are kept");
        assert!(
            !writer
                .renew_waiting_for_credentials(&existing, "[]", now_ms)
                .expect("renew"),
            "a transfer no longer waiting is left alone"
        );
    }
}
