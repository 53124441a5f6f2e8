//! many_small_puts: 10,000 files of 16 KiB, `PUT` to nginx (WebDAV) with 8 requests in
//! flight, by Ferry and by `curl --parallel --parallel-max 8`, in alternating order, over
//! each [`Protocol`]: cleartext HTTP/1.1, HTTPS + HTTP/2 and HTTPS + HTTP/1.1.

use std::fs;
use std::path::{Path, PathBuf};

use crate::nginx::{self, Nginx, Protocol};
use crate::put_many::{Job, curl_round, ferry_round};
use crate::support::{
    BenchResult, Prng, Settings, alternate_rounds, print_ratio, runtime, scratch_dir,
    server_scratch_dir, write_random_file,
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
    let rt = runtime();
    for protocol in settings.select(&[Protocol::Http1, Protocol::Https2, Protocol::Https1]) {
        println!(
            "{NAME} [{}]: {} (Debian package), worker_processes 1, {}; server files in {}",
            protocol.tag(),
            binary.version,
            protocol.label(),
            server_dir.path().display()
        );
        let job = Job {
            server: &server,
            protocol,
            sources: &sources,
            bytes: FILES as u64 * FILE_SIZE,
            in_flight: IN_FLIGHT,
        };
        let (mut ferry_rates, mut curl_rates) = alternate_rounds(
            settings,
            |round| {
                let database = work.path().join(format!("queue-{round}.db"));
                let measured = ferry_round(&rt, &job, &format!("ferry-{round}"), &database)?;
                let rate = FILES as f64 / measured.sample.seconds;
                measured.print(round, "ferry", rate, "files/s");
                Ok(rate)
            },
            |round| {
                let measured = curl_round(&job, &format!("curl-{round}"), work.path())?;
                let rate = FILES as f64 / measured.sample.seconds;
                measured.print(round, "curl", rate, "files/s");
                Ok(rate)
            },
        )?;
        let label = format!("{NAME} [{}]", protocol.tag());
        print_ratio(&label, "files/s", 1.0, &mut ferry_rates, &mut curl_rates);
    }
    Ok(())
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
