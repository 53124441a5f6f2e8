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
use std::time::Duration;

use ferry::{TransferQueue, Upload};

use crate::ferry_timing::{Batch, timed_round};
use crate::nginx::{Nginx, NginxBench, Protocol};
use crate::support::{BenchResult, Sample, count_files, fail, remove_database, remove_tree};

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
    timed_round(server, queue, Batch::Uploads(uploads)).await
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
