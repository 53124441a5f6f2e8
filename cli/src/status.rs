//! `ferry status`: how many transfers the queue holds in each state, and every failure.
//!
//! What it is for: answering "did everything arrive, and if not, why?" from the database
//! alone, as text or one JSON object: counts in one pass (`count_by_state`), failures by
//! paging through them with `list`. Paging through every record took 1.9 s at 100,000
//! rows, since each page reads the table from its start.
//!
//! What it must never do: start an upload (the queue is opened with zero concurrency, so
//! the scheduler can start nothing), create a database that does not exist, or print a
//! header value: only header names are shown, values may be secrets.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use ferry::{QueueConfig, StateKind, Transfer, TransferQueue, UploadMethod};
use indicatif::HumanBytes;
use serde::Serialize;

use crate::args::StatusArgs;
use crate::error::{CliError, Outcome};
use crate::{escape, records, stdout};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    #[serde(serialize_with = "escape::serialize_path")]
    pub database: PathBuf,
    pub total: u64,
    /// Every state, including those with no transfers.
    pub by_state: BTreeMap<&'static str, u64>,
    pub bytes_total: u64,
    pub bytes_succeeded: u64,
    /// Transfers that failed permanently or wait for credentials.
    pub failures: Vec<StatusFailure>,
}

#[derive(Debug, Serialize)]
pub struct StatusFailure {
    pub id: String,
    #[serde(serialize_with = "escape::serialize_path")]
    pub source: PathBuf,
    pub destination: String,
    pub method: &'static str,
    pub state: &'static str,
    pub attempts: u32,
    pub kind: Option<&'static str>,
    pub http_status: Option<u16>,
    pub reason: String,
    /// Names of the extra headers this transfer sends (never their values).
    pub header_names: Vec<String>,
}

/// `ferry status ...`.
pub async fn run(args: StatusArgs) -> Result<Outcome, CliError> {
    let db = args.db.db;
    require_database(&db)?;
    let report = inspect(&db).await?;
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|error| {
            CliError::Internal(format!("the status cannot be serialised: {error}"))
        })?;
        stdout::write_report("status", |out| writeln!(out, "{json}"))?;
    } else {
        stdout::write_report("status", |mut out| write_text(&report, &mut out))?;
    }
    Ok(Outcome::Success)
}

/// Refuses a database that does not exist (opening it would create an empty one).
pub fn require_database(db: &std::path::Path) -> Result<(), CliError> {
    if db.is_file() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "there is no queue database at {}; run `ferry push` first, or point --db (or \
         FERRY_DB) at the database a push used",
        db.display()
    )))
}

/// Reads the whole queue without starting anything.
pub async fn inspect(db: &std::path::Path) -> Result<StatusReport, CliError> {
    // Opening a queue starts its scheduler; with no room in flight it can start nothing.
    let queue = TransferQueue::open(QueueConfig::inspect_only(db)).await?;
    let read = read_report(&queue, db).await;
    queue.shutdown().await?;
    read
}

async fn read_report(
    queue: &TransferQueue,
    db: &std::path::Path,
) -> Result<StatusReport, CliError> {
    let mut report = StatusReport {
        database: db.to_owned(),
        total: 0,
        by_state: BTreeMap::new(),
        bytes_total: 0,
        bytes_succeeded: 0,
        failures: Vec::new(),
    };
    // Counted in one pass; only the failures are paged through, since each is shown.
    for count in queue.count_by_state().await? {
        report.by_state.insert(count.state.as_str(), count.files);
        report.total += count.files;
        report.bytes_total += count.bytes;
        if count.state == StateKind::Succeeded {
            report.bytes_succeeded = count.bytes;
        }
    }
    for state in [StateKind::Failed, StateKind::AuthRequired] {
        records::each(queue, Some(state), |transfer| {
            report.failures.push(describe_failure(&transfer));
        })
        .await?;
    }
    Ok(report)
}

fn describe_failure(transfer: &Transfer) -> StatusFailure {
    let upload = &transfer.upload;
    let error = transfer.last_error.as_ref();
    StatusFailure {
        id: transfer.id.to_string(),
        source: upload.source.clone(),
        // Without its query (a presigned URL's signature) and any user information.
        destination: ferry::redact_url(&upload.destination),
        method: match upload.method {
            UploadMethod::Put => "PUT",
            UploadMethod::Post => "POST",
            UploadMethod::PostMultipart { .. } => "POST multipart",
        },
        state: transfer.state.kind().as_str(),
        attempts: transfer.attempts,
        kind: error.map(|error| error.kind.as_str()),
        http_status: error.and_then(|error| error.http_status),
        reason: error.map_or_else(|| "no reason was recorded".to_owned(), ToString::to_string),
        header_names: upload
            .headers
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

fn write_text(report: &StatusReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "queue {}: {} transfers, {} ({} succeeded)",
        escape::path_for_terminal(&report.database),
        report.total,
        HumanBytes(report.bytes_total),
        HumanBytes(report.bytes_succeeded)
    )?;
    for state in StateKind::ALL {
        let count = report.by_state.get(state.as_str()).copied().unwrap_or(0);
        writeln!(out, "  {:<14} {count:>8}", state.as_str())?;
    }
    if report.failures.is_empty() {
        return Ok(());
    }
    writeln!(out, "failures ({}):", report.failures.len())?;
    for failure in &report.failures {
        writeln!(
            out,
            "  {} -> {}",
            escape::path_for_terminal(&failure.source),
            escape::for_terminal(&failure.destination)
        )?;
        let attempts = if failure.attempts == 1 {
            "attempt"
        } else {
            "attempts"
        };
        writeln!(
            out,
            "    {} after {} {attempts}: {}",
            failure.state,
            failure.attempts,
            escape::for_terminal(&failure.reason)
        )?;
        if !failure.header_names.is_empty() {
            writeln!(out, "    headers sent: {}", failure.header_names.join(", "))?;
        }
    }
    Ok(())
}
