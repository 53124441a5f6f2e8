//! One round of many files `PUT` to nginx, by Ferry or by `curl --parallel`: what
//! `many_small_puts` and `mixed_sizes` share.
//!
//! Ferry's time runs from `enqueue_many` until `wait_idle` resolves, every completion
//! durable (SQLite WAL, synced before it is told: `core/src/actor/group_commit.rs`).
//! curl's time is its whole process. A round that did not store every file whole is an
//! error, never a result.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry::{Subscription, TransferEvent, TransferQueue, Upload};

use crate::nginx::{Nginx, Protocol};
use crate::support::{
    BenchResult, CpuOf, Sample, Stopwatch, count_files, fail, remove_database, remove_tree,
};

/// Files to send, and how: the same for both clients.
pub struct Job<'a> {
    pub server: &'a Nginx,
    pub protocol: Protocol,
    pub sources: &'a [PathBuf],
    /// Their total size, to check what the server stored.
    pub bytes: u64,
    pub in_flight: usize,
}

/// What one round measured.
pub struct Round {
    pub sample: Sample,
    /// How long Ferry's `enqueue_many` took, during which no request can start.
    pub enqueue: Option<Duration>,
    /// TCP connections the client opened (from nginx's log).
    pub connections: usize,
}

impl Round {
    pub fn print(&self, round: usize, who: &str, rate: f64, unit: &str) {
        let sample = &self.sample;
        println!(
            "  run {}: {who:<5} {rate:>7.0} {unit} ({:.2} s; CPU s: {who} {:.2}, nginx {:.2}; {} TCP connections)",
            round + 1,
            sample.seconds,
            sample.client_cpu,
            sample.server_cpu,
            self.connections,
        );
        if let Some(enqueue) = self.enqueue {
            println!(
                "         (of which enqueue_many: {:.0} ms)",
                enqueue.as_secs_f64() * 1e3
            );
        }
    }
}

/// Ferry's round into `dir` on the server, with a fresh queue at `database`.
pub fn ferry_round(
    rt: &tokio::runtime::Runtime,
    job: &Job<'_>,
    dir: &str,
    database: &Path,
) -> BenchResult<Round> {
    let (sample, enqueue) = rt.block_on(ferry_send(job, dir, database))?;
    let round = finish(job, dir, "ferry", sample, Some(enqueue))?;
    remove_database(database);
    Ok(round)
}

/// curl's round into `dir` on the server; its config file goes in `work`.
pub fn curl_round(job: &Job<'_>, dir: &str, work: &Path) -> BenchResult<Round> {
    let sample = curl_send(job, dir, work)?;
    finish(job, dir, "curl", sample, None)
}

fn finish(
    job: &Job<'_>,
    dir: &str,
    who: &str,
    sample: Sample,
    enqueue: Option<Duration>,
) -> BenchResult<Round> {
    verify(job, dir, who)?;
    remove_tree(&job.server.root().join(dir))?;
    Ok(Round {
        sample,
        enqueue,
        connections: job.server.take_connection_count()?,
    })
}

fn file_name(source: &Path) -> BenchResult<&str> {
    source
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| fail(format!("{} has no UTF-8 file name", source.display())))
}

async fn ferry_send(job: &Job<'_>, dir: &str, database: &Path) -> BenchResult<(Sample, Duration)> {
    let server = job.server;
    let config = server.ferry_config(database, job.in_flight, job.protocol);
    let queue = TransferQueue::open(config).await?;
    let uploads = job
        .sources
        .iter()
        .map(|source| {
            let url = server.url(job.protocol, &format!("{dir}/{}", file_name(source)?));
            Ok(Upload::put(source, url))
        })
        .collect::<BenchResult<Vec<_>>>()?;
    let retries = tokio::spawn(count_retries(queue.subscribe()));
    let server_cpu = || server.cpu_time();
    let stopwatch = Stopwatch::start(CpuOf::ThisProcess, &server_cpu);
    let enqueue_started = Instant::now();
    let results = queue.enqueue_many(uploads).await?;
    let enqueue = enqueue_started.elapsed();
    if let Some(error) = results.iter().find_map(|result| result.as_ref().err()) {
        return Err(fail(format!("ferry refused an upload: {error}")));
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
    let files = job.sources.len() as u64;
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

/// One `curl --parallel --parallel-max N -K config` process.
fn curl_send(job: &Job<'_>, dir: &str, work: &Path) -> BenchResult<Sample> {
    let server = job.server;
    let mut config = String::new();
    for source in job.sources {
        let url = server.url(job.protocol, &format!("{dir}/{}", file_name(source)?));
        writeln!(
            config,
            "url = \"{url}\"\nupload-file = \"{}\"\noutput = \"/dev/null\"",
            source.display()
        )?;
    }
    let config_path = work.join(format!("{dir}.curlrc"));
    fs::write(&config_path, config)?;
    server.time_curl(
        Command::new("curl")
            .args([
                "--parallel",
                "--parallel-max",
                &job.in_flight.to_string(),
                "-s",
            ])
            .args(server.curl_args(job.protocol))
            .arg("-K")
            .arg(&config_path),
    )
}

/// Every file arrived whole in nginx's root: a run that uploaded nothing is no result.
fn verify(job: &Job<'_>, dir: &str, who: &str) -> BenchResult<()> {
    let (files, bytes) = count_files(&job.server.root().join(dir))?;
    let expected_files = job.sources.len() as u64;
    if files != expected_files || bytes != job.bytes {
        return Err(fail(format!(
            "{who}: nginx holds {files} files of {bytes} bytes, expected {expected_files} files of {} bytes",
            job.bytes
        )));
    }
    Ok(())
}
