//! Ferry's benchmarks, each against a baseline measured in the same invocation:
//!
//! * [`many_small_puts`]: 10,000 × 16 KiB `PUT`s to nginx, Ferry vs `curl --parallel`,
//!   over cleartext HTTP/1.1, HTTPS + HTTP/2 and HTTPS + HTTP/1.1.
//! * [`mixed_sizes`]: 2,000 files of 1 KiB to 4 MiB (log-uniform), a photo library's
//!   shape, over cleartext HTTP/1.1 and HTTPS + HTTP/2, Ferry vs `curl --parallel`.
//! * [`one_large_file`]: one 1 GiB `PUT` to nginx, Ferry vs `curl -T`, over each protocol.
//! * [`many_small_gets`]: 10,000 × 16 KiB static files fetched from nginx, Ferry vs
//!   `curl --parallel --parallel-max 8` then `sync`, every completion durable.
//! * [`one_large_get`]: one 1 GiB static file fetched from nginx, Ferry vs `curl -o` then
//!   `sync`.
//! * [`queue_scale`]: 100,000 files enqueued, reopened, and the memory it takes, against
//!   the goals themselves.
//!
//! `cargo bench -p ferry-testkit` runs them all; `cargo bench -p ferry-testkit --
//! queue_scale` runs those whose name contains an argument. `FERRY_BENCH_RUNS` sets the
//! number of runs per side (default 5; the median is printed); `FERRY_BENCH_SIDE`,
//! `FERRY_BENCH_PROTOCOLS` and `FERRY_BENCH_WORKERS` are knobs for analysis (see `support.rs`). Benchmarks measure, they
//! never assert: only a failed run (such as files missing on the server) is an error.

mod ferry_timing;
mod get_many;
mod many_small_gets;
mod many_small_puts;
mod mixed_sizes;
mod nginx;
mod one_large_file;
mod one_large_get;
mod put_many;
mod queue_scale;
mod support;

use std::process::ExitCode;
use std::time::Instant;

use nginx::Protocol;
use support::{BenchResult, Settings};

type Bench = fn(&Settings) -> BenchResult<()>;

const BENCHES: [(&str, Bench); 6] = [
    (many_small_puts::NAME, many_small_puts::run),
    (mixed_sizes::NAME, mixed_sizes::run),
    (one_large_file::NAME, one_large_file::run),
    (many_small_gets::NAME, many_small_gets::run),
    (one_large_get::NAME, one_large_get::run),
    (queue_scale::NAME, queue_scale::run),
];

fn main() -> ExitCode {
    if queue_scale::is_child() {
        return queue_scale::child_main();
    }
    // cargo passes `--bench`; other flags are ignored, plain words filter by name.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let runs = std::env::var("FERRY_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .filter(|runs| *runs > 0)
        .unwrap_or(5);
    let only_side = match std::env::var("FERRY_BENCH_SIDE").ok().as_deref() {
        Some("ferry") => Some("ferry"),
        Some("curl") => Some("curl"),
        _ => None,
    };
    let protocols = match std::env::var("FERRY_BENCH_PROTOCOLS") {
        Ok(tags) => match tags
            .split(',')
            .map(Protocol::from_tag)
            .collect::<Option<Vec<_>>>()
        {
            Some(protocols) => Some(protocols),
            None => {
                println!("FERRY_BENCH_PROTOCOLS={tags}: use tags among http1, https1, https2");
                return ExitCode::FAILURE;
            }
        },
        Err(_) => None,
    };
    let settings = Settings {
        runs,
        only_side,
        protocols,
    };
    let mut failed = false;
    for (name, bench) in BENCHES {
        if !filters.is_empty() && !filters.iter().any(|filter| name.contains(filter.as_str())) {
            continue;
        }
        let started = Instant::now();
        if let Err(error) = bench(&settings) {
            println!("{name}: FAILED: {error}");
            failed = true;
        }
        println!(
            "({name}: {runs} runs, medians; {:.1} s in all with setup)",
            started.elapsed().as_secs_f64()
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
