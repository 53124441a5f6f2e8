//! Times one round of Ferry's against a benchmark's server: the batch enqueued in one
//! call, then the queue run until idle (every completion durable: SQLite WAL synced before
//! it is told, `core/src/actor/group_commit.rs`), with the CPU time of this process and
//! of the server. Retries are reported; a round where any file failed is an error.

use std::time::{Duration, Instant};

use ferry::{Download, Subscription, TransferEvent, TransferQueue, Upload};

use crate::nginx::{Nginx, NginxBench};
use crate::support::{BenchResult, CpuOf, Sample, Stopwatch, fail};

/// What a round enqueues.
pub enum Batch {
    Uploads(Vec<Upload>),
    Downloads(Vec<Download>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Self::Uploads(uploads) => uploads.len(),
            Self::Downloads(downloads) => downloads.len(),
        }
    }
}

/// Runs `batch` on `queue` (then shuts it down): the round's sample, and how long the
/// enqueue call took, during which no request can start.
pub async fn timed_round(
    server: &Nginx,
    queue: TransferQueue,
    batch: Batch,
) -> BenchResult<(Sample, Duration)> {
    let files = batch.len() as u64;
    let retries = tokio::spawn(count_retries(queue.subscribe()));
    let server_cpu = || server.cpu_time();
    let stopwatch = Stopwatch::start(CpuOf::ThisProcess, &server_cpu);
    let enqueue_started = Instant::now();
    let results = match batch {
        Batch::Uploads(uploads) => queue.enqueue_many(uploads).await?,
        Batch::Downloads(downloads) => queue.enqueue_downloads(downloads).await?,
    };
    let enqueue = enqueue_started.elapsed();
    if let Some(error) = results.iter().find_map(|result| result.as_ref().err()) {
        return Err(fail(format!("ferry refused a transfer: {error}")));
    }
    queue.wait_idle().await?;
    let sample = stopwatch.stop();
    let progress = queue.progress().await?;
    queue.shutdown().await?;
    drop(queue);
    let retries = retries.await?;
    if retries.count > 0 {
        println!(
            "    ferry retried {} attempts; the first because: {}",
            retries.count, retries.first
        );
    }
    if progress.files_done != files || progress.files_failed != 0 {
        return Err(fail(format!(
            "ferry finished {} files and failed {} of {files}",
            progress.files_done, progress.files_failed
        )));
    }
    Ok((sample, enqueue))
}

/// Attempts that failed and were retried: each one also counts against the host's breaker.
struct Retries {
    count: u64,
    first: String,
}

async fn count_retries(mut events: Subscription) -> Retries {
    let mut retries = Retries {
        count: 0,
        first: String::new(),
    };
    while let Some(event) = events.next().await {
        match event {
            TransferEvent::Retrying { error, .. } => {
                if retries.count == 0 {
                    retries.first = error.to_string();
                }
                retries.count += 1;
            }
            TransferEvent::Lagged { missed } => {
                retries
                    .first
                    .push_str(&format!(" (events lagged, {missed} missed)"));
            }
            _ => {}
        }
    }
    retries
}
