//! mixed_sizes: 2,000 files of 1 KiB to 4 MiB, sizes log-uniform from a fixed seed (a photo
//! library's shape: many thumbnails and small edits, some full-size images), `PUT` to nginx
//! with 8 requests in flight by Ferry and by `curl --parallel --parallel-max 8`, in
//! alternating order, over cleartext HTTP/1.1 and over HTTPS + HTTP/2.
//!
//! Besides the ratio of the median rates it prints the spread of each side's rounds: the
//! slowest round over the median, for Ferry's goal of no round slower than 1.5× its median.
//! MB are 10^6 bytes.

use std::fs;
use std::path::{Path, PathBuf};

use crate::nginx::{self, Nginx, Protocol};
use crate::put_many::{Job, curl_round, ferry_round};
use crate::support::{
    BenchResult, Prng, Settings, alternate_rounds, median, runtime, scratch_dir,
    server_scratch_dir, write_random_file,
};

pub const NAME: &str = "mixed_sizes";
const FILES: usize = 2_000;
const SMALLEST: u64 = 1 << 10;
const LARGEST: u64 = 4 << 20;
const IN_FLIGHT: usize = 8;

pub fn run(settings: &Settings) -> BenchResult<()> {
    let binary = nginx::ensure_installed()?;
    let work = scratch_dir(NAME);
    let (sources, bytes) = write_sources(&work.path().join("src"))?;
    let server_dir = server_scratch_dir(NAME);
    let server = Nginx::start(&binary, server_dir.path())?;
    let rt = runtime();
    for protocol in settings.select(&[Protocol::Http1, Protocol::Https2]) {
        println!(
            "{NAME} [{}]: {FILES} files, {:.0} MB, {} (Debian package), worker_processes 1, {}",
            protocol.tag(),
            bytes as f64 / 1e6,
            binary.version,
            protocol.label(),
        );
        let job = Job {
            server: &server,
            protocol,
            sources: &sources,
            bytes,
            in_flight: IN_FLIGHT,
        };
        let megabytes = bytes as f64 / 1e6;
        let (mut ferry_rates, mut curl_rates) = alternate_rounds(
            settings,
            |round| {
                let database = work.path().join(format!("queue-{round}.db"));
                let measured = ferry_round(&rt, &job, &format!("ferry-{round}"), &database)?;
                let rate = megabytes / measured.sample.seconds;
                measured.print(round, "ferry", rate, "MB/s");
                Ok(rate)
            },
            |round| {
                let measured = curl_round(&job, &format!("curl-{round}"), work.path())?;
                let rate = megabytes / measured.sample.seconds;
                measured.print(round, "curl", rate, "MB/s");
                Ok(rate)
            },
        )?;
        let ferry_spread = Spread::of(&ferry_rates);
        let curl_spread = Spread::of(&curl_rates);
        let ferry = median(&mut ferry_rates);
        let curl = median(&mut curl_rates);
        println!(
            "{NAME} [{}]: ferry {ferry:.0} MB/s (rounds {}), curl {curl:.0} MB/s (rounds {}), ratio X/Y = {:.2} (goal >= 1.0; Ferry's slowest round <= 1.5x its median)",
            protocol.tag(),
            ferry_spread,
            curl_spread,
            ferry / curl
        );
    }
    Ok(())
}

/// The rounds' spread: the fastest and slowest rate, and how much longer than the median
/// round the slowest took.
struct Spread {
    fastest: f64,
    slowest: f64,
    slowest_over_median: f64,
}

impl Spread {
    fn of(rates: &[f64]) -> Self {
        let mut sorted = rates.to_vec();
        let middle = median(&mut sorted);
        let fastest = sorted.last().copied().unwrap_or(f64::NAN);
        let slowest = sorted.first().copied().unwrap_or(f64::NAN);
        Self {
            fastest,
            slowest,
            // Time goes as 1/rate, so the slowest round took median/slowest times the median's.
            slowest_over_median: middle / slowest,
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0}..{:.0}, slowest {:.2}x the median's time",
            self.slowest, self.fastest, self.slowest_over_median
        )
    }
}

/// Writes the sources (sizes log-uniform between [`SMALLEST`] and [`LARGEST`]), then reads
/// each once, as `many_small_puts` does, so neither side pays the first read's access-time
/// update. Returns them and their total size.
fn write_sources(dir: &Path) -> BenchResult<(Vec<PathBuf>, u64)> {
    fs::create_dir_all(dir)?;
    let mut sizes = Prng::new(0x5EED_0003);
    let mut contents = Prng::new(0x5EED_0004);
    let (low, high) = ((SMALLEST as f64).ln(), (LARGEST as f64).ln());
    let mut total = 0;
    let mut sources = Vec::with_capacity(FILES);
    for index in 0..FILES {
        let unit = (sizes.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let size = (low + unit * (high - low)).exp().round() as u64;
        let size = size.clamp(SMALLEST, LARGEST);
        let path = dir.join(format!("m{index:04}.bin"));
        write_random_file(&path, size, &mut contents)?;
        total += size;
        sources.push(path);
    }
    for source in &sources {
        fs::read(source)?;
    }
    Ok((sources, total))
}
