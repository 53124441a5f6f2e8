//! many_small_puts: 10,000 files of 16 KiB, `PUT` to nginx (WebDAV) with 8 requests in
//! flight, by Ferry and by `curl --parallel --parallel-max 8`, in alternating order.
//!
//! Ferry's time runs from `enqueue_many` until `wait_idle` resolves, every completion
//! durable (SQLite WAL, synced before it is told: `core/src/actor/group_commit.rs`).
//! curl's time is its whole process.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry::{Subscription, TransferEvent, TransferQueue, Upload};

use crate::nginx::{self, Nginx};
use crate::support::{
    BenchResult, CpuOf, Prng, Sample, Settings, Stopwatch, alternate_rounds, count_files, fail,
    ferry_config, median, remove_database, remove_tree, runtime, scratch_dir, server_scratch_dir,
    write_random_file,
};

pub const NAME: &str = "many_small_puts";
const FILES: usize = 10_000;
const FILE_SIZE: u64 = 16 * 1024;
const IN_FLIGHT: usize = 8;

pub fn run(settings: &Settings) -> BenchResult<()> {
    let binary = nginx::ensure_installed()?;
    let work = scratch_dir(NAME);
    let sources = write_sources(&work.path().join("src"))?;
    let server_dir = server_scratch_dir(NAME);
    let server = Nginx::start(&binary, server_dir.path())?;
    println!(
        "{NAME}: {} (Debian package), worker_processes 1, HTTP/1.1 cleartext; server files in {}",
        binary.version,
        server_dir.path().display()
    );
    let rt = runtime();
    let (mut ferry_rates, mut curl_rates) = alternate_rounds(
        settings,
        |round| {
            let dir = format!("ferry-{round}");
            let database = work.path().join(format!("queue-{round}.db"));
            let (sample, enqueue) = rt.block_on(ferry_round(&server, &sources, &dir, &database))?;
            verify(&server, &dir, "ferry")?;
            let rate = FILES as f64 / sample.seconds;
            report(round, "ferry", rate, &sample);
            println!(
                "         (of which enqueue_many: {:.0} ms)",
                enqueue.as_secs_f64() * 1e3
            );
            remove_database(&database);
            remove_tree(&server.root().join(&dir))?;
            Ok(rate)
        },
        |round| {
            let dir = format!("curl-{round}");
            let sample = curl_round(&server, &sources, &dir, work.path())?;
            verify(&server, &dir, "curl")?;
            let rate = FILES as f64 / sample.seconds;
            report(round, "curl", rate, &sample);
            remove_tree(&server.root().join(&dir))?;
            Ok(rate)
        },
    )?;
    let ferry = median(&mut ferry_rates);
    let curl = median(&mut curl_rates);
    println!(
        "{NAME}: ferry {ferry:.0} files/s, curl {curl:.0} files/s, ratio X/Y = {:.2} (goal >= 1.0)",
        ferry / curl
    );
    Ok(())
}

fn report(round: usize, who: &str, rate: f64, sample: &Sample) {
    println!(
        "  run {}: {who:<5} {rate:>6.0} files/s ({:.2} s; CPU s: {who} {:.2}, nginx {:.2})",
        round + 1,
        sample.seconds,
        sample.client_cpu,
        sample.server_cpu
    );
}

/// Writes the sources, then reads each once, so every round of either side reads files
/// already read. The first read of a file just written updates its access time on Linux
/// (`relatime`): Ferry skips that where it owns the file (`lane/open_source.rs`), curl does
/// not, so in round 1 curl alone would pay for it. The rounds compare sending, on equal
/// terms.
fn write_sources(dir: &Path) -> BenchResult<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut prng = Prng::new(0x5EED_0001);
    let sources = (0..FILES)
        .map(|index| {
            let path = dir.join(format!("f{index:05}.bin"));
            write_random_file(&path, FILE_SIZE, &mut prng)?;
            Ok(path)
        })
        .collect::<BenchResult<Vec<_>>>()?;
    for source in &sources {
        fs::read(source)?;
    }
    Ok(sources)
}

fn file_name(source: &Path) -> BenchResult<&str> {
    source
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| fail(format!("{} has no UTF-8 file name", source.display())))
}

/// From `enqueue_many` until `wait_idle` resolves; also how long `enqueue_many` took, during
/// which no request can start.
async fn ferry_round(
    server: &Nginx,
    sources: &[PathBuf],
    dir: &str,
    database: &Path,
) -> BenchResult<(Sample, Duration)> {
    let queue = TransferQueue::open(ferry_config(database, IN_FLIGHT)).await?;
    let uploads = sources
        .iter()
        .map(|source| {
            let url = server.url(&format!("{dir}/{}", file_name(source)?));
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
    if progress.files_done != FILES as u64 || progress.files_failed != 0 {
        return Err(fail(format!(
            "ferry finished {} files and failed {} of {FILES}",
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

/// One `curl --parallel --parallel-max 8 -K config` process.
fn curl_round(server: &Nginx, sources: &[PathBuf], dir: &str, work: &Path) -> BenchResult<Sample> {
    let mut config = String::new();
    for source in sources {
        let url = server.url(&format!("{dir}/{}", file_name(source)?));
        writeln!(
            config,
            "url = \"{url}\"\nupload-file = \"{}\"\noutput = \"/dev/null\"",
            source.display()
        )?;
    }
    let config_path = work.join(format!("{dir}.curlrc"));
    fs::write(&config_path, config)?;
    let server_cpu = || server.cpu_time();
    let stopwatch = Stopwatch::start(CpuOf::Children, &server_cpu);
    let output = Command::new("curl")
        .args(["--parallel", "--parallel-max", &IN_FLIGHT.to_string(), "-s"])
        .arg("-K")
        .arg(&config_path)
        .stdin(Stdio::null())
        .output()?;
    let sample = stopwatch.stop();
    if !output.status.success() {
        return Err(fail(format!(
            "curl failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(sample)
}

/// Every file arrived whole in nginx's root: a run that uploaded nothing is no result.
fn verify(server: &Nginx, dir: &str, who: &str) -> BenchResult<()> {
    let (files, bytes) = count_files(&server.root().join(dir))?;
    if files != FILES as u64 || bytes != FILES as u64 * FILE_SIZE {
        return Err(fail(format!(
            "{who}: nginx holds {files} files of {bytes} bytes, expected {FILES} files of {} bytes",
            FILES as u64 * FILE_SIZE
        )));
    }
    Ok(())
}
