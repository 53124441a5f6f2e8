//! `ferry push`: plan the uploads, enqueue them, drain the queue, summarise.
//!
//! What it is for: turning the arguments into one `Upload` per file (destination =
//! BASE_URL + relative path), enqueueing them in batches (the engine answers an unchanged,
//! already-succeeded file with its existing id, so reruns send nothing twice), waiting
//! until the queue is idle with the bars up, and building the [`Summary`] from the final
//! records in the store: this run's files, and the transfers earlier runs left queued that
//! this run sent (the queue drains them too, so the summary and exit status cover them).
//! `demo` reuses [`execute`].
//!
//! What it must never do: decide a file's fate from events or guesses (only the stored
//! state counts), or leave the queue without a clean shutdown on any path it controls
//! (Ctrl-C, SIGTERM and SIGHUP included: the summary of an interrupted push is still
//! printed, with what is left for the next run, and so is that of a push that gave up
//! after `--patience`).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferry::{
    Integrations, Limits, QueueConfig, RequestAuthorizer, Selection, StateKind, Transfer,
    TransferId, TransferQueue, Upload, UploadMethod,
};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::app_data::AppData;
use crate::args::{MethodArg, PushArgs};
use crate::bearer::{BearerCommand, CommandClock};
use crate::destination::BaseUrl;
use crate::error::{CliError, Outcome};
use crate::progress_ui::ProgressUi;
use crate::pump::Pump;
use crate::resumable::ResumableChoice;
use crate::signals::StopSignal;
use crate::sources::{self, Sources, Unsent};
use crate::summary::{FailureReport, GaveUp, SkipReport, Summary};
use crate::url_credentials::{self, BasicCredentials};
use crate::{escape, headers, patience, reason, records, stdout};

/// Uploads per `enqueue_many` call: one transaction each, and a bounded message size.
const ENQUEUE_BATCH: usize = 1000;

/// Everything a push will send, decided before the queue is opened.
#[derive(Debug, Default)]
pub struct PushPlan {
    pub uploads: Vec<Upload>,
    /// Found but not readable or nameable: reported as failures.
    pub unreadable: Vec<Unsent>,
    /// Deliberately not sent.
    pub skipped: Vec<Unsent>,
}

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
    /// BASE_URL's [`destination_prefix`](BaseUrl::destination_prefix): what an earlier
    /// run left waiting under it (a backoff, refused credentials) is made due at once.
    pub resume_under: Option<String>,
}

/// `ferry push ...`.
pub async fn run(args: PushArgs) -> Result<Outcome, CliError> {
    check_patience(&args)?;
    let (base, basic) = url_credentials::parse_base_url(&args.base_url)?;
    let headers = headers::parse_all(&args.headers)?;
    let app_data = AppData::parse(&args.meta, args.group.clone())?;
    let (authorizer, bearer_clock) = choose_authorizer(basic, &args, &headers)?;
    let method = match args.method {
        MethodArg::Put => UploadMethod::Put,
        MethodArg::Post => UploadMethod::Post,
    };
    let paths = args.paths.clone();
    let db = args.db.db.clone();
    let sources = tokio::task::spawn_blocking(move || {
        let mut found = sources::collect(&paths)?;
        sources::exclude_database(&mut found, &db);
        Ok::<_, CliError>(found)
    })
    .await??;
    let mut plan = plan(sources, &base, &method, &headers, &app_data)?;
    let resumable = ResumableChoice::from_args(&args, &base);
    if let Some(choice) = &resumable {
        choice.apply(&mut plan.uploads);
    }
    let options = RunOptions {
        db: args.db.db,
        concurrency: usize::from(args.concurrency),
        stall_timeout: args.stall_timeout,
        patience: args.patience,
        json: args.json,
        show_bars: !args.json && std::io::stdout().is_terminal(),
        authorizer,
        bearer_clock,
        resumable,
        extra_root_certificates_pem: read_cacerts(&args.cacert)?,
        resume_under: Some(base.destination_prefix()),
    };
    let summary = execute(plan, &options).await?;
    let printed = if args.json {
        summary
            .to_json()
            .and_then(|json| stdout::write_report("summary", |out| writeln!(out, "{json}")))
    } else {
        stdout::write_report("summary", |mut out| summary.write_text(&mut out))
    };
    // A signal or the patience decides the exit status, also when the report could not be
    // written (after SIGHUP the terminal is gone, and writes to it fail).
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
fn check_patience(args: &PushArgs) -> Result<(), CliError> {
    if args.patience >= args.stall_timeout {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "--patience {} is shorter than --stall-timeout {}: a request may wait that long for \
         the server's answer while nothing moves, so the push would give up on a server that \
         is only slow; use --patience {} or more, or a shorter --stall-timeout",
        args.patience.as_secs_f64(),
        args.stall_timeout.as_secs_f64(),
        args.stall_timeout.as_secs_f64().ceil()
    )))
}

/// Who provides credentials, and the command clock when a command does.
type ChosenAuthorizer = (
    Option<Arc<dyn RequestAuthorizer>>,
    Option<Arc<CommandClock>>,
);

/// Who provides credentials: BASE_URL's user name and password, or `--bearer-command`
/// (with the clock of its runs). Both, or either with an `Authorization` `--header`, would
/// fight over one header.
fn choose_authorizer(
    basic: Option<BasicCredentials>,
    args: &PushArgs,
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

/// One upload per file, refusing two files that would land on the same URL.
pub fn plan(
    sources: Sources,
    base: &BaseUrl,
    method: &UploadMethod,
    headers: &[(String, String)],
    app_data: &AppData,
) -> Result<PushPlan, CliError> {
    let mut seen: HashMap<String, PathBuf> = HashMap::with_capacity(sources.files.len());
    let mut uploads = Vec::with_capacity(sources.files.len());
    for file in sources.files {
        let destination = base.join(&file.segments)?;
        if let Some(first) = seen.insert(destination.clone(), file.path.clone()) {
            return Err(CliError::usage(format!(
                "{} and {} would both be uploaded to {}; pass each file once, or push them \
                 in separate runs to different base URLs",
                first.display(),
                file.path.display(),
                ferry::redact_url(&destination)
            )));
        }
        let mut upload =
            app_data.apply(Upload::put(file.path, destination).with_method(method.clone()));
        for (name, value) in headers {
            upload = upload.with_header(name.clone(), value.clone());
        }
        uploads.push(upload);
    }
    Ok(PushPlan {
        uploads,
        unreadable: sources.unreadable,
        skipped: sources.skipped,
    })
}

/// Opens the queue, enqueues the plan, waits until the queue is idle, and summarises.
pub async fn execute(plan: PushPlan, options: &RunOptions) -> Result<Summary, CliError> {
    let run_started = SystemTime::now();
    let clock = Instant::now();
    let mut config = QueueConfig::new(&options.db);
    config.limits = Limits {
        per_host: options.concurrency,
        global: options.concurrency,
    };
    config.stall_timeout = options.stall_timeout;
    // A down host is probed often enough for every file to be tried within the patience.
    config.breaker.max_cooldown = patience::probe_interval_cap(options.patience);
    config.extra_root_certificates_pem = options.extra_root_certificates_pem.clone();
    if let Some(choice) = &options.resumable {
        choice.configure(&mut config);
    }
    let integrations = Integrations {
        authorizer: options.authorizer.clone(),
        ..Integrations::default()
    };
    let queue = TransferQueue::open_with(config, integrations).await?;
    let mut pump = Pump::new(
        &queue,
        ProgressUi::new(options.show_bars),
        options.patience,
        options.json,
    )
    .naming_the_bearer_command(options.bearer_clock.clone());
    let mut ids = Vec::with_capacity(plan.uploads.len());
    let under = options.resume_under.as_deref();
    let drained = enqueue_and_drain(&queue, &mut pump, &plan.uploads, &mut ids, under).await;
    // Whatever ended the push, no token is needed any more: none is fetched while the queue
    // shuts down, and a command still running is ended with this process.
    if let Some(clock) = &options.bearer_clock {
        clock.stop();
    }
    // Summarised like a finished run; what is left is queued for the next one.
    let (interrupted, gave_up) = match drained {
        Ok(()) => (None, None),
        Err(CliError::Interrupted { by, .. }) => (Some(by), None),
        Err(CliError::GaveUp(gave_up)) => (None, Some(gave_up)),
        Err(error) => {
            pump.ui().finish();
            // Running attempts are queued again, durably; the next run picks them up.
            let _ = queue.shutdown().await;
            return Err(error);
        }
    };
    pump.drain();
    let refreshed = pump.refresh().await;
    pump.ui().finish();
    let stopped_early = interrupted.is_some() || gave_up.is_some();
    let records = match (refreshed, stopped_early) {
        (Err(error), _) => Err(error),
        (Ok(()), false) => processed_records(&queue, &ids, run_started).await,
        // A (second) signal while the records are read gives up on the summary.
        (Ok(()), true) => pump
            .drive(processed_records(&queue, &ids, run_started))
            .await
            .and_then(|read| read),
    };
    // Running attempts are queued again, durably; the next run picks them up.
    queue.shutdown().await?;
    let records = records?;
    let stop = RunFacts {
        interrupted_by: interrupted,
        gave_up,
        credentials: options.authorizer.is_some(),
    };
    let mut summary = summarise(&plan, &ids, &records, run_started, stop);
    summary.database = options.db.clone();
    summary.seconds = clock.elapsed().as_secs_f64();
    summary.retries = pump.tally().retries;
    summary.stalls_recovered = pump.tally().stalls_recovered;
    summary.events_missed = pump.tally().events_missed;
    summary.compute_rates();
    Ok(summary)
}

type EnqueueResult = Result<TransferId, ferry::Error>;

/// Enqueues `uploads` (their results land in `ids`, in order, as each batch is answered)
/// and waits until the queue is idle. Transfers an earlier run left under `under` are
/// taken up at once: queued ones waiting out a stored backoff (up to minutes) are made due
/// before anything is enqueued, and those waiting for credentials are queued again after
/// (`resume_waiting_for_credentials`).
async fn enqueue_and_drain(
    queue: &TransferQueue,
    pump: &mut Pump<'_>,
    uploads: &[Upload],
    ids: &mut Vec<EnqueueResult>,
    under: Option<&str>,
) -> Result<(), CliError> {
    if let Some(prefix) = under {
        let waiting = Selection::in_states([StateKind::Queued]).with_destination_prefix(prefix);
        pump.drive(queue.retry_where(waiting)).await??;
    }
    for batch in uploads.chunks(ENQUEUE_BATCH) {
        pump.ui()
            .phase(&format!("enqueueing {}/{}", ids.len(), uploads.len()));
        let results = pump.drive(queue.enqueue_many(batch.to_vec())).await??;
        if results.len() != batch.len() {
            return Err(CliError::Internal(format!(
                "enqueue answered {} results for {} uploads",
                results.len(),
                batch.len()
            )));
        }
        ids.extend(results);
    }
    if let Some(prefix) = under {
        resume_waiting_for_credentials(queue, pump, prefix).await?;
    }
    pump.ui().phase("uploading");
    pump.drive(queue.wait_idle()).await??;
    Ok(())
}

/// Transfers an earlier run left waiting for credentials would otherwise wait forever.
/// Running the command again is how a CLI user "signs in": the engine has already given
/// the new headers (`-H`) to those enqueued again, in place; every one still waiting under
/// BASE_URL is queued again where it is, with its id (and so its Idempotency-Key), to be
/// sent with this run's credentials (`-H`, a password in BASE_URL, `--bearer-command`).
/// Never cancelled and enqueued anew: a rerun adds no rows (issue 23, point 5). Those this
/// run already saw refused get one more try, which opens the host's breaker again.
async fn resume_waiting_for_credentials(
    queue: &TransferQueue,
    pump: &mut Pump<'_>,
    prefix: &str,
) -> Result<(), CliError> {
    let waiting = Selection::in_states([StateKind::AuthRequired]).with_destination_prefix(prefix);
    pump.drive(queue.retry_where(waiting)).await??;
    Ok(())
}

/// The final records of what this run processed.
#[derive(Debug, Default)]
struct Processed {
    /// Every transfer this run enqueued (or found enqueued) for its files, by id.
    ours: HashMap<TransferId, Transfer>,
    /// Transfers earlier runs left queued that this run sent or tried, in enqueue order.
    leftovers: Vec<Transfer>,
}

/// Reads the final records: this run's, and the leftovers it processed. A record that is
/// not this run's but changed since the run started was changed by this run (it holds the
/// queue's lock): a leftover it sent, tried or queued again. Cancelled ones are the
/// records `renew_auth_required` replaced, which live on as this run's.
async fn processed_records(
    queue: &TransferQueue,
    ids: &[EnqueueResult],
    run_started: SystemTime,
) -> Result<Processed, CliError> {
    let wanted: std::collections::HashSet<&TransferId> =
        ids.iter().filter_map(|id| id.as_ref().ok()).collect();
    let mut found = Processed {
        ours: HashMap::with_capacity(wanted.len()),
        leftovers: Vec::new(),
    };
    records::each(queue, None, |transfer| {
        if wanted.contains(&transfer.id) {
            found.ours.insert(transfer.id.clone(), transfer);
        } else if transfer.updated_at >= run_started
            && transfer.created_at < run_started
            && transfer.state.kind() != StateKind::Cancelled
        {
            found.leftovers.push(transfer);
        }
    })
    .await?;
    Ok(found)
}

/// How the run went besides the records: why it stopped before the queue was drained, if
/// it did, and whether it sent credentials of its own.
struct RunFacts {
    interrupted_by: Option<StopSignal>,
    gave_up: Option<GaveUp>,
    credentials: bool,
}

fn summarise(
    plan: &PushPlan,
    ids: &[EnqueueResult],
    records: &Processed,
    run_started: SystemTime,
    stop: RunFacts,
) -> Summary {
    let mut summary = Summary {
        files_total: (plan.uploads.len() + plan.unreadable.len() + records.leftovers.len()) as u64,
        files_leftover: records.leftovers.len() as u64,
        interrupted_by: stop.interrupted_by,
        gave_up: stop.gave_up,
        ..Summary::default()
    };
    for (position, upload) in plan.uploads.iter().enumerate() {
        // Only a signal during the enqueueing leaves uploads without a result.
        let Some(id) = ids.get(position) else {
            summary.files_unfinished += 1;
            continue;
        };
        let failure = |state: &str, reason: String| FailureReport {
            path: upload.source.clone(),
            destination: Some(ferry::redact_url(&upload.destination)),
            state: state.to_owned(),
            kind: None,
            http_status: None,
            reason,
        };
        let id = match id {
            Ok(id) => id,
            Err(error) => {
                summary
                    .failures
                    .push(failure("not_enqueued", error.to_string()));
                continue;
            }
        };
        let Some(record) = records.ours.get(id) else {
            summary.failures.push(failure(
                "missing",
                format!("the queue has no record of transfer {id}; run the push again"),
            ));
            continue;
        };
        count_record(&mut summary, record, run_started, stop.credentials);
    }
    for leftover in &records.leftovers {
        count_record(&mut summary, leftover, run_started, stop.credentials);
    }
    for unsent in &plan.unreadable {
        summary.failures.push(FailureReport {
            path: unsent.path.clone(),
            destination: None,
            state: "not_enqueued".into(),
            kind: None,
            http_status: None,
            reason: unsent.reason.clone(),
        });
    }
    summary.skipped = plan
        .skipped
        .iter()
        .map(|unsent| SkipReport {
            path: unsent.path.clone(),
            reason: unsent.reason.clone(),
        })
        .collect();
    summary.files_failed = summary.failures.len() as u64;
    summary
}

/// Whether `record`'s requests carried credentials: this run's (a password in BASE_URL,
/// `--bearer-command`) or an `Authorization` header of its own.
fn summary_credentials(record: &Transfer, run_has_credentials: bool) -> bool {
    run_has_credentials
        || record
            .upload
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
}

/// Counts one transfer's final record into the summary.
fn count_record(
    summary: &mut Summary,
    record: &Transfer,
    run_started: SystemTime,
    credentials: bool,
) {
    summary.bytes_total += record.size;
    let state = record.state.kind();
    if summary.stopped_early() && matches!(state, StateKind::Queued | StateKind::Running) {
        summary.files_unfinished += 1;
        return;
    }
    if state == StateKind::Succeeded {
        summary.files_succeeded += 1;
        if record.updated_at < run_started {
            summary.files_already_done += 1;
        } else {
            summary.files_uploaded += 1;
            summary.bytes_uploaded += record.size;
        }
        return;
    }
    let error = record.last_error.as_ref();
    summary.failures.push(FailureReport {
        path: record.upload.source.clone(),
        destination: Some(ferry::redact_url(&record.upload.destination)),
        state: state.as_str().to_owned(),
        kind: error.map(|error| error.kind.as_str().to_owned()),
        http_status: error.and_then(|error| error.http_status),
        reason: error.map_or_else(
            || unfinished_reason(state),
            |error| reason::of_transfer(error, summary_credentials(record, credentials)),
        ),
    });
}

fn unfinished_reason(state: StateKind) -> String {
    match state {
        StateKind::Failed => "failed permanently".into(),
        StateKind::AuthRequired => {
            "the server refused the credentials; fix the --header values or the \
             --bearer-command and run the same command again"
                .into()
        }
        StateKind::Paused => "paused by another program using this database".into(),
        StateKind::Cancelled => "cancelled by another program using this database".into(),
        StateKind::Queued | StateKind::Running | StateKind::Succeeded => {
            "still pending when the queue went idle; run the push again".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::SourceFile;

    fn file(path: &str, segments: &[&str]) -> SourceFile {
        SourceFile {
            path: path.into(),
            segments: segments.iter().map(|s| (*s).into()).collect(),
        }
    }

    #[test]
    fn two_files_on_one_url_are_refused() {
        let sources = Sources {
            files: vec![file("/a/x.txt", &["x.txt"]), file("/b/x.txt", &["x.txt"])],
            ..Sources::default()
        };
        let base = BaseUrl::parse("http://h/").expect("base");
        let error = plan(sources, &base, &UploadMethod::Put, &[], &AppData::default())
            .expect_err("collision");
        assert!(matches!(error, CliError::Usage(_)), "{error}");
    }

    #[test]
    fn every_upload_carries_the_method_headers_metadata_and_group() {
        let sources = Sources {
            files: vec![file("/a/x y.txt", &["d", "x y.txt"])],
            ..Sources::default()
        };
        let base = BaseUrl::parse("http://h/up/").expect("base");
        let headers = [("X-A".to_owned(), "1".to_owned())];
        let app_data =
            AppData::parse(&["album=7".to_owned()], Some("trip".into())).expect("app data");
        let plan = plan(sources, &base, &UploadMethod::Post, &headers, &app_data).expect("plan");
        let upload = &plan.uploads[0];
        assert_eq!(upload.destination, "http://h/up/d/x%20y.txt");
        assert_eq!(upload.method, UploadMethod::Post);
        assert_eq!(upload.headers, headers);
        assert_eq!(upload.group.as_deref(), Some("trip"));
        assert_eq!(upload.metadata.get("album").map(String::as_str), Some("7"));
    }
}
