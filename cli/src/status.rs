//! `ferry status`: what the queue holds, why what waits is waiting, and every failure
//! that still stands; also while a push runs on the same database.
//!
//! What it is for: answering "did everything arrive, and if not, why?" from the database
//! alone, as text or one JSON object, through a read-only [`QueueSnapshot`]: files counted
//! by their newest record (a failure that a later run uploaded is not a failure any more;
//! it is counted in `superseded_failures`), whether a process drives the queue now, per
//! host what waits (next try, last error), and the transfers due soonest; with `--group`,
//! all of it for that group alone. Each listed transfer shows its group and metadata.
//! Uploads and downloads share the queue: every count covers both, and `downloads` (with
//! `downloads_total`) says how many of them are downloads; a listed download shows its
//! URL first and the file it is saved to second.
//!
//! What it must never do: write to the database, take the queue's lock, start an upload,
//! create a database that does not exist, or print a header value: only header names are
//! shown, values may be secrets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ferry::{Direction, QueueSnapshot, SnapshotLimits, StateKind, Transfer, UploadMethod};
use indicatif::{HumanBytes, HumanDuration};
use serde::Serialize;

use crate::args::StatusArgs;
use crate::error::{CliError, Outcome};
use crate::host_report::{self, StoredHostJson};
use crate::{escape, grouped, plural, reason, stdout};

/// Queued transfers listed (soonest due first); the counts cover every one.
const WAITING_LISTED: usize = 100;
/// Of those, shown as text.
const WAITING_SHOWN: usize = 10;

#[derive(Debug, Serialize)]
pub struct StatusReport<'a> {
    #[serde(serialize_with = "escape::serialize_path")]
    pub database: PathBuf,
    /// The group shown (`--group`): every count and list is of it alone; `null` for the
    /// whole queue.
    pub group: Option<String>,
    /// Whether a process (a push, a pull, an app) drives the queue now; `null` where the system
    /// cannot tell.
    pub in_use: Option<bool>,
    /// Files (a source and a destination), each counted once by its newest record.
    pub total: u64,
    /// Files by the state of their newest record; every state, including empty ones.
    pub by_state: BTreeMap<&'static str, u64>,
    /// Of `total`, the downloads (files fetched into a local path); the rest are uploads.
    pub downloads_total: u64,
    /// Of `by_state`, the downloads, by the state of their newest record.
    pub downloads: BTreeMap<&'static str, u64>,
    pub bytes_total: u64,
    pub bytes_succeeded: u64,
    /// Records (one per enqueue) by state: a file that failed and was uploaded by a
    /// later run has two.
    pub records_total: u64,
    pub records_by_state: BTreeMap<&'static str, u64>,
    /// Failed records whose file a later run has uploaded or queued again: not listed.
    pub superseded_failures: u64,
    /// Per host with queued or running transfers: what waits and why.
    pub hosts: Vec<StoredHostJson<'a>>,
    /// Queued transfers, the soonest due first (at most 100).
    pub waiting: Vec<StatusTransfer>,
    /// Files whose newest record failed permanently or waits for credentials.
    pub failures: Vec<StatusTransfer>,
}

/// One transfer as `status` shows it.
#[derive(Debug, Serialize)]
pub struct StatusTransfer {
    pub id: String,
    /// `upload` or `download`.
    pub direction: &'static str,
    /// Where the bytes come from: an upload's local file, a download's URL.
    pub source: Endpoint,
    /// Where the bytes go: an upload's URL, a download's local file.
    pub destination: Endpoint,
    /// `PUT`, `POST`, `POST multipart`, or `GET` for a download.
    pub method: &'static str,
    pub state: &'static str,
    pub attempts: u32,
    /// For a waiting download: the bytes its partial file holds, which its next attempt
    /// continues from (`null` when none).
    pub held_bytes: Option<u64>,
    /// For a queued transfer: in how many seconds it may start (0 when due).
    pub next_try_in_secs: Option<f64>,
    pub kind: Option<&'static str>,
    pub http_status: Option<u16>,
    pub reason: String,
    /// Names of the extra headers this transfer sends (never their values).
    pub header_names: Vec<String>,
    /// The group it was enqueued in (`push --group`).
    pub group: Option<String>,
    /// The app metadata stored with it (`push --meta`); never sent.
    pub metadata: BTreeMap<String, String>,
}

/// One end of a transfer: a local file (escaped as `escape.rs` escapes paths) or a URL
/// (without its query or user information). Serialised as a plain string.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Endpoint {
    File(#[serde(serialize_with = "escape::serialize_path")] PathBuf),
    Url(String),
}

impl Endpoint {
    fn for_terminal(&self) -> String {
        match self {
            Self::File(path) => escape::path_for_terminal(path),
            Self::Url(url) => escape::for_terminal(url).into_owned(),
        }
    }
}

/// `ferry status ...`.
pub async fn run(args: StatusArgs) -> Result<Outcome, CliError> {
    let db = args.db.db;
    require_database(&db)?;
    let limits = SnapshotLimits {
        waiting: WAITING_LISTED,
        failures: usize::MAX,
    };
    let snapshot = match args.group {
        None => QueueSnapshot::read(&db, limits).await?,
        Some(group) => QueueSnapshot::read_group(&db, group, limits).await?,
    };
    let report = report(&snapshot);
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|error| {
            CliError::Internal(format!("the status cannot be serialised: {error}"))
        })?;
        stdout::write_report("status", |out| writeln!(out, "{json}"))?;
    } else {
        stdout::write_report("status", |mut out| write_text(&report, &snapshot, &mut out))?;
    }
    Ok(Outcome::Success)
}

/// Refuses a database that does not exist (opening it would create an empty one).
pub fn require_database(db: &std::path::Path) -> Result<(), CliError> {
    if db.is_file() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "there is no queue database at {}; run `ferry push` or `ferry pull` first, or point \
         --db (or FERRY_DB) at the database one of them used",
        db.display()
    )))
}

fn report(snapshot: &QueueSnapshot) -> StatusReport<'_> {
    let now = snapshot.taken_at;
    let by = |counts: &[ferry::StateCount]| {
        counts
            .iter()
            .map(|count| (count.state.as_str(), count.files))
            .collect::<BTreeMap<_, _>>()
    };
    let failed_records = snapshot
        .records
        .iter()
        .find(|count| count.state == StateKind::Failed)
        .map_or(0, |count| count.files);
    StatusReport {
        database: snapshot.database.clone(),
        group: snapshot.group.clone(),
        in_use: snapshot.in_use,
        total: snapshot.files.iter().map(|count| count.files).sum(),
        by_state: by(&snapshot.files),
        downloads_total: snapshot.downloads.iter().map(|count| count.files).sum(),
        downloads: by(&snapshot.downloads),
        bytes_total: snapshot.files.iter().map(|count| count.bytes).sum(),
        bytes_succeeded: snapshot
            .files
            .iter()
            .find(|count| count.state == StateKind::Succeeded)
            .map_or(0, |count| count.bytes),
        records_total: snapshot.records.iter().map(|count| count.files).sum(),
        records_by_state: by(&snapshot.records),
        superseded_failures: failed_records.saturating_sub(snapshot.files_in(StateKind::Failed)),
        hosts: host_report::stored_json(&snapshot.hosts, now),
        waiting: snapshot
            .waiting
            .iter()
            .map(|transfer| {
                let held = snapshot
                    .held_bytes
                    .iter()
                    .find(|(id, _)| *id == transfer.id)
                    .map(|(_, bytes)| *bytes);
                StatusTransfer {
                    held_bytes: held,
                    ..describe(transfer, now)
                }
            })
            .collect(),
        failures: snapshot
            .failures
            .iter()
            .map(|transfer| describe(transfer, now))
            .collect(),
    }
}

fn describe(transfer: &Transfer, now: SystemTime) -> StatusTransfer {
    let upload = &transfer.upload;
    let error = transfer.last_error.as_ref();
    let state = transfer.state.kind();
    let download = transfer.direction == Direction::Download;
    let file = Endpoint::File(upload.source.clone());
    // Without its query (a presigned URL's signature) and any user information.
    let url = Endpoint::Url(ferry::redact_url(&upload.destination));
    let (source, destination) = if download { (url, file) } else { (file, url) };
    StatusTransfer {
        id: transfer.id.to_string(),
        direction: if download { "download" } else { "upload" },
        source,
        destination,
        method: match upload.method {
            _ if download => "GET",
            UploadMethod::Put => "PUT",
            UploadMethod::Post => "POST",
            UploadMethod::PostMultipart { .. } => "POST multipart",
        },
        state: state.as_str(),
        attempts: transfer.attempts,
        held_bytes: None,
        next_try_in_secs: (state == StateKind::Queued).then(|| {
            transfer
                .next_attempt_at
                .duration_since(now)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64()
        }),
        kind: error.map(|error| error.kind.as_str()),
        http_status: error.and_then(|error| error.http_status),
        reason: error.map_or_else(
            || "no reason was recorded".to_owned(),
            |error| reason::text_for(error, transfer.direction),
        ),
        header_names: upload
            .headers
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
        group: upload.group.clone(),
        metadata: upload.metadata.clone(),
    }
}

/// Whether a rerun has nothing to continue: nothing queued, running, paused, waiting for
/// credentials or failed (a rerun tries failed files again).
fn nothing_left(report: &StatusReport<'_>) -> bool {
    [
        StateKind::Failed,
        StateKind::Queued,
        StateKind::Running,
        StateKind::Paused,
        StateKind::AuthRequired,
    ]
    .iter()
    .all(|state| report.by_state.get(state.as_str()).copied().unwrap_or(0) == 0)
}

/// The first line: the queue, its files and bytes, and whether a process runs it.
fn heading(report: &StatusReport<'_>) -> String {
    format!(
        "queue {}{}: {}, {} ({} succeeded); {}",
        escape::path_for_terminal(&report.database),
        report
            .group
            .as_deref()
            .map_or_else(String::new, |group| format!(
                ", group {}",
                escape::for_terminal(group)
            )),
        plural::count(report.total, "file", "files"),
        HumanBytes(report.bytes_total),
        HumanBytes(report.bytes_succeeded),
        match report.in_use {
            Some(true) => "a ferry process (a push, a pull or an app) is transferring it now",
            Some(false) if nothing_left(report) =>
                "no process is running it; nothing is left to do",
            Some(false) => {
                "no process is running it; the same `ferry push` or `ferry pull` continues it"
            }
            None => "whether a ferry process is transferring it cannot be told here",
        }
    )
}

fn write_text(
    report: &StatusReport<'_>,
    snapshot: &QueueSnapshot,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(out, "{}", heading(report))?;
    for state in StateKind::ALL {
        let count = report.by_state.get(state.as_str()).copied().unwrap_or(0);
        if report.downloads_total == 0 {
            writeln!(out, "  {:<14} {count:>8}", state.as_str())?;
            continue;
        }
        let downloads = report.downloads.get(state.as_str()).copied().unwrap_or(0);
        writeln!(
            out,
            "  {:<14} {count:>8}   ({downloads} of them downloads)",
            state.as_str()
        )?;
    }
    if report.superseded_failures > 0 {
        writeln!(
            out,
            "  ({} of earlier runs not listed: a later run sent, fetched or retried the same file)",
            plural::count(report.superseded_failures, "failure", "failures")
        )?;
    }
    let hosts = host_report::stored_lines(&snapshot.hosts, snapshot.taken_at, snapshot.in_use);
    if !hosts.is_empty() {
        writeln!(out, "waiting, per host:")?;
        for line in hosts {
            writeln!(out, "  {}", escape::for_terminal(&line))?;
        }
    }
    write_waiting(report, out)?;
    write_failures(report, out)
}

fn write_waiting(report: &StatusReport<'_>, out: &mut impl Write) -> std::io::Result<()> {
    if report.waiting.is_empty() {
        return Ok(());
    }
    writeln!(out, "next due:")?;
    for transfer in report.waiting.iter().take(WAITING_SHOWN) {
        let when = match transfer.next_try_in_secs {
            Some(secs) if secs > 0.0 => {
                format!("in {}", HumanDuration(Duration::from_secs_f64(secs)))
            }
            _ => "now".to_owned(),
        };
        let mut why = match (transfer.attempts, transfer.kind, transfer.held_bytes) {
            (0, _, Some(_)) | (_, None, Some(_)) => "started by an earlier run".to_owned(),
            (0, _, None) | (_, None, None) => "not tried yet".to_owned(),
            (attempts, Some(_), _) => format!(
                "{} used; {}",
                plural::count(u64::from(attempts), "attempt", "attempts"),
                transfer.reason
            ),
        };
        if let Some(held) = transfer.held_bytes {
            why.push_str(&format!(
                "; {} held, it continues from there",
                HumanBytes(held)
            ));
        }
        writeln!(
            out,
            "  {}: {when}; {}",
            route(transfer),
            escape::for_terminal(&why)
        )?;
    }
    let queued = report.by_state.get("queued").copied().unwrap_or(0);
    let shown = report.waiting.len().min(WAITING_SHOWN) as u64;
    if queued > shown {
        writeln!(out, "  ... and {} more (--json lists 100)", queued - shown)?;
    }
    Ok(())
}

fn write_failures(report: &StatusReport<'_>, out: &mut impl Write) -> std::io::Result<()> {
    if report.failures.is_empty() {
        return Ok(());
    }
    writeln!(out, "failures ({}):", report.failures.len())?;
    let groups = grouped::by_reason(&report.failures, |failure| {
        (failure.state, failure.reason.as_str())
    });
    for ((state, reason), members) in groups {
        if members.len() > 1 {
            writeln!(
                out,
                "  {} {state}: {}",
                plural::count(members.len() as u64, "transfer", "transfers"),
                escape::for_terminal(reason)
            )?;
        }
        for failure in members.iter().take(grouped::NAMES_SHOWN) {
            write_failure(failure, members.len() == 1, out)?;
        }
        if let Some(more) = grouped::more_line(members.len()) {
            writeln!(out, "    {more}")?;
        }
    }
    Ok(())
}

/// One failed transfer: where from and to, and, when no group line said it, its state
/// and reason.
fn write_failure(
    failure: &StatusTransfer,
    with_reason: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(out, "  {}", route(failure))?;
    let attempts = plural::count(u64::from(failure.attempts), "attempt", "attempts");
    if with_reason {
        writeln!(
            out,
            "    {} after {attempts}: {}",
            failure.state,
            escape::for_terminal(&failure.reason)
        )?;
    } else {
        writeln!(out, "    after {attempts}")?;
    }
    if !failure.header_names.is_empty() {
        writeln!(out, "    headers sent: {}", failure.header_names.join(", "))?;
    }
    Ok(())
}

/// Where a transfer's bytes go: `file -> URL` for an upload, `URL -> file` for a download.
fn route(transfer: &StatusTransfer) -> String {
    format!(
        "{} -> {}",
        transfer.source.for_terminal(),
        transfer.destination.for_terminal()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(index: usize, reason: &str) -> StatusTransfer {
        StatusTransfer {
            id: format!("id{index}"),
            direction: "upload",
            source: Endpoint::File(format!("/src/f{index}.txt").into()),
            destination: Endpoint::Url(format!("http://h/f{index}.txt")),
            method: "PUT",
            state: "auth_required",
            attempts: 1,
            held_bytes: None,
            next_try_in_secs: None,
            kind: Some("auth"),
            http_status: Some(401),
            reason: reason.into(),
            header_names: Vec::new(),
            group: None,
            metadata: BTreeMap::new(),
        }
    }

    /// A report of `total` files (one record each) with these failures and nothing else.
    fn report_of(
        in_use: Option<bool>,
        total: u64,
        failures: Vec<StatusTransfer>,
    ) -> StatusReport<'static> {
        StatusReport {
            database: "q.db".into(),
            group: None,
            in_use,
            total,
            by_state: BTreeMap::new(),
            downloads_total: 0,
            downloads: BTreeMap::new(),
            bytes_total: 0,
            bytes_succeeded: 0,
            records_total: total,
            records_by_state: BTreeMap::new(),
            superseded_failures: 0,
            hosts: Vec::new(),
            waiting: Vec::new(),
            failures,
        }
    }

    #[test]
    fn the_heading_counts_one_file_and_says_a_running_process_transfers() {
        let report = report_of(Some(true), 1, Vec::new());
        assert_eq!(
            heading(&report),
            "queue q.db: 1 file, 0 B (0 B succeeded); a ferry process (a push, a pull or an \
             app) is transferring it now"
        );
    }

    #[test]
    fn an_idle_queue_says_a_rerun_continues_it_only_when_something_is_left() {
        let mut report = report_of(Some(false), 2, Vec::new());
        report.by_state.insert("succeeded", 2);
        assert!(
            heading(&report).ends_with("no process is running it; nothing is left to do"),
            "{}",
            heading(&report)
        );
        report.by_state.insert("failed", 1);
        assert!(
            heading(&report).ends_with("the same `ferry push` or `ferry pull` continues it"),
            "{}",
            heading(&report)
        );
    }

    #[test]
    fn failures_with_one_reason_are_told_once_with_a_few_transfers() {
        let mut failures: Vec<StatusTransfer> = (0..300)
            .map(|index| failure(index, "needs credentials"))
            .collect();
        failures.push(failure(300, "something else"));
        let report = report_of(Some(false), 301, failures);
        assert!(
            heading(&report).starts_with("queue q.db: 301 files, 0 B (0 B succeeded); no process"),
            "{}",
            heading(&report)
        );
        let mut text = Vec::new();
        write_failures(&report, &mut text).expect("written");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(
            text.contains("  300 transfers auth_required: needs credentials\n"),
            "{text}"
        );
        assert!(
            text.contains("    ... and 295 more with the same reason"),
            "{text}"
        );
        assert!(!text.contains("f5.txt"), "{text}");
        assert!(
            text.contains("/src/f300.txt -> http://h/f300.txt\n    auth_required after 1 attempt: something else"),
            "{text}"
        );
        assert!(text.lines().count() < 20, "{text}");
    }
}
