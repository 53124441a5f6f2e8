//! Helpers shared by the benchmarks: scratch directories on disk, pseudo-random files,
//! medians, counting what a server stored, and the memory counters of this process.

use std::error::Error;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry::{HttpVersionPolicy, Limits, QueueConfig};

use crate::nginx::Protocol;

/// Errors of a measurement: reported, never a panic.
pub type BenchError = Box<dyn Error + Send + Sync>;
pub type BenchResult<T> = Result<T, BenchError>;

/// Settings of one `cargo bench` invocation.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Measurements per benchmark and side; the median is reported.
    pub runs: usize,
    /// `FERRY_BENCH_SIDE=ferry` (or `curl`) measures only that side: an analysis knob,
    /// for instance to count Ferry's fsyncs with strace without the baseline's syscalls.
    pub only_side: Option<&'static str>,
    /// `FERRY_BENCH_PROTOCOLS=https2,http1` limits the benchmarks that compare protocols to
    /// those (tags of [`Protocol`]); unset, each runs every protocol it knows.
    pub protocols: Option<Vec<Protocol>>,
}

impl Settings {
    /// Of `known`, those `FERRY_BENCH_PROTOCOLS` selects, in `known`'s order.
    pub fn select(&self, known: &[Protocol]) -> Vec<Protocol> {
        known
            .iter()
            .copied()
            .filter(|protocol| {
                self.protocols
                    .as_ref()
                    .is_none_or(|chosen| chosen.contains(protocol))
            })
            .collect()
    }

    pub fn runs_side(&self, side: &str) -> bool {
        self.only_side.is_none_or(|only| only == side)
    }
}

pub fn fail(message: impl Into<String>) -> BenchError {
    message.into().into()
}

/// A scratch directory on the machine's disk (not tmpfs, so fsync costs what it costs).
/// `FERRY_BENCH_DIR` picks another parent; the default is the system temp directory.
pub fn scratch_dir(label: &str) -> tempfile::TempDir {
    let parent = std::env::var_os("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    fs::create_dir_all(&parent).expect("create the benchmark scratch parent directory");
    tempfile::Builder::new()
        .prefix(&format!("ferry-bench-{label}-"))
        .tempdir_in(&parent)
        .expect("create a benchmark scratch directory")
}

/// A scratch directory for the server's files (nginx's prefix and document root): on
/// tmpfs (`/dev/shm`) when it has room, so that the server's disk write-back, which is
/// the same work whoever the client is, does not add noise to a comparison of clients.
/// Ferry's database and the source files stay on disk. `FERRY_BENCH_SERVER_DIR` picks
/// another parent.
pub fn server_scratch_dir(label: &str) -> tempfile::TempDir {
    const NEEDED: u64 = 3 << 30;
    let parent = std::env::var_os("FERRY_BENCH_SERVER_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            (available_bytes(&shm).unwrap_or(0) >= NEEDED).then_some(shm)
        });
    match parent {
        Some(parent) => tempfile::Builder::new()
            .prefix(&format!("ferry-bench-{label}-server-"))
            .tempdir_in(&parent)
            .expect("create the server's scratch directory"),
        None => scratch_dir(&format!("{label}-server")),
    }
}

/// Bytes free for an unprivileged user on the file system of `path`.
fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(3) fills the struct we pass; all-zero is a valid `statvfs`.
    let stats = unsafe {
        let mut stats: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(name.as_ptr(), &mut stats) != 0 {
            return None;
        }
        stats
    };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// The tokio runtime Ferry's CLI and bindings run on (`bindings/src/runtime.rs`): one
/// worker plus the blocking pool, unless `FERRY_BENCH_WORKERS` says otherwise (an
/// analysis knob: `FERRY_BENCH_WORKERS=2` is a default runtime on this 2-core machine).
pub fn runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("FERRY_BENCH_WORKERS")
        .ok()
        .and_then(|workers| workers.parse::<usize>().ok())
        .filter(|workers| *workers > 0)
        .unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build the tokio runtime")
}

/// The queue configuration every benchmark uses: Ferry's defaults (durable: each turn
/// committed, and its WAL synced, before it is reported), `in_flight` requests
/// per host and overall, HTTP/1.1 (the baseline servers speak cleartext HTTP/1.1).
pub fn ferry_config(database: &Path, in_flight: usize) -> QueueConfig {
    let mut config = QueueConfig::new(database);
    config.limits = Limits {
        per_host: in_flight,
        global: in_flight,
    };
    config.http_version = HttpVersionPolicy::Http1Only;
    config
}

/// Prints a comparison's result line: each side's median rate and their ratio.
pub fn print_ratio(
    label: &str,
    unit: &str,
    goal: f64,
    ferry_rates: &mut [f64],
    curl_rates: &mut [f64],
) {
    let ferry = median(ferry_rates);
    let curl = median(curl_rates);
    println!(
        "{label}: ferry {ferry:.0} {unit}, curl {curl:.0} {unit}, ratio X/Y = {:.2} (goal >= {goal})",
        ferry / curl
    );
}

/// The median; the slice is sorted in place.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    }
}

pub fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// SplitMix64: fast, deterministic, incompressible enough for upload payloads.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Writes `size` pseudo-random bytes to `path`.
pub fn write_random_file(path: &Path, size: u64, prng: &mut Prng) -> io::Result<()> {
    const BLOCK: usize = 1 << 20;
    let mut file = fs::File::create(path)?;
    let mut buffer = vec![0u8; BLOCK];
    let mut left = size;
    while left > 0 {
        let now = usize::try_from(left).map_or(BLOCK, |left| left.min(BLOCK));
        prng.fill(&mut buffer[..now]);
        file.write_all(&buffer[..now])?;
        left -= now as u64;
    }
    Ok(())
}

/// Regular files under `dir` (recursively) and their total size.
pub fn count_files(dir: &Path) -> io::Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((files, bytes))
}

/// Removes a directory tree if it exists.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// A loopback port that was free a moment ago (and now has no listener).
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Flushes dirty pages between runs, so one run's write-back does not land in the next.
pub fn sync_disks() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// A `kB` field of /proc/self/status, such as `VmHWM` (peak RSS) or `VmRSS`.
pub fn proc_status_kib(field: &str) -> BenchResult<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| fail(format!("/proc/self/status has no {field} line")))
}

/// CPU time (user + system) used so far by this process, or by its waited-for children.
pub fn cpu_time(who: CpuOf) -> Duration {
    let who = match who {
        CpuOf::ThisProcess => libc::RUSAGE_SELF,
        CpuOf::Children => libc::RUSAGE_CHILDREN,
    };
    // SAFETY: getrusage(2) fills the struct we pass; all-zero is a valid `rusage`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let time = |value: libc::timeval| {
        Duration::from_secs(u64::try_from(value.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(value.tv_usec).unwrap_or(0))
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[derive(Clone, Copy, Debug)]
pub enum CpuOf {
    ThisProcess,
    /// Children that have been waited for (so: a finished `curl`).
    Children,
}

/// CPU time (user + system) of process `pid` and of its direct children, from /proc.
pub fn process_tree_cpu(pid: u32) -> Duration {
    // SAFETY: sysconf(3) with a valid name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks)
        .ok()
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100);
    let mut total_ticks = 0;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    for entry in entries.flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command may hold spaces and parentheses: fields start after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let own_pid = head
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ')': state(0) ppid(1) ... utime(11) stime(12).
        let parent = fields.get(1).and_then(|p| p.parse::<u32>().ok());
        if own_pid != Some(pid) && parent != Some(pid) {
            continue;
        }
        let field = |index: usize| -> u64 {
            fields
                .get(index)
                .and_then(|value| value.parse().ok())
                .unwrap_or(0)
        };
        total_ticks += field(11) + field(12);
    }
    Duration::from_millis(total_ticks * 1000 / ticks)
}

/// One measured run: wall time, and the CPU time the client and the server used in it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub seconds: f64,
    pub client_cpu: f64,
    pub server_cpu: f64,
}

/// Starts a [`Sample`] of a client that is this process or a child that will be waited
/// for, against a server whose CPU time `server_cpu` reads.
pub struct Stopwatch<'a> {
    client: CpuOf,
    server_cpu: &'a dyn Fn() -> Duration,
    started: std::time::Instant,
    client_at_start: Duration,
    server_at_start: Duration,
}

impl<'a> Stopwatch<'a> {
    pub fn start(client: CpuOf, server_cpu: &'a dyn Fn() -> Duration) -> Self {
        Self {
            client,
            server_cpu,
            client_at_start: cpu_time(client),
            server_at_start: server_cpu(),
            started: std::time::Instant::now(),
        }
    }

    pub fn stop(self) -> Sample {
        let seconds = self.started.elapsed().as_secs_f64();
        Sample {
            seconds,
            client_cpu: seconds_between(self.client_at_start, cpu_time(self.client)),
            server_cpu: seconds_between(self.server_at_start, (self.server_cpu)()),
        }
    }
}

fn seconds_between(start: Duration, end: Duration) -> f64 {
    end.saturating_sub(start).as_secs_f64()
}

/// Runs `settings.runs` rounds of both sides, alternating which goes first so neither always
/// gets the warmer caches, with the disks synced before each side. Returns the rates
/// `(ferry, curl)` in run order.
pub fn alternate_rounds(
    settings: &Settings,
    mut ferry: impl FnMut(usize) -> BenchResult<f64>,
    mut curl: impl FnMut(usize) -> BenchResult<f64>,
) -> BenchResult<(Vec<f64>, Vec<f64>)> {
    let mut ferry_rates = Vec::new();
    let mut curl_rates = Vec::new();
    for round in 0..settings.runs {
        let ferry_first = round % 2 == 0;
        for side in 0..2 {
            let ferry_side = (side == 0) == ferry_first;
            if !settings.runs_side(if ferry_side { "ferry" } else { "curl" }) {
                continue;
            }
            sync_disks();
            if ferry_side {
                ferry_rates.push(ferry(round)?);
            } else {
                curl_rates.push(curl(round)?);
            }
        }
    }
    Ok((ferry_rates, curl_rates))
}

/// Removes a queue database and its WAL companions.
pub fn remove_database(database: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", database.display()));
    }
}
