//! queue_scale: 100,000 files enqueued in one `enqueue_many` call (goal <= 1 s), the
//! database of 100,000 rows reopened until the first `progress()` answer (goal <= 50 ms),
//! and the peak RSS of a process doing both (goal <= 64 MiB).
//!
//! Each run is a fresh child process (this binary, re-executed with [`CHILD_ENV`] set),
//! so that no earlier benchmark's memory counts in its `VmHWM`. The parent creates the
//! source files once; the child opens a fresh queue, sets the network offline so nothing
//! is sent, enqueues, shuts down, reopens, asks for progress and reports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use ferry::{NetworkStatus, TransferQueue, Upload};

use crate::support::{
    BenchResult, Settings, fail, ferry_config, median, proc_status_kib, runtime, scratch_dir,
    seconds,
};

pub const NAME: &str = "queue_scale";
const FILES: usize = 100_000;
const FILES_PER_DIR: usize = 1_000;
const CHILD_ENV: &str = "FERRY_BENCH_QUEUE_SCALE_CHILD";
const SOURCES_ENV: &str = "FERRY_BENCH_QUEUE_SCALE_SOURCES";
const DATABASE_ENV: &str = "FERRY_BENCH_QUEUE_SCALE_DATABASE";
const REPORT_PREFIX: &str = "queue_scale_child:";

const ENQUEUE_GOAL_MS: f64 = 1000.0;
const OPEN_GOAL_MS: f64 = 50.0;
const RSS_GOAL_MIB: f64 = 64.0;

fn source_path(sources: &Path, index: usize) -> PathBuf {
    sources
        .join(format!("d{:03}", index / FILES_PER_DIR))
        .join(format!("f{index:06}.txt"))
}

pub fn run(settings: &Settings) -> BenchResult<()> {
    let work = scratch_dir(NAME);
    let sources = work.path().join("src");
    let created = Instant::now();
    for index in 0..FILES {
        let path = source_path(&sources, index);
        if index % FILES_PER_DIR == 0
            && let Some(parent) = path.parent()
        {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, format!("small file number {index}\n"))?;
    }
    println!(
        "{NAME}: created {FILES} source files in {:.1} s",
        seconds(created.elapsed())
    );
    let exe = std::env::current_exe()?;
    let mut enqueue_ms = Vec::new();
    let mut open_ms = Vec::new();
    let mut rss_mib = Vec::new();
    for round in 0..settings.runs {
        let database = work.path().join(format!("queue-{round}.db"));
        let output = Command::new(&exe)
            .env(CHILD_ENV, "1")
            .env(SOURCES_ENV, &sources)
            .env(DATABASE_ENV, &database)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = stdout
            .lines()
            .find_map(|line| line.strip_prefix(REPORT_PREFIX))
            .filter(|_| output.status.success())
            .ok_or_else(|| fail(format!("the child failed ({}): {stdout}", output.status)))?;
        let field = |name: &str| -> BenchResult<f64> {
            report
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| fail(format!("the child's report has no {name}: {report}")))
        };
        let (enqueue, open, hwm) = (field("enqueue_ms")?, field("open_ms")?, field("hwm_kib")?);
        let opened = field("opened_ms")?;
        let hwm = hwm / 1024.0;
        println!(
            "  run {}: enqueue {enqueue:.0} ms, open+progress {open:.1} ms (open returned after \
             {opened:.1} ms), peak RSS {hwm:.1} MiB \
             (RSS {:.1} MiB before enqueue with the uploads built, {:.1} MiB after it)",
            round + 1,
            field("rss_built_kib")? / 1024.0,
            field("rss_enqueued_kib")? / 1024.0,
        );
        enqueue_ms.push(enqueue);
        open_ms.push(open);
        rss_mib.push(hwm);
        for suffix in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{}{suffix}", database.display()));
        }
    }
    let enqueue = median(&mut enqueue_ms);
    let open = median(&mut open_ms);
    let rss = median(&mut rss_mib);
    println!(
        "{NAME}: enqueue_many {FILES} {enqueue:.0} ms (goal <= {ENQUEUE_GOAL_MS:.0} ms, \
         ratio {:.2}); open+first progress {open:.1} ms (goal <= {OPEN_GOAL_MS:.0} ms, \
         ratio {:.2}); peak RSS {rss:.1} MiB (goal <= {RSS_GOAL_MIB:.0} MiB, ratio {:.2}) \
         [ratio = measured/goal, goal <= 1.0]",
        enqueue / ENQUEUE_GOAL_MS,
        open / OPEN_GOAL_MS,
        rss / RSS_GOAL_MIB,
    );
    Ok(())
}

/// Whether this process is a re-executed child.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

pub fn child_main() -> ExitCode {
    match child() {
        Ok(report) => {
            println!("{REPORT_PREFIX} {report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{NAME} child: {error}");
            ExitCode::FAILURE
        }
    }
}

fn child() -> BenchResult<String> {
    let env_path = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .ok_or_else(|| fail(format!("{name} is not set")))
    };
    let sources = env_path(SOURCES_ENV)?;
    let database = env_path(DATABASE_ENV)?;
    // The reopened queue is online at first (the network can only be reported once it is
    // open), so its first turn starts attempts. They go to a loopback listener that never
    // accepts: they wait quietly instead of failing. `FERRY_BENCH_QUEUE_SCALE_REFUSED=1`
    // sends them to a closed port instead, where they fail at once and trip the breaker.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = if std::env::var_os("FERRY_BENCH_QUEUE_SCALE_REFUSED").is_some() {
        crate::support::free_port()?
    } else {
        silent.local_addr()?.port()
    };
    let destination = format!("http://127.0.0.1:{port}/");
    let rt = runtime();
    rt.block_on(async {
        let queue = TransferQueue::open(ferry_config(&database, 8)).await?;
        queue
            .set_network(NetworkStatus {
                online: false,
                expensive: false,
                constrained: false,
            })
            .await?;
        let uploads: Vec<Upload> = (0..FILES)
            .map(|index| Upload::put(source_path(&sources, index), format!("{destination}{index}")))
            .collect();
        let rss_built = proc_status_kib("VmRSS")?;
        let started = Instant::now();
        let results = queue.enqueue_many(uploads).await?;
        let enqueue_ms = seconds(started.elapsed()) * 1e3;
        if let Some(error) = results.iter().find_map(|result| result.as_ref().err()) {
            return Err(fail(format!("ferry refused an upload: {error}")));
        }
        if results.len() != FILES {
            return Err(fail(format!("{} results for {FILES} uploads", results.len())));
        }
        drop(results);
        let rss_enqueued = proc_status_kib("VmRSS")?;
        queue.shutdown().await?;
        drop(queue);

        let started = Instant::now();
        let queue = TransferQueue::open(ferry_config(&database, 8)).await?;
        let opened_ms = seconds(started.elapsed()) * 1e3;
        let progress = queue.progress().await?;
        let open_ms = seconds(started.elapsed()) * 1e3;
        queue.shutdown().await?;
        if progress.files_total != FILES as u64 {
            return Err(fail(format!(
                "the reopened queue holds {} files, not {FILES}",
                progress.files_total
            )));
        }
        let hwm = proc_status_kib("VmHWM")?;
        Ok(format!(
            "enqueue_ms={enqueue_ms:.3} open_ms={open_ms:.3} opened_ms={opened_ms:.3} hwm_kib={hwm} \
             rss_built_kib={rss_built} rss_enqueued_kib={rss_enqueued}"
        ))
    })
}
