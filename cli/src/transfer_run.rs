//! One run of the queue for `push`, `pull` and `demo`: enqueue a plan (uploads and
//! downloads), drain the queue with the bars up, and build the [`Summary`] from the final
//! records in the store: this run's files, and the transfers earlier runs left queued that
//! this run sent or fetched (the queue drains them too, so the summary and exit status
//! cover them).
//!
//! What it is for: the enqueue (the engine answers an unchanged, already-succeeded upload,
//! and a download of the same URL to the same file, with its existing id, so reruns move
//! nothing twice and continue what was interrupted), the wait, and the counting.
//!
//! What it must never do: decide a file's fate from events or guesses (only the stored
//! state counts), or leave the queue without a clean shutdown on any path it controls
//! (Ctrl-C, SIGTERM and SIGHUP included: the summary of an interrupted run is still
//! printed, with what is left for the next run, and so is that of a run that gave up
//! after `--patience`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use ferry::{
    Direction, Download, Integrations, Limits, QueueConfig, Selection, StateKind, Transfer,
    TransferId, TransferQueue, Upload,
};

use crate::error::CliError;
use crate::progress_ui::ProgressUi;
use crate::pump::Pump;
use crate::run_options::RunOptions;
use crate::signals::StopSignal;
use crate::sources::Unsent;
use crate::stale_downloads::{self, Refetched};
use crate::summary::{FailureReport, GaveUp, SavedElsewhere, SkipReport, Summary};
use crate::{patience, reason, records};

/// Transfers per `enqueue_many`/`enqueue_downloads` call: one transaction each, and a
/// bounded message size.
const ENQUEUE_BATCH: usize = 1000;

/// Everything a run will transfer, decided before the queue is opened: enqueued uploads
/// first, then downloads.
#[derive(Debug, Default)]
pub struct TransferPlan {
    pub uploads: Vec<Upload>,
    pub downloads: Vec<Download>,
    /// Found but not readable or nameable: reported as failures.
    pub unreadable: Vec<Unsent>,
    /// Deliberately not sent.
    pub skipped: Vec<Unsent>,
}

impl TransferPlan {
    /// Each planned transfer's local file and URL, in enqueue order (uploads, then
    /// downloads): what a failure that has no record is reported by.
    fn files(&self) -> impl Iterator<Item = (&Path, &str)> {
        let uploads = self
            .uploads
            .iter()
            .map(|upload| (upload.source.as_path(), upload.destination.as_str()));
        let downloads = self
            .downloads
            .iter()
            .map(|download| (download.destination.as_path(), download.url.as_str()));
        uploads.chain(downloads)
    }

    fn len(&self) -> usize {
        self.uploads.len() + self.downloads.len()
    }

    /// What the bars say while the queue drains.
    fn doing(&self) -> &'static str {
        match (self.uploads.is_empty(), self.downloads.is_empty()) {
            (true, false) => "downloading",
            (false, false) => "transferring",
            _ => "uploading",
        }
    }
}

/// Opens the queue, enqueues the plan, waits until the queue is idle, and summarises.
pub async fn execute(plan: TransferPlan, options: &RunOptions) -> Result<Summary, CliError> {
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
    config.auth.sensitive_headers = options.sensitive_headers.clone();
    if let Some(choice) = &options.resumable {
        choice.configure(&mut config);
    }
    let integrations = Integrations {
        authorizer: options.authorizer.clone(),
        ..Integrations::default()
    };
    let queue = TransferQueue::open_with(config, integrations).await?;
    let mut ui = ProgressUi::new(options.show_bars, plan.len() as u64);
    if plan
        .downloads
        .iter()
        .any(|download| download.expected_size.is_none())
    {
        ui = ui.sizes_unknown();
    }
    let mut pump = Pump::new(&queue, ui, options.patience, options.json)
        .naming_the_bearer_command(options.bearer_clock.clone());
    let mut ids = Vec::with_capacity(plan.len());
    let under = &options.resume_under;
    let mut refetched = Refetched::default();
    let drained =
        enqueue_and_drain(&queue, &mut pump, &plan, &mut ids, &mut refetched, under).await;
    // Whatever ended the run, no token is needed any more: none is fetched while the queue
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
        // A second signal while the records are read gives up on the summary (one that
        // came right after the first is the same request: `pump.rs`).
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
        refetched,
    };
    let mut summary = summarise(&plan, &ids, &records, run_started, stop);
    summary.database = options.db.clone();
    summary.seconds = clock.elapsed().as_secs_f64();
    summary.retries = pump.tally().retries;
    summary.stalls_recovered = pump.tally().stalls_recovered;
    summary.space_waits = pump.tally().space_waits;
    summary.events_missed = pump.tally().events_missed;
    summary.compute_rates();
    Ok(summary)
}

type EnqueueResult = Result<TransferId, ferry::Error>;

/// Enqueues the plan's uploads, then its downloads (their results land in `ids`, in order,
/// as each batch is answered) and waits until the queue is idle. Transfers an earlier run
/// left under `under` are taken up at once: queued ones waiting out a stored backoff (up
/// to minutes) are made due before anything is enqueued, and those waiting for
/// credentials are queued again after (`resume_waiting_for_credentials`). Downloads an
/// earlier run saved whose file is gone or changed are fetched again (`refetched`).
async fn enqueue_and_drain(
    queue: &TransferQueue,
    pump: &mut Pump<'_>,
    plan: &TransferPlan,
    ids: &mut Vec<EnqueueResult>,
    refetched: &mut Refetched,
    under: &[String],
) -> Result<(), CliError> {
    for prefix in under {
        let waiting = Selection::in_states([StateKind::Queued]).with_destination_prefix(prefix);
        pump.drive(queue.retry_where(waiting)).await??;
    }
    let total = plan.len();
    enqueue_batches(pump, &plan.uploads, total, ids, |batch| {
        queue.enqueue_many(batch)
    })
    .await?;
    enqueue_batches(pump, &plan.downloads, total, ids, |batch| {
        queue.enqueue_downloads(batch)
    })
    .await?;
    if let Some(download_ids) = ids.get_mut(plan.uploads.len()..) {
        stale_downloads::fetch_again(queue, pump, &plan.downloads, download_ids, refetched).await?;
    }
    for prefix in under {
        resume_waiting_for_credentials(queue, pump, prefix).await?;
    }
    pump.ui().phase(plan.doing());
    pump.drive(queue.wait_idle()).await??;
    Ok(())
}

/// Enqueues `items` in batches of [`ENQUEUE_BATCH`] with `enqueue`, appending each
/// batch's results to `ids` (of `total` in all, for the phase shown).
async fn enqueue_batches<T, F, Fut>(
    pump: &mut Pump<'_>,
    items: &[T],
    total: usize,
    ids: &mut Vec<EnqueueResult>,
    mut enqueue: F,
) -> Result<(), CliError>
where
    T: Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<EnqueueResult>, ferry::Error>>,
{
    for batch in items.chunks(ENQUEUE_BATCH) {
        pump.ui()
            .phase(&format!("enqueueing {}/{total}", ids.len()));
        let results = pump.drive(enqueue(batch.to_vec())).await??;
        if results.len() != batch.len() {
            return Err(CliError::Internal(format!(
                "enqueue answered {} results for {} transfers",
                results.len(),
                batch.len()
            )));
        }
        ids.extend(results);
    }
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
    /// The size of each succeeded download whose size was not known at enqueue, as saved.
    saved_sizes: HashMap<TransferId, u64>,
}

impl Processed {
    /// A record's size: as enqueued, or for a download of unknown size, as saved.
    fn size_of(&self, record: &Transfer) -> u64 {
        self.saved_sizes
            .get(&record.id)
            .copied()
            .unwrap_or(record.size)
    }
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
        saved_sizes: HashMap::new(),
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
    let unsized_downloads: Vec<(TransferId, PathBuf)> = found
        .ours
        .values()
        .chain(&found.leftovers)
        .filter(|record| {
            record.direction == Direction::Download
                && record.size == 0
                && record.state.kind() == StateKind::Succeeded
        })
        .map(|record| {
            let saved = record.saved_as.as_ref().unwrap_or(&record.upload.source);
            (record.id.clone(), saved.clone())
        })
        .collect();
    if !unsized_downloads.is_empty() {
        // A file system that stopped answering must not stop the runtime's one worker.
        found.saved_sizes = tokio::task::spawn_blocking(move || {
            unsized_downloads
                .into_iter()
                .filter_map(|(id, path)| Some((id, std::fs::metadata(path).ok()?.len())))
                .collect::<HashMap<_, _>>()
        })
        .await?;
    }
    Ok(found)
}

/// How the run went besides the records: why it stopped before the queue was drained, if
/// it did, and whether it sent credentials of its own.
struct RunFacts {
    interrupted_by: Option<StopSignal>,
    gave_up: Option<GaveUp>,
    credentials: bool,
    /// Downloads whose saved file was gone or changed: fetched again, or why not.
    refetched: Refetched,
}

fn summarise(
    plan: &TransferPlan,
    ids: &[EnqueueResult],
    records: &Processed,
    run_started: SystemTime,
    stop: RunFacts,
) -> Summary {
    let mut summary = Summary {
        files_total: (plan.len() + plan.unreadable.len() + records.leftovers.len()) as u64,
        files_leftover: records.leftovers.len() as u64,
        files_fetched_again: stop.refetched.count,
        interrupted_by: stop.interrupted_by,
        gave_up: stop.gave_up,
        ..Summary::default()
    };
    for (position, (path, url)) in plan.files().enumerate() {
        // Only a signal during the enqueueing leaves transfers without a result.
        let Some(id) = ids.get(position) else {
            summary.files_unfinished += 1;
            continue;
        };
        let failure = |state: &str, reason: String| FailureReport {
            path: path.to_path_buf(),
            url: Some(ferry::redact_url(url)),
            download: position >= plan.uploads.len(),
            state: state.to_owned(),
            kind: None,
            http_status: None,
            reason,
            rerun_helps: true,
        };
        if let Some(why) = position
            .checked_sub(plan.uploads.len())
            .and_then(|download| stop.refetched.failures.get(&download))
        {
            summary.failures.push(failure("stale", why.clone()));
            continue;
        }
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
                format!("the queue has no record of transfer {id}; run the same command again"),
            ));
            continue;
        };
        let size = records.size_of(record);
        count_record(&mut summary, record, size, run_started, stop.credentials);
    }
    for leftover in &records.leftovers {
        let size = records.size_of(leftover);
        count_record(&mut summary, leftover, size, run_started, stop.credentials);
    }
    for unsent in &plan.unreadable {
        summary.failures.push(FailureReport {
            path: unsent.path.clone(),
            url: unsent.url.as_deref().map(ferry::redact_url),
            download: unsent.url.is_some(),
            state: "not_enqueued".into(),
            kind: None,
            http_status: None,
            reason: unsent.reason.clone(),
            // A file a push could not read can be read once fixed; a download's name too
            // long stays too long.
            rerun_helps: unsent.url.is_none(),
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

/// Counts one transfer's final record, of `size` bytes, into the summary.
fn count_record(
    summary: &mut Summary,
    record: &Transfer,
    size: u64,
    run_started: SystemTime,
    credentials: bool,
) {
    summary.bytes_total += size;
    let state = record.state.kind();
    if summary.stopped_early() && matches!(state, StateKind::Queued | StateKind::Running) {
        summary.files_unfinished += 1;
        return;
    }
    if state == StateKind::Succeeded {
        summary.files_succeeded += 1;
        if let Some(saved_as) = &record.saved_as
            && *saved_as != record.upload.source
        {
            summary.saved_elsewhere.push(SavedElsewhere {
                path: record.upload.source.clone(),
                saved_as: saved_as.clone(),
            });
        }
        if record.updated_at < run_started {
            summary.files_already_done += 1;
        } else {
            summary.files_uploaded += 1;
            summary.bytes_uploaded += size;
        }
        return;
    }
    let error = record.last_error.as_ref();
    summary.failures.push(FailureReport {
        path: record.upload.source.clone(),
        url: Some(ferry::redact_url(&record.upload.destination)),
        download: record.direction == Direction::Download,
        state: state.as_str().to_owned(),
        kind: error.map(|error| error.kind.as_str().to_owned()),
        http_status: error.and_then(|error| error.http_status),
        reason: error.map_or_else(
            || unfinished_reason(state),
            |error| {
                let credentials = summary_credentials(record, credentials);
                reason::of_transfer(error, credentials, record.direction)
            },
        ),
        rerun_helps: true,
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
            "still pending when the queue went idle; run the same command again".into()
        }
    }
}
