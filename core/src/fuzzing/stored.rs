//! Fuzzing what the store holds: rows of any values a damaged or foreign database may
//! hold, read back by the store's own decoders and changed by its own writers.
//!
//! What it is for: the `stored_transfers` and `stored_resumable_batches` fuzz targets. A
//! database is built in `dir` through [`Store::open`] (the real schema), the rows are
//! inserted with plain SQL (SQLite keeps any type in any column), and the store's readers,
//! writers and the reconciliation at open run on them.
//!
//! What it must never do: decide what a property is (the targets assert), or write
//! anywhere but `dir`.

use std::collections::BTreeSet;
use std::path::Path;

use arbitrary::Arbitrary;
use rusqlite::types::Value;

use crate::clock::Clock;
use crate::error::FailureKind;
use crate::platform::{Handoff, PlatformError, PlatformTransferService};
use crate::reconcile::reconcile_at_open;
use crate::state::{Lane, StateKind, TransferState};
use crate::store::{self, CandidateFilter, Store, TotalsDelta};
use crate::{Transfer, TransferId};

/// One value of a column. SQLite is dynamically typed: a damaged or foreign database may
/// hold any of these in any column.
#[derive(Arbitrary, Clone, Debug)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A column this build fills from a short list of names (states, methods, ...): one of
/// them (`Known(n)`, the n-th modulo the list's length), or any value at all.
#[derive(Arbitrary, Clone, Debug)]
pub enum Named {
    Known(u8),
    Other(SqlValue),
}

/// A row of `transfers`, every column of the latest schema.
#[derive(Arbitrary, Clone, Debug)]
pub struct TransferRow {
    pub id: Named,
    pub source: SqlValue,
    pub destination: SqlValue,
    pub host: SqlValue,
    pub method: Named,
    pub multipart_field: SqlValue,
    pub headers: Named,
    pub priority: SqlValue,
    pub allow_expensive: SqlValue,
    pub allow_constrained: SqlValue,
    pub size: SqlValue,
    pub mtime_ns: SqlValue,
    pub state: Named,
    pub lane_key: Named,
    pub attempts: SqlValue,
    pub next_attempt_at: SqlValue,
    pub bytes_sent: SqlValue,
    pub error_kind: Named,
    pub error_status: SqlValue,
    pub error_message: SqlValue,
    pub created_at: SqlValue,
    pub updated_at: SqlValue,
    pub identity: SqlValue,
    pub group_name: SqlValue,
    pub metadata: Named,
}

/// A row of `resumable_uploads`.
#[derive(Arbitrary, Clone, Debug)]
pub struct ResumableRow {
    pub transfer_id: Named,
    pub protocol: Named,
    pub upload_url: SqlValue,
    pub confirmed_offset: SqlValue,
    pub updated_at: SqlValue,
}

/// A row of `state_totals`.
#[derive(Arbitrary, Clone, Debug)]
pub struct TotalsRow {
    pub state: Named,
    pub files: SqlValue,
    pub bytes: SqlValue,
}

/// A database's content, and what the OS says at the next open.
#[derive(Arbitrary, Clone, Debug)]
pub struct StoredState {
    pub transfers: Vec<TransferRow>,
    pub resumable: Vec<ResumableRow>,
    /// `None`: the totals the rows add up to, as the store keeps them; else these rows.
    pub totals: Option<Vec<TotalsRow>>,
    /// The OS tasks a platform service lists at open (`Known` picks a lane key); `None`:
    /// the queue opens without a platform service.
    pub outstanding: Option<Vec<Named>>,
    /// "Now" for the scheduler's query, in stored milliseconds.
    pub now_ms: i64,
}

const IDS: [&str; 4] = ["t0", "t1", "t2", "t3"];
const METHODS: [&str; 3] = ["PUT", "POST", "POST_MULTIPART"];
const HEADERS: [&str; 4] = ["[]", r#"[["x-a","1"]]"#, "{}", "[1]"];
/// Index 0 is NULL (no metadata); the last two are not a JSON object of strings.
const METADATA: [Option<&str>; 4] = [
    None,
    Some(r#"{"album":"7"}"#),
    Some("[]"),
    Some(r#"{"n":1}"#),
];
/// Index 0 is NULL (in-process); batch members share a key ending in `.batch`.
const LANE_KEYS: [Option<&str>; 4] = [
    None,
    Some("t0.1.0000000a"),
    Some("t1.1.0000000b.batch"),
    Some("t2.2.0000000c.batch"),
];
const PROTOCOLS: [&str; 3] = ["tus", "ietf-3", "ietf-8"];
const FAILURE_KINDS: [Option<FailureKind>; 4] = [
    None,
    Some(FailureKind::Network),
    Some(FailureKind::HttpStatus),
    Some(FailureKind::AttemptsExhausted),
];

impl SqlValue {
    fn to_sql(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Integer(value) => Value::Integer(*value),
            Self::Real(value) => Value::Real(*value),
            Self::Text(value) => Value::Text(value.clone()),
            Self::Blob(value) => Value::Blob(value.clone()),
        }
    }
}

impl Named {
    fn pick<T: Copy>(&self, list: &[T], known: impl Fn(T) -> Value) -> Value {
        match self {
            Self::Known(index) => known(list[usize::from(*index) % list.len()]),
            Self::Other(value) => value.to_sql(),
        }
    }

    fn text(&self, list: &[&str]) -> Value {
        self.pick(list, |name| Value::Text(name.to_owned()))
    }

    fn optional_text(&self, list: &[Option<&str>]) -> Value {
        self.pick(list, |name| {
            name.map_or(Value::Null, |name| Value::Text(name.to_owned()))
        })
    }

    fn state(&self) -> Value {
        self.pick(&StateKind::ALL, |kind| {
            Value::Text(kind.as_str().to_owned())
        })
    }
}

/// Files and bytes per state.
pub type Counted = Vec<(StateKind, u64, u64)>;

/// What the store made of a [`StoredState`].
#[derive(Debug, Default)]
pub struct StoredReport {
    /// The totals table counted the rows when they were stored (the rows gave no totals
    /// of their own, and their sizes added up), and every size is a non-negative integer:
    /// the writers must then keep it equal to a scan.
    pub totals_kept: bool,
    /// Every transfer, as `list` decodes them; `Err` when a row is corrupt.
    pub listed: Option<Result<Vec<Transfer>, String>>,
    /// Each state's list, when `listed` decoded.
    pub listed_by_state: Vec<(StateKind, Vec<Transfer>)>,
    /// Each listed transfer as `load` and `load_by_seq` read it.
    pub loaded: Vec<(Option<Transfer>, Option<Transfer>)>,
    /// Each listed transfer as read back after `save` wrote it unchanged.
    pub saved_and_reloaded: Vec<Option<Transfer>>,
    /// The totals table after the writers ran, and the rows counted by a scan (files and
    /// bytes per state), when both could be read.
    pub totals: Option<(Counted, Counted)>,
    /// The OS tasks the platform service listed (none without a service).
    pub outstanding: Vec<String>,
    /// Transfers adopted as OS tasks by the reconciliation at open.
    pub adopted: Option<Result<Vec<Transfer>, String>>,
    /// Transfers running on the OS after the reconciliation.
    pub running_on_platform: Option<Vec<Transfer>>,
    /// Each stored upload resource (by known id) before and after it is forgotten.
    pub resumable: Vec<(Result<bool, String>, Result<bool, String>)>,
    /// Queued and running transfers summed over the hosts of `host_backlogs`, when it
    /// could read them (before any writer ran).
    pub backlog: Option<(u64, u64)>,
    /// For each host with a due candidate: the host, and the transfer a recovering host's
    /// probe would go to (`longest_waiting_candidate`), by host; `Err` when unreadable.
    pub probes: Vec<(String, Result<Option<String>, String>)>,
}

/// Opens a new store in `dir` holding `state`'s rows. The totals are those the rows add up
/// to unless `state` gives its own.
fn build(state: &StoredState, dir: &Path) -> Result<(Store, bool), String> {
    let path = dir.join("fuzz.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    let mut store = Store::open(&path).map_err(|error| error.to_string())?;
    let conn = store.connection();
    let insert_transfer = "INSERT INTO transfers (id, source, destination, host, method, \
        multipart_field, headers, priority, allow_expensive, allow_constrained, size, mtime_ns, \
        state, lane_key, attempts, next_attempt_at, bytes_sent, error_kind, error_status, \
        error_message, created_at, updated_at, identity, group_name, metadata) VALUES (?1, ?2, \
        ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
        ?22, ?23, ?24, ?25)";
    for row in &state.transfers {
        let values = [
            row.id.text(&IDS),
            row.source.to_sql(),
            row.destination.to_sql(),
            row.host.to_sql(),
            row.method.text(&METHODS),
            row.multipart_field.to_sql(),
            row.headers.text(&HEADERS),
            row.priority.to_sql(),
            row.allow_expensive.to_sql(),
            row.allow_constrained.to_sql(),
            row.size.to_sql(),
            row.mtime_ns.to_sql(),
            row.state.state(),
            row.lane_key.optional_text(&LANE_KEYS),
            row.attempts.to_sql(),
            row.next_attempt_at.to_sql(),
            row.bytes_sent.to_sql(),
            row.error_kind.pick(&FAILURE_KINDS, |kind| {
                kind.map_or(Value::Null, |kind| Value::Text(kind.as_str().to_owned()))
            }),
            row.error_status.to_sql(),
            row.error_message.to_sql(),
            row.created_at.to_sql(),
            row.updated_at.to_sql(),
            row.identity.to_sql(),
            row.group_name.to_sql(),
            row.metadata.optional_text(&METADATA),
        ];
        // A row the schema refuses (NULL where NOT NULL, a repeated id) cannot be stored.
        let _ = conn.execute(insert_transfer, rusqlite::params_from_iter(values));
    }
    for row in &state.resumable {
        let values = [
            row.transfer_id.text(&IDS),
            row.protocol.text(&PROTOCOLS),
            row.upload_url.to_sql(),
            row.confirmed_offset.to_sql(),
            row.updated_at.to_sql(),
        ];
        let _ = conn.execute(
            "INSERT INTO resumable_uploads (transfer_id, protocol, upload_url, \
             confirmed_offset, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params_from_iter(values),
        );
    }
    let totals_from_rows = "DELETE FROM state_totals; INSERT INTO state_totals (state, files, \
         bytes) SELECT state, count(*), coalesce(sum(size), 0) FROM transfers GROUP BY state;";
    let sizes_sane = conn
        .query_row(
            "SELECT NOT EXISTS(SELECT 1 FROM transfers WHERE typeof(size) != 'integer' OR size < 0)",
            [],
            |row| row.get::<_, bool>(0),
        )
        .unwrap_or(false);
    let mut totals_kept = false;
    match &state.totals {
        None => {
            // Rows whose sizes overflow a sum cannot be counted; the table stays empty.
            totals_kept = conn.execute_batch(totals_from_rows).is_ok() && sizes_sane;
        }
        Some(rows) => {
            let _ = conn.execute("DELETE FROM state_totals", []);
            for row in rows {
                let values = [row.state.state(), row.files.to_sql(), row.bytes.to_sql()];
                let _ = conn.execute(
                    "INSERT INTO state_totals (state, files, bytes) VALUES (?1, ?2, ?3)",
                    rusqlite::params_from_iter(values),
                );
            }
        }
    }
    Ok((store, totals_kept))
}

/// Files and bytes per state: as the totals table holds them, and as a scan counts them.
fn totals_and_scan(conn: &rusqlite::Connection) -> Option<(Counted, Counted)> {
    let table = store::totals(conn).ok()?;
    let mut scan = conn
        .prepare("SELECT count(*), coalesce(sum(size), 0) FROM transfers WHERE state = ?1")
        .ok()?;
    let mut counted = Vec::new();
    let mut held = Vec::new();
    for kind in StateKind::ALL {
        let (files, bytes): (i64, i64) = scan
            .query_row([kind.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
            .ok()?;
        counted.push((kind, u64::try_from(files).ok()?, u64::try_from(bytes).ok()?));
        let (files, bytes) = table.get(kind);
        held.push((kind, files, bytes));
    }
    Some((held, counted))
}

/// The store's readers on `state`'s rows, and its writers where the rows decode: `list`
/// (all, and by state), `load`, `load_by_seq`, `save` of every transfer unchanged, the
/// scheduler's queries (a recovering host's probe included), the backlog per host, the
/// requeue at open, and the totals against a scan.
pub fn transfers(state: &StoredState, dir: &Path) -> Result<StoredReport, String> {
    let (mut store, totals_kept) = build(state, dir)?;
    let conn = store.connection();
    let mut report = StoredReport {
        totals_kept,
        ..StoredReport::default()
    };
    let filter = CandidateFilter {
        now_ms: state.now_ms,
        network_expensive: state.now_ms % 2 == 0,
        network_constrained: state.now_ms % 3 == 0,
        excluded_hosts: &["127.0.0.1:1".to_owned()],
    };
    let due = store::due_candidates(conn, &filter, 64).unwrap_or_default();
    let due_hosts: BTreeSet<String> = due.into_iter().map(|candidate| candidate.host).collect();
    for host in due_hosts {
        let probe = store::longest_waiting_candidate(conn, &filter, &host)
            .map(|found| found.map(|candidate| candidate.host))
            .map_err(|error| error.to_string());
        report.probes.push((host, probe));
    }
    report.backlog = store::host_backlogs(conn, None).ok().map(|hosts| {
        hosts.iter().fold((0, 0), |(queued, running), host| {
            (queued + host.queued, running + host.running)
        })
    });
    let _ = store::next_retry_at(conn, state.now_ms);
    let _ = store::any_runnable(conn);
    let listed = store::list(conn, None, 0, u64::MAX).map_err(|error| error.to_string());
    if let Ok(all) = &listed {
        for kind in StateKind::ALL {
            let of_kind = store::list(conn, Some(kind), 0, u64::MAX)
                .map_err(|error| format!("all rows decode, but not those {kind:?}: {error}"))?;
            report.listed_by_state.push((kind, of_kind));
        }
        let mut delta = TotalsDelta::default();
        for transfer in all {
            report.loaded.push((
                store::load(conn, &transfer.id).ok().flatten(),
                store::load_by_seq(conn, transfer.seq).ok().flatten(),
            ));
            let saved = store::save(conn, transfer, 0, &mut delta);
            report.saved_and_reloaded.push(
                saved
                    .ok()
                    .and_then(|()| store::load(conn, &transfer.id).ok().flatten()),
            );
        }
        store::apply_totals(conn, &delta).map_err(|error| error.to_string())?;
    }
    report.listed = Some(listed);
    // What every open does first, then what an open without a platform service does.
    let _ = store::requeue_interrupted_in_process(conn, state.now_ms);
    let _ = store::requeue_running(conn, state.now_ms);
    if let Ok(mut totals) = store::totals(conn) {
        let mut pending = TotalsDelta::default();
        pending.inserted(u64::MAX);
        totals.add_pending(&pending);
        let _ = totals.get(StateKind::Queued);
    }
    report.totals = totals_and_scan(conn);
    Ok(report)
}

/// A platform service that lists `keys` as its outstanding tasks and starts nothing.
struct ListedTasks(Vec<String>);

impl PlatformTransferService for ListedTasks {
    fn start(&self, _handoff: Handoff) -> Result<(), PlatformError> {
        Ok(())
    }

    fn cancel(&self, _handoff_key: &str) {}

    fn outstanding(&self) -> Result<Vec<String>, PlatformError> {
        Ok(self.0.clone())
    }
}

/// The resumable records and the OS tasks (packed batches share a lane key) of `state`'s
/// rows: every known id's upload resource loaded and forgotten, then the reconciliation
/// at open against the OS's `outstanding` list (or without a platform service).
pub fn resumable_and_batches(state: &StoredState, dir: &Path) -> Result<StoredReport, String> {
    let (mut store, totals_kept) = build(state, dir)?;
    let mut report = StoredReport {
        totals_kept,
        ..StoredReport::default()
    };
    let conn = store.connection();
    let _ = store::holds_any_resumable(conn);
    for id in IDS {
        let id = TransferId::from_stored(id.to_owned());
        let found = store::load_resumable(conn, &id).map(|record| record.is_some());
        let forgotten = store::forget_resumable(conn, &id).map(|record| record.is_some());
        let left = store::load_resumable(conn, &id).map(|record| record.is_some());
        report.resumable.push((
            found.and(forgotten).map_err(|error| error.to_string()),
            left.map_err(|error| error.to_string()),
        ));
    }
    let service = state.outstanding.as_ref().map(|keys| {
        ListedTasks(
            keys.iter()
                .filter_map(|key| match key.optional_text(&LANE_KEYS) {
                    Value::Text(text) => Some(text),
                    _ => None,
                })
                .collect(),
        )
    });
    report.outstanding = service
        .as_ref()
        .map(|service| service.0.clone())
        .unwrap_or_default();
    let path = store.path().to_path_buf();
    let adopted = reconcile_at_open(
        &mut store,
        service
            .as_ref()
            .map(|service| service as &dyn PlatformTransferService),
        &path,
        Clock::start(),
    )
    .map_err(|error| error.to_string());
    let conn = store.connection();
    report.running_on_platform = store::running_on_platform(conn).ok();
    report.totals = totals_and_scan(conn);
    report.adopted = Some(adopted);
    Ok(report)
}

/// The OS task a transfer is recorded on, if any.
pub fn handoff_key(transfer: &Transfer) -> Option<&str> {
    match &transfer.state {
        TransferState::Running {
            lane: Lane::Platform { handoff_key },
        } => Some(handoff_key),
        _ => None,
    }
}
