//! one_large_file: one 1 GiB file of pseudo-random bytes, `PUT` to nginx (WebDAV) by
//! Ferry and by `curl -T`, in alternating order, over cleartext HTTP/1.1, HTTPS + HTTP/2
//! and HTTPS + HTTP/1.1. MB are 10^6 bytes.
//!
//! Ferry's time runs from `enqueue_many` until `wait_idle` resolves; curl's time is its
//! whole process.

use std::fs;
use std::path::Path;
use std::process::Command;

use ferry::{TransferQueue, Upload};

use crate::nginx::{self, Nginx, NginxBench, Protocol};
use crate::support::{
    BenchResult, CpuOf, Prng, Sample, Settings, Stopwatch, alternate_rounds, fail, print_ratio,
    remove_database, runtime, scratch_dir, server_scratch_dir, write_random_file,
};

pub const NAME: &str = "one_large_file";
const SIZE: u64 = 1 << 30;

pub fn run(settings: &Settings) -> BenchResult<()> {
    let binary = nginx::ensure_installed()?;
    let work = scratch_dir(NAME);
    let source = work.path().join("large.bin");
    write_random_file(&source, SIZE, &mut Prng::new(0x5EED_0002))?;
    let server_dir = server_scratch_dir(NAME);
    let server = Nginx::start(&binary, server_dir.path())?;
    let rt = runtime();
    for protocol in settings.select(&[Protocol::Http1, Protocol::Https2, Protocol::Https1]) {
        println!(
            "{NAME} [{}]: {} (Debian package), worker_processes 1, {}; server files in {}",
            protocol.tag(),
            binary.version,
            protocol.label(),
            server_dir.path().display()
        );
        let (mut ferry_rates, mut curl_rates) = alternate_rounds(
            settings,
            |round| {
                let target = format!("ferry-{round}.bin");
                let database = work.path().join(format!("queue-{round}.db"));
                let sample =
                    rt.block_on(ferry_round(&server, protocol, &source, &target, &database))?;
                let rate = verify_and_remove(&server, &target, "ferry")? / sample.seconds / 1e6;
                report(&server, round, "ferry", rate, &sample)?;
                remove_database(&database);
                Ok(rate)
            },
            |round| {
                let target = format!("curl-{round}.bin");
                let sample = curl_round(&server, protocol, &source, &target)?;
                let rate = verify_and_remove(&server, &target, "curl")? / sample.seconds / 1e6;
                report(&server, round, "curl", rate, &sample)?;
                Ok(rate)
            },
        )?;
        let label = format!("{NAME} [{}]", protocol.tag());
        print_ratio(&label, "MB/s", 0.95, &mut ferry_rates, &mut curl_rates);
    }
    Ok(())
}

fn report(server: &Nginx, round: usize, who: &str, rate: f64, sample: &Sample) -> BenchResult<()> {
    println!(
        "  run {}: {who:<5} {rate:>5.0} MB/s ({:.2} s; CPU s: {who} {:.2}, nginx {:.2}; {} TCP connections)",
        round + 1,
        sample.seconds,
        sample.client_cpu,
        sample.server_cpu,
        server.take_connection_count()?,
    );
    Ok(())
}

async fn ferry_round(
    server: &Nginx,
    protocol: Protocol,
    source: &Path,
    target: &str,
    database: &Path,
) -> BenchResult<Sample> {
    let queue = TransferQueue::open(server.ferry_config(database, 8, protocol)).await?;
    let server_cpu = || server.cpu_time();
    let stopwatch = Stopwatch::start(CpuOf::ThisProcess, &server_cpu);
    let mut results = queue
        .enqueue_many(vec![Upload::put(source, server.url(protocol, target))])
        .await?;
    results.pop().unwrap_or(Err(ferry::Error::Closed))?;
    queue.wait_idle().await?;
    let sample = stopwatch.stop();
    let progress = queue.progress().await?;
    queue.shutdown().await?;
    if progress.files_done != 1 {
        return Err(fail(format!(
            "ferry did not finish the upload (failed: {})",
            progress.files_failed
        )));
    }
    Ok(sample)
}

fn curl_round(
    server: &Nginx,
    protocol: Protocol,
    source: &Path,
    target: &str,
) -> BenchResult<Sample> {
    server.time_curl(
        Command::new("curl")
            .args(["-s", "-o", "/dev/null"])
            .args(server.curl_args(protocol))
            .arg("-T")
            .arg(source)
            .arg(server.url(protocol, target)),
    )
}

/// The stored file's size, after checking it is whole; then removes it.
fn verify_and_remove(server: &Nginx, target: &str, who: &str) -> BenchResult<f64> {
    let path = server.root().join(target);
    let size = fs::metadata(&path)
        .map_err(|error| fail(format!("{who}: nginx stored no {target}: {error}")))?
        .len();
    fs::remove_file(&path)?;
    if size != SIZE {
        return Err(fail(format!("{who}: nginx stored {size} bytes of {SIZE}")));
    }
    Ok(size as f64)
}
