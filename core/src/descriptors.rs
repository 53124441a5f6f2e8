//! Telling "this process has too many open files" (`EMFILE`, or `ENFILE` for the whole
//! system) from a real problem with a source or a host.
//!
//! Opening a source or a socket fails that way when the process (or the app around it)
//! holds too many descriptors for a moment. It says nothing about the file or the server,
//! so it must never fail a transfer for good or count against a host's breaker: the
//! attempt ends as [`AttemptOutcome::OutOfDescriptors`], and the transfer waits the base
//! backoff and tries again without using up an attempt (`attempt_budget.rs`).
//! `descriptor_budget.rs` keeps Ferry's own work below the limit so that this stays rare.
//!
//! It must never call an error a descriptor shortage on a guess: only the OS's error codes
//! count.

use std::error::Error as _;
use std::io;

use crate::error::{FailureKind, TransferError};
use crate::outcome::AttemptOutcome;

/// Whether `error` is the OS saying that no descriptor is left.
pub(crate) fn is_exhaustion(error: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

/// Whether a failed request failed because no descriptor was left for its socket.
pub(crate) fn exhausted_in(error: &reqwest::Error) -> bool {
    let mut cause = error.source();
    while let Some(current) = cause {
        if io_exhaustion_in(current) {
            return true;
        }
        cause = current.source();
    }
    false
}

/// `io::Error`s may wrap one another, and `io::Error::source()` skips the error it wraps,
/// so each is opened with `get_ref`, a few levels deep.
fn io_exhaustion_in(mut error: &(dyn std::error::Error + 'static)) -> bool {
    for _ in 0..4 {
        let Some(io_error) = error.downcast_ref::<io::Error>() else {
            return false;
        };
        if is_exhaustion(io_error) {
            return true;
        }
        let Some(inner) = io_error.get_ref() else {
            return false;
        };
        error = inner;
    }
    false
}

/// The failure recorded for an attempt that could not open `what` (the source, a socket).
pub(crate) fn too_many_open_files(what: &str, error: &dyn std::fmt::Display) -> TransferError {
    TransferError::new(
        FailureKind::TooManyOpenFiles,
        format!(
            "could not open {what}: this process has too many open files ({error}); the \
             transfer waits and tries again; if this keeps happening, raise the process's \
             open-file limit (`ulimit -n 4096` in the shell that starts it, LimitNOFILE= for \
             a systemd service) or send fewer requests at once (`Limits`; ferry push \
             --concurrency)"
        ),
    )
}

/// The outcome of an attempt whose source could not be opened or read as enqueued: a
/// descriptor shortage is retried, anything else is the source's problem.
pub(crate) fn source_outcome(error: TransferError) -> AttemptOutcome {
    if error.kind == FailureKind::TooManyOpenFiles {
        AttemptOutcome::OutOfDescriptors(error)
    } else {
        AttemptOutcome::Source(error)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_emfile_and_enfile_are_exhaustion() {
        assert!(is_exhaustion(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(is_exhaustion(&io::Error::from_raw_os_error(libc::ENFILE)));
        assert!(!is_exhaustion(&io::Error::from_raw_os_error(libc::EACCES)));
        assert!(!is_exhaustion(&io::Error::other("too many open files")));
    }

    #[test]
    fn exhaustion_is_found_inside_a_wrapping_io_error() {
        let wrapped = io::Error::other(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(io_exhaustion_in(&wrapped));
        let refused = io::Error::other(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(!io_exhaustion_in(&refused));
    }

    #[test]
    fn a_source_without_a_descriptor_is_retried_and_other_source_problems_are_not() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let error = too_many_open_files("the source", &emfile);
        assert!(
            error.message.contains("ulimit -n"),
            "says how to raise it: {error}"
        );
        assert!(matches!(
            source_outcome(too_many_open_files("the source", &emfile)),
            AttemptOutcome::OutOfDescriptors(_)
        ));
        let missing = TransferError::new(FailureKind::SourceMissing, "gone");
        assert_eq!(
            source_outcome(missing.clone()),
            AttemptOutcome::Source(missing)
        );
    }
}
