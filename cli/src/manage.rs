//! `ferry cancel`, `ferry retry`, `ferry purge`: queue management in bulk, by state, by
//! destination prefix and by group, on the database alone.
//!
//! What it is for: turning the selection flags into a [`ferry::Selection`], refusing one
//! that would act on every transfer unless `--all` says so, running the one bulk call on a
//! queue opened to send nothing, and reporting how many transfers it changed (as text or
//! one JSON object).
//!
//! What it must never do: send anything (the queue is opened with zero request limits; the
//! next `push` sends what was retried), create a database that does not exist, or print a
//! prefix's user name, password or query (they are dropped before anything is compared).

use std::path::PathBuf;
use std::time::Duration;

use ferry::{QueueConfig, Selection, StateKind, TransferQueue};
use serde::Serialize;

use crate::args::SelectArgs;
use crate::error::{CliError, Outcome};
use crate::{escape, status, stdout, url_credentials};

/// Which bulk call a command makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Retry,
    Purge,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Retry => "retry",
            Self::Purge => "purge",
        }
    }

    /// What happened to the transfers, for the text report.
    fn done(self) -> &'static str {
        match self {
            Self::Cancel => "cancelled",
            Self::Retry => {
                "queued again (to send them, run `ferry push` with the same BASE_URL, e.g. the command that queued them)"
            }
            Self::Purge => "purged",
        }
    }
}

#[derive(Debug, Serialize)]
struct ManageReport {
    #[serde(serialize_with = "escape::serialize_path")]
    database: PathBuf,
    action: &'static str,
    /// Transfers changed (or, for purge, records deleted).
    count: u64,
    /// The states asked for; empty when every state the command acts on was meant.
    states: Vec<&'static str>,
    /// The prefix compared, without user information or query.
    prefix: Option<String>,
    /// The group selected (`--group`).
    group: Option<String>,
    older_than_seconds: Option<u64>,
}

/// `ferry cancel|retry|purge ...`; `older_than` is purge's `--older-than`.
pub async fn run(
    action: Action,
    args: SelectArgs,
    older_than: Option<Duration>,
) -> Result<Outcome, CliError> {
    let filtered = !args.states.is_empty()
        || args.prefix.is_some()
        || args.group.is_some()
        || older_than.is_some();
    if !args.all && !filtered {
        let age = if action == Action::Purge {
            ", --older-than AGE"
        } else {
            ""
        };
        return Err(CliError::usage(format!(
            "`ferry {name}` without a filter would {name} every transfer it can; pass --all \
             to mean that, or narrow it with --state STATE, --prefix URL, --group NAME{age}",
            name = action.name()
        )));
    }
    status::require_database(&args.db.db)?;
    let prefix = args.prefix.as_deref().map(destination_prefix).transpose()?;
    let states: Vec<StateKind> = args.states.iter().copied().map(Into::into).collect();
    let selection = Selection {
        states: states.clone(),
        destination_prefix: prefix.clone(),
        group: args.group.clone(),
    };
    let count = act(&args.db.db, action, selection, older_than).await?;
    let report = ManageReport {
        database: args.db.db,
        action: action.name(),
        count,
        states: states.iter().map(|state| state.as_str()).collect(),
        prefix,
        group: args.group,
        older_than_seconds: older_than.map(|age| age.as_secs()),
    };
    if args.json {
        let json = serde_json::to_string(&report).map_err(|error| {
            CliError::Internal(format!("the report cannot be serialised: {error}"))
        })?;
        stdout::write_report(action.name(), |out| writeln!(out, "{json}"))?;
    } else {
        stdout::write_report(action.name(), |out| {
            let noun = if count == 1 { "transfer" } else { "transfers" };
            writeln!(
                out,
                "{count} {noun} {} in {}",
                action.done(),
                escape::path_for_terminal(&report.database)
            )
        })?;
    }
    Ok(Outcome::Success)
}

/// Runs the bulk call on a queue that sends nothing, and closes it.
async fn act(
    db: &std::path::Path,
    action: Action,
    selection: Selection,
    older_than: Option<Duration>,
) -> Result<u64, CliError> {
    let queue = TransferQueue::open(QueueConfig::inspect_only(db)).await?;
    let result = match action {
        Action::Cancel => queue.cancel_where(selection).await,
        Action::Retry => queue.retry_where(selection).await,
        Action::Purge => {
            queue
                .purge_where(selection, older_than.unwrap_or(Duration::ZERO))
                .await
        }
    };
    queue.shutdown().await?;
    Ok(result?)
}

/// `--prefix` as push stores destinations: a URL without user information or query (a
/// push's BASE_URL, password and signature included, selects what it enqueued), its path
/// compared literally (`.../up/f2.txt` selects that file; no `/` is added).
fn destination_prefix(text: &str) -> Result<String, CliError> {
    let (base, _credentials) = url_credentials::parse_base_url(text).map_err(|_| {
        CliError::usage(format!(
            "--prefix {:?} is not an http:// or https:// URL; give the start of the \
             URLs to select, such as the BASE_URL a push was given or a URL a pull fetched",
            ferry::redact_url(text)
        ))
    })?;
    Ok(base.without_query())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_loses_its_password_and_query_and_keeps_its_path() {
        assert_eq!(
            destination_prefix("https://me:secret@h.example/up/?sig=abc").expect("prefix"),
            "https://h.example/up/"
        );
        assert_eq!(
            destination_prefix("https://h.example/up/f2.txt").expect("prefix"),
            "https://h.example/up/f2.txt",
            "one file, as status shows its destination: no / added"
        );
        let error = destination_prefix("ftp://me:secret@h/").expect_err("not http");
        assert!(!error.to_string().contains("secret"), "{error}");
        assert_eq!(error.exit_code(), crate::error::EXIT_USAGE);
    }
}
