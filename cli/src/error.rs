//! Errors of the `ferry` command, and the exit status each one maps to.
//!
//! What it is for: one enum that every command returns, whose messages say what went
//! wrong *and what to do about it*, and one place ([`CliError::exit_code`]) that decides
//! the process's exit status.
//!
//! What it must never do: carry an HTTP header value (they may be secrets; only names are
//! allowed in a message), or exit the process itself: `main` turns errors into statuses.

use std::path::PathBuf;

use crate::gave_up::GaveUp;
use crate::signals::StopSignal;

/// Every upload succeeded (or, for `status` and `demo`, the command did its job).
pub const EXIT_OK: u8 = 0;
/// Some files failed permanently, need credentials, or were left unfinished.
pub const EXIT_SOME_FAILED: u8 = 1;
/// Bad usage: a wrong flag, an invalid URL or header, a path that does not exist.
pub const EXIT_USAGE: u8 = 2;
/// The command could not run: the database is damaged or busy, an I/O error, ...
pub const EXIT_CANNOT_RUN: u8 = 3;
/// Nothing moved for `--patience`; the queue was closed cleanly and a rerun continues.
pub const EXIT_GAVE_UP: u8 = 4;
// Stopped by a signal, after the queue was closed cleanly: 128 + the signal's number
// (`StopSignal::exit_code`): 130 SIGINT, 143 SIGTERM, 129 SIGHUP.

/// The text shown at the end of `--help`.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0    every file was uploaded (push) or saved (pull), now or by an earlier run
  1    some files failed permanently, need credentials, or could not be read
  2    bad usage: unknown flag, invalid URL or header, a path that does not exist, a
       pull's DIR missing or that cannot be created, a --cacert file without a
       certificate, a --patience shorter than --stall-timeout
  3    could not run: the database is damaged, in use by another ferry, or unwritable
  4    gave up: nothing moved for --patience (a host down, refusing, or throttling);
       the summary and the reason per host are printed; run the same command again to
       continue
  130  interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by SIGHUP: the queue was
       closed cleanly (with --json the summary is still printed); run the same command
       again to finish
A closed stdout (ferry push ... | head -1) changes nothing: the command runs to its end
and exits with the status above; only the report is not printed.";

/// Why a `ferry` command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something impossible. The message says how to fix it.
    #[error("{0}")]
    Usage(String),
    /// The queue refused to open or answer (damaged, foreign or newer database, ...).
    #[error("{0}")]
    Queue(ferry::Error),
    /// Another ferry process holds the database.
    #[error(
        "{} is in use by another ferry process; wait for it to finish (it shows its own progress), or use another --db",
        db.display()
    )]
    Busy { db: PathBuf },
    /// A file-system or other local I/O problem; `context` says what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Something that should not happen did (a task panicked, a record vanished).
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// A stop signal (Ctrl-C, SIGTERM, SIGHUP): the queue was shut down cleanly; nothing
    /// is lost. `rerun_finishes` when running the same command again picks up where this
    /// run stopped.
    #[error(
        "interrupted by {}; the queue was closed cleanly{}",
        by.name(),
        if *rerun_finishes { ", run the same command again to finish" } else { "" }
    )]
    Interrupted {
        by: StopSignal,
        rerun_finishes: bool,
    },
    /// Nothing moved for the whole `--patience`, or nothing could before it ran out: the
    /// queue was shut down cleanly; [`CliError::detail_lines`] say what the work waits for.
    #[error(
        "gave up: {}; the queue was closed cleanly, run the same command again to continue. \
         Waiting:",
        .0.why()
    )]
    GaveUp(GaveUp),
}

impl From<ferry::Error> for CliError {
    fn from(error: ferry::Error) -> Self {
        match error {
            ferry::Error::Store(ferry::StoreError::InUse { path }) => Self::Busy { db: path },
            ferry::Error::Store(ferry::StoreError::DirectoryMissing { path, directory }) => {
                Self::Usage(format!(
                    "--db {}: the directory {} does not exist; create it (mkdir -p {}) or \
                     point --db (or FERRY_DB) at a file in an existing directory",
                    path.display(),
                    directory.display(),
                    directory.display()
                ))
            }
            // A bulk call's state it never changes: the message says which it acts on.
            error @ ferry::Error::InvalidSelection { .. } => {
                Self::Usage(format!("{error} (--state)"))
            }
            other => Self::Queue(other),
        }
    }
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit status for this error.
    /// Lines that follow the message, each shown on its own (per host, what its work waits
    /// for).
    pub fn detail_lines(&self) -> Vec<&str> {
        match self {
            Self::GaveUp(gave_up) => gave_up.lines().collect(),
            _ => Vec::new(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Interrupted { by, .. } => by.exit_code(),
            Self::GaveUp(_) => EXIT_GAVE_UP,
            Self::Queue(_) | Self::Busy { .. } | Self::Io { .. } | Self::Internal(_) => {
                EXIT_CANNOT_RUN
            }
        }
    }
}

impl From<tokio::task::JoinError> for CliError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::Internal(format!("a background task failed: {error}"))
    }
}

/// How a command that ran to its end went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    SomeFailed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Success => EXIT_OK,
            Self::SomeFailed => EXIT_SOME_FAILED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_two_and_operational_problems_are_three() {
        assert_eq!(CliError::usage("x").exit_code(), EXIT_USAGE);
        assert_eq!(
            CliError::Busy {
                db: "ferry.db".into()
            }
            .exit_code(),
            EXIT_CANNOT_RUN
        );
        assert_eq!(CliError::Queue(ferry::Error::Closed).exit_code(), 3);
        assert_eq!(Outcome::SomeFailed.exit_code(), 1);
        let stopped = CliError::Interrupted {
            by: StopSignal::Terminate,
            rerun_finishes: true,
        };
        assert_eq!(stopped.exit_code(), 143);
        assert!(stopped.to_string().contains("SIGTERM"), "{stopped}");
        assert_eq!(Outcome::Success.exit_code(), 0);
    }

    #[test]
    fn a_database_in_a_missing_directory_is_bad_usage_that_names_the_directory() {
        let error = CliError::from(ferry::Error::Store(ferry::StoreError::DirectoryMissing {
            path: "/no/such/q.db".into(),
            directory: "/no/such".into(),
        }));
        assert_eq!(error.exit_code(), EXIT_USAGE);
        assert!(
            error
                .to_string()
                .contains("the directory /no/such does not exist"),
            "{error}"
        );
    }
}
