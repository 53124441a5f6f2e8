//! What `push` and `pull` share before and after the queue runs: the [`RunOptions`] built
//! from their common flags (`TransferArgs`), who provides credentials, the `--cacert`
//! files checked, and the summary printed with the exit status that follows from it.
//!
//! What it is for: one place for the rules both commands follow (a `--patience` shorter
//! than `--stall-timeout` is refused; one source of `Authorization`; a `--cacert` that holds
//! no certificate is bad usage; a signal or the patience decides the exit status, also when
//! the report could not be written).
//!
//! What it must never do: open the queue, touch the network, or print a header value or
//! a token.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry::RequestAuthorizer;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::args::TransferArgs;
use crate::bearer::{BearerCommand, CommandClock};
use crate::error::{CliError, Outcome};
use crate::resumable::ResumableChoice;
use crate::summary::Summary;
use crate::url_credentials::BasicCredentials;
use crate::{escape, headers, stdout};

/// How to run the queue.
#[derive(Clone)]
pub struct RunOptions {
    pub db: PathBuf,
    /// Requests in flight at most, per host and overall.
    pub concurrency: usize,
    pub stall_timeout: Duration,
    /// `--patience`: give up when nothing moved for this long.
    pub patience: Duration,
    /// `--json`: stall reports on stderr are JSON lines.
    pub json: bool,
    pub show_bars: bool,
    /// Provides credentials right before each attempt (`--bearer-command`).
    pub authorizer: Option<Arc<dyn RequestAuthorizer>>,
    /// How long the `--bearer-command` has been running, for the waiting reports.
    pub bearer_clock: Option<Arc<CommandClock>>,
    /// `--resumable`: which files go through a resumable protocol, and where.
    pub resumable: Option<ResumableChoice>,
    /// `--cacert`: the PEM text of each file, trusted besides the system's roots.
    pub extra_root_certificates_pem: Vec<String>,
    /// URL prefixes (a push's BASE_URL, each pulled URL's origin): what an earlier run
    /// left waiting under them (a backoff, refused credentials) is made due at once.
    pub resume_under: Vec<String>,
    /// The names of the `-H` headers: each is treated as a secret (never sent on a
    /// redirect to another origin, its value redacted where answers are kept), since on
    /// a command line they are mostly credentials (`X-Api-Key`...).
    pub sensitive_headers: Vec<String>,
}

impl RunOptions {
    /// The options of a `push` or `pull` run from its common flags, with the credentials
    /// chosen by [`choose_authorizer`]; reads the `--cacert` files.
    pub fn new(
        args: &TransferArgs,
        (authorizer, bearer_clock): ChosenAuthorizer,
        resume_under: Vec<String>,
    ) -> Result<Self, CliError> {
        Ok(Self {
            db: args.db.db.clone(),
            concurrency: usize::from(args.concurrency),
            stall_timeout: args.stall_timeout,
            patience: args.patience,
            json: args.json,
            show_bars: !args.json && std::io::stdout().is_terminal(),
            authorizer,
            bearer_clock,
            resumable: None,
            extra_root_certificates_pem: read_cacerts(&args.cacert)?,
            resume_under,
            sensitive_headers: headers::parse_all(&args.headers)?
                .into_iter()
                .map(|(name, _)| name)
                .collect(),
        })
    }
}

/// Prints the summary of a `push` or `pull` (one JSON object with `json`) and returns the
/// outcome; a signal or the patience decides the exit status, also when the report could
/// not be written (after SIGHUP the terminal is gone, and writes to it fail).
pub fn report(summary: &Summary, json: bool) -> Result<Outcome, CliError> {
    let printed = if json {
        summary
            .to_json()
            .and_then(|json| stdout::write_report("summary", |out| writeln!(out, "{json}")))
    } else {
        stdout::write_report("summary", |mut out| summary.write_text(&mut out))
    };
    let stopped = match (summary.interrupted_by, &summary.gave_up) {
        (Some(by), _) => CliError::Interrupted {
            by,
            rerun_finishes: true,
        },
        (None, Some(gave_up)) => CliError::GaveUp(gave_up.clone()),
        (None, None) => return printed.map(|()| summary.outcome()),
    };
    if let Err(error) = printed {
        stdout::note(&error.to_string());
    }
    Err(stopped)
}

/// A request may wait for the server's answer for up to `--stall-timeout` with nothing
/// moving; a shorter `--patience` would give up on a server that is only slow, and every
/// rerun would do the same.
pub fn check_patience(args: &TransferArgs) -> Result<(), CliError> {
    if args.patience >= args.stall_timeout {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "--patience {} is shorter than --stall-timeout {}: a request may wait that long for \
         the server's answer while nothing moves, so the run would give up on a server that \
         is only slow; use --patience {} or more, or a shorter --stall-timeout",
        args.patience.as_secs_f64(),
        args.stall_timeout.as_secs_f64(),
        args.stall_timeout.as_secs_f64().ceil()
    )))
}

/// Who provides credentials, and the command clock when a command does.
pub type ChosenAuthorizer = (
    Option<Arc<dyn RequestAuthorizer>>,
    Option<Arc<CommandClock>>,
);

/// Who provides credentials: BASE_URL's user name and password, or `--bearer-command`
/// (with the clock of its runs). Both, or either with an `Authorization` `--header`, would
/// fight over one header.
pub fn choose_authorizer(
    basic: Option<BasicCredentials>,
    args: &TransferArgs,
    headers: &[(String, String)],
) -> Result<ChosenAuthorizer, CliError> {
    let header_given = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    match (basic, &args.bearer_command) {
        (Some(_), Some(_)) => Err(CliError::usage(
            "BASE_URL carries a user name and password and --bearer-command provides a \
             token; both would be sent as Authorization: use one of them",
        )),
        (Some(_), None) | (None, Some(_)) if header_given => Err(CliError::usage(
            "an Authorization --header cannot be combined with a user name and password in \
             BASE_URL or with --bearer-command; use one of them",
        )),
        (Some(basic), None) => Ok((Some(Arc::new(basic)), None)),
        (None, Some(command)) => {
            let bearer = BearerCommand::new(command.clone(), args.bearer_lifetime);
            let clock = bearer.clock();
            Ok((Some(Arc::new(bearer)), Some(clock)))
        }
        (None, None) => Ok((None, None)),
    }
}

/// The text of each `--cacert` file, each checked to hold at least one PEM certificate
/// (what the library will parse): a file that does not is bad usage, named.
fn read_cacerts(files: &[PathBuf]) -> Result<Vec<String>, CliError> {
    files
        .iter()
        .map(|file| {
            let refused = |why: String| {
                CliError::usage(format!(
                    "--cacert {}: {why}; give a PEM certificate file (a \
                     `-----BEGIN CERTIFICATE-----` block, as `openssl req -x509` writes)",
                    escape::path_for_terminal(file)
                ))
            };
            let text = std::fs::read_to_string(file)
                .map_err(|error| refused(format!("cannot read it ({error})")))?;
            let mut certificates = CertificateDer::pem_slice_iter(text.as_bytes());
            match certificates.next() {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(refused(format!("it is not valid PEM ({error})"))),
                None => return Err(refused("it holds no certificate".into())),
            }
            if let Some(Err(error)) = certificates.find(Result::is_err) {
                return Err(refused(format!("it is not valid PEM ({error})")));
            }
            Ok(text)
        })
        .collect()
}
