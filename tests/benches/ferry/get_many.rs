//! One round of files fetched from nginx by Ferry or by curl, every file durable when the
//! round ends: what `many_small_gets` and `one_large_get` share.
//!
//! Ferry's time runs from `enqueue_downloads` until `wait_idle` resolves: each download's
//! file synced, renamed into place and its folder synced, then its `Succeeded` committed
//! (SQLite WAL, synced before it is told). curl's time is its whole process (`--parallel
//! --parallel-max N` with a config file of `url`/`output` pairs, or a plain `curl -o` for
//! one file) plus a `sync` of every file it wrote and of their folder, so that both sides
//! end with the files on stable storage. Destinations are on tmpfs beside the server's
//! files, Ferry's database on disk. A round that did not leave every file whole is an
//! error, never a result.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ferry::{Download, TransferQueue};

use crate::ferry_timing::{Batch, timed_round};
use crate::nginx::{Nginx, NginxBench, Protocol};
use crate::put_many::Round;
use crate::support::{
    BenchResult, CpuOf, Sample, Settings, Stopwatch, alternate_rounds, count_files, fail,
    print_ratio, remove_database, remove_tree, runtime,
};

/// Files to fetch, and how: the same for both clients.
struct GetJob<'a> {
    server: &'a Nginx,
    protocol: Protocol,
    /// Paths under nginx's root, `/`-separated.
    names: &'a [String],
    /// Their total size, to check what arrived.
    bytes: u64,
    in_flight: usize,
    /// Where each round's folder of destinations is made (tmpfs).
    into: &'a Path,
}

impl GetJob<'_> {
    fn destination(&self, dir: &Path, name: &str) -> PathBuf {
        dir.join(name.replace('/', "_"))
    }
}

/// Ferry's round into the folder `dir` (under `job.into`), with a fresh queue at `database`.
fn ferry_round(
    rt: &tokio::runtime::Runtime,
    job: &GetJob<'_>,
    dir: &str,
    database: &Path,
) -> BenchResult<Round> {
    let folder = job.into.join(dir);
    fs::create_dir_all(&folder)?;
    let (sample, enqueue) = rt.block_on(ferry_fetch(job, &folder, database))?;
    let round = finish(job, &folder, "ferry", sample, Some(enqueue))?;
    remove_database(database);
    Ok(round)
}

/// curl's round into the folder `dir` (under `job.into`); its config file goes in `work`.
fn curl_round(job: &GetJob<'_>, dir: &str, work: &Path) -> BenchResult<Round> {
    let folder = job.into.join(dir);
    fs::create_dir_all(&folder)?;
    let sample = curl_fetch(job, &folder, &work.join(format!("{dir}.curlrc")))?;
    finish(job, &folder, "curl", sample, None)
}

fn finish(
    job: &GetJob<'_>,
    folder: &Path,
    who: &str,
    sample: Sample,
    enqueue: Option<Duration>,
) -> BenchResult<Round> {
    let (files, bytes) = count_files(folder)?;
    let expected_files = job.names.len() as u64;
    if files != expected_files || bytes != job.bytes {
        return Err(fail(format!(
            "{who}: {} holds {files} files of {bytes} bytes, expected {expected_files} files of {} bytes",
            folder.display(),
            job.bytes
        )));
    }
    // Spot check: the first file's bytes are the server's.
    if let Some(name) = job.names.first()
        && fs::read(job.server.root().join(name))? != fs::read(job.destination(folder, name))?
    {
        return Err(fail(format!("{who}: {name} arrived different")));
    }
    remove_tree(folder)?;
    Ok(Round {
        sample,
        enqueue,
        connections: job.server.take_connection_count()?,
    })
}

async fn ferry_fetch(
    job: &GetJob<'_>,
    folder: &Path,
    database: &Path,
) -> BenchResult<(Sample, Duration)> {
    let server = job.server;
    let queue =
        TransferQueue::open(server.ferry_config(database, job.in_flight, job.protocol)).await?;
    let downloads = job
        .names
        .iter()
        .map(|name| {
            Download::new(
                server.url(job.protocol, name),
                job.destination(folder, name),
            )
        })
        .collect();
    timed_round(server, queue, Batch::Downloads(downloads)).await
}

/// One curl process, then one `sync` of the files and their folder, timed together (their
/// CPU is that of the waited-for children).
fn curl_fetch(job: &GetJob<'_>, folder: &Path, config_path: &Path) -> BenchResult<Sample> {
    let server = job.server;
    let mut curl = Command::new("curl");
    curl.arg("-sf").args(server.curl_args(job.protocol));
    if let [name] = job.names {
        curl.arg("-o")
            .arg(job.destination(folder, name))
            .arg(server.url(job.protocol, name));
    } else {
        let mut config = String::new();
        for name in job.names {
            writeln!(
                config,
                "url = \"{}\"\noutput = \"{}\"",
                server.url(job.protocol, name),
                job.destination(folder, name).display()
            )?;
        }
        fs::write(config_path, config)?;
        curl.args(["--parallel", "--parallel-max", &job.in_flight.to_string()])
            .arg("-K")
            .arg(config_path);
    }
    let mut sync = Command::new("sync");
    sync.arg("--").arg(folder);
    for name in job.names {
        sync.arg(job.destination(folder, name));
    }
    let server_cpu = || server.cpu_time();
    let stopwatch = Stopwatch::start(CpuOf::Children, &server_cpu);
    for (what, command) in [("curl", &mut curl), ("sync", &mut sync)] {
        let output = command.stdin(Stdio::null()).output()?;
        if !output.status.success() {
            return Err(fail(format!(
                "{what} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
    }
    Ok(stopwatch.stop())
}

/// A download benchmark: which files, how many in flight, and how its rate is reported.
pub struct Comparison<'a> {
    pub name: &'static str,
    /// Paths under nginx's root, `/`-separated.
    pub names: &'a [String],
    /// Their total size.
    pub bytes: u64,
    pub in_flight: usize,
    /// The rate's unit, and the rate of a round from its sample.
    pub unit: &'static str,
    pub rate: fn(&Sample) -> f64,
    /// The goal for Ferry's median rate over curl's.
    pub goal: f64,
}

/// Runs `settings.runs` rounds of both clients over each protocol selected, against
/// `server` (nginx `version`, files and downloads in `server_dir`; Ferry's databases and
/// curl's config files in `work`), printing each round and the ratio of the medians.
pub fn compare(
    settings: &Settings,
    comparison: &Comparison<'_>,
    version: &str,
    server: &Nginx,
    server_dir: &Path,
    work: &Path,
) -> BenchResult<()> {
    let Comparison {
        name, unit, rate, ..
    } = *comparison;
    let rt = runtime();
    for protocol in settings.select(&[Protocol::Http1, Protocol::Https2, Protocol::Https1]) {
        println!(
            "{name} [{}]: {version} (Debian package), worker_processes 1, {}; files and downloads in {}, Ferry's database in {}",
            protocol.tag(),
            protocol.label(),
            server_dir.display(),
            work.display()
        );
        let job = GetJob {
            server,
            protocol,
            names: comparison.names,
            bytes: comparison.bytes,
            in_flight: comparison.in_flight,
            into: &server_dir.join("downloads"),
        };
        let (mut ferry_rates, mut curl_rates) = alternate_rounds(
            settings,
            |round| {
                let database = work.join(format!("queue-{round}.db"));
                let measured = ferry_round(&rt, &job, &format!("ferry-{round}"), &database)?;
                let rate = rate(&measured.sample);
                measured.print(round, "ferry", rate, unit);
                Ok(rate)
            },
            |round| {
                let measured = curl_round(&job, &format!("curl-{round}"), work)?;
                let rate = rate(&measured.sample);
                measured.print(round, "curl", rate, unit);
                Ok(rate)
            },
        )?;
        let label = format!("{name} [{}]", protocol.tag());
        print_ratio(
            &label,
            unit,
            comparison.goal,
            &mut ferry_rates,
            &mut curl_rates,
        );
    }
    Ok(())
}
