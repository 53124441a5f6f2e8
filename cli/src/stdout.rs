//! Writing a command's report to stdout when nobody may be reading it any more.
//!
//! What it is for: `ferry push ... | head -1`, or a script that stops reading. Rust sets
//! SIGPIPE to "ignore" before `main` (rust-lang/rust#62569 discusses the default), so a
//! write to a closed pipe fails with EPIPE (`ErrorKind::BrokenPipe`) instead of killing
//! the process, and `println!` would panic on it (rust-lang/rust#46016). A closed stdout is
//! not a failure of the command: the uploads are done and recorded, only the report has
//! no reader. So this writes the report, and on a broken pipe says so in one line on
//! stderr and lets the command's own exit status stand. (A stdout closed before the start,
//! `>&-`, never reaches here: Rust's runtime opens /dev/null in its place before `main`.)
//!
//! Progress lines on the way ([`line`]) are best effort: they are not the command's
//! result, and a command does not stop because nobody reads them.
//!
//! What it must never do: hide any other error writing a report, or let SIGPIPE be
//! restored to its default: a socket the server reset would then kill the process in the
//! middle of a push.

use std::io::{self, Write};

use crate::error::CliError;

/// Writes `what` (the summary, the status, ...) with `write`, then flushes. A reader that
/// went away is noted on stderr and is not an error.
pub fn write_report(
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    let written = write(&mut stdout).and_then(|()| stdout.flush());
    match written {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            note(&format!(
                "stdout was closed, so the {what} was not printed in full; the exit status \
                 still says how the command went"
            ));
            Ok(())
        }
        Err(error) => Err(CliError::io(format!("writing the {what} to stdout"), error)),
    }
}

/// One line on stderr, prefixed with `ferry: `. Never panics (`eprintln!` would, on a
/// closed stderr): there is nowhere left to say it.
pub fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "ferry: {line}");
}

/// A progress line on stdout, best effort: a closed stdout loses it, nothing more.
pub fn line(text: &str) {
    let _ = writeln!(io::stdout().lock(), "{text}");
}
