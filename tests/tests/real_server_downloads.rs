//! Downloads from servers we did not write: Debian's nginx serving static files (strong
//! `mtime-size` ETags, ranges, `If-Range`), started by the test and installed if missing,
//! and Python's `http.server` (which ignores `Range`). Cuts are made by a loopback proxy
//! at exact positions in the file (`support/cutting_proxy.rs`); bytes served are counted
//! from nginx's access log. Files live on /dev/shm when it exists (else the temp dir) and
//! are removed at the end.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use ferry::{Download, FailureKind, StateKind, Transfer, TransferQueue, TransferState};
use ferry_testkit::nginx::{self, Nginx, Protocol};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use support::cutting_proxy::CuttingProxy;
use support::{partials_in, quick_config};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
/// The big file of the "Must show".
const BIG: u64 = 300 * MIB;
/// Real time: a debug build against a real server.
const PATIENCE: Duration = Duration::from_secs(900);

/// A scratch directory on tmpfs when there is one, removed when dropped.
fn scratch(label: &str) -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let prefix = format!("ferry-real-{label}-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    if shm.is_dir() {
        builder.tempdir_in(shm).expect("scratch dir on /dev/shm")
    } else {
        builder.tempdir().expect("scratch dir")
    }
}

fn start_nginx(dir: &Path) -> Nginx {
    let binary = nginx::ensure_installed().expect("nginx installed");
    Nginx::start(&binary, dir).expect("nginx started")
}

/// Writes `size` pseudo-random bytes from `seed` to `path`; returns their SHA-256 (hex).
fn write_random(path: &Path, size: u64, seed: u64) -> String {
    let bytes = random_bytes(size, seed);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, &bytes).expect("write");
    hex::encode(Sha256::digest(&bytes))
}

fn random_bytes(size: u64, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; usize::try_from(size).expect("fits")];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Whether two files hold the same bytes (read in 8 MiB blocks).
fn same_bytes(a: &Path, b: &Path) -> bool {
    let open = |path: &Path| std::fs::File::open(path).expect("open for comparing");
    let (mut a, mut b) = (open(a), open(b));
    let block = 8 * MIB as usize;
    let (mut left, mut right) = (vec![0u8; block], vec![0u8; block]);
    loop {
        let read = read_full(&mut a, &mut left);
        if read != read_full(&mut b, &mut right) || left[..read] != right[..read] {
            return false;
        }
        if read == 0 {
            return true;
        }
    }
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]).expect("read") {
            0 => break,
            read => filled += read,
        }
    }
    filled
}

async fn open_queue(dir: &Path) -> TransferQueue {
    TransferQueue::open(quick_config(dir)).await.expect("open")
}

/// Enqueues `download`, waits until it is final, returns it.
async fn fetch(queue: &TransferQueue, download: Download) -> Transfer {
    let id = queue.enqueue_download(download).await.expect("enqueue");
    tokio::time::timeout(PATIENCE, queue.wait_for(&id))
        .await
        .expect("final within the test's patience")
        .expect("final")
}

/// Replaces `path` by `bytes` in one rename (as a deploy does), with modification time
/// `mtime` if given.
fn replace_file(path: &Path, bytes: &[u8], mtime: Option<SystemTime>) {
    let temp = path.with_extension("replacing");
    std::fs::write(&temp, bytes).expect("write the new file");
    if let Some(mtime) = mtime {
        std::fs::File::options()
            .write(true)
            .open(&temp)
            .expect("open the new file")
            .set_modified(mtime)
            .expect("set its mtime");
    }
    std::fs::rename(&temp, path).expect("rename over");
}

fn nginx_addr(server: &Nginx) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

/// Body bytes nginx handed out for `path` (`/big.bin`), and the statuses, in log order.
fn served(server: &Nginx, path: &str) -> (u64, Vec<u16>) {
    let requests = server.take_requests().expect("nginx's request log");
    let mine: Vec<_> = requests.iter().filter(|r| r.path == path).collect();
    (
        mine.iter().map(|r| r.body_bytes).sum(),
        mine.iter().map(|r| r.status).collect(),
    )
}

/// Log-uniform sizes from 1 KiB to 4 MiB, from a fixed seed.
fn mixed_sizes(count: usize) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(0x21_D0);
    let (low, high) = ((KIB as f64).ln(), ((4 * MIB) as f64).ln());
    (0..count)
        .map(|_| {
            let size = rng.random_range(low..=high).exp().round() as u64;
            size.clamp(KIB, 4 * MIB)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_mixed_files_and_a_300_mib_file_arrive_byte_identical_from_nginx() {
    let dir = scratch("mixed");
    let server = start_nginx(&dir.path().join("server"));
    let started = Instant::now();
    let sizes = mixed_sizes(2_000);
    let mut names = Vec::new();
    for (index, size) in sizes.iter().enumerate() {
        let name = format!("mixed/m{index:04}.bin");
        write_random(&server.root().join(&name), *size, index as u64);
        names.push(name);
    }
    write_random(&server.root().join("big.bin"), BIG, 300);
    names.push("big.bin".to_owned());
    let total: u64 = sizes.iter().sum::<u64>() + BIG;
    let into = dir.path().join("into");
    std::fs::create_dir(&into).expect("mkdir");
    let destination = |name: &str| into.join(name.replace('/', "_"));
    let written = started.elapsed();

    let queue = open_queue(dir.path()).await;
    let started = Instant::now();
    let downloads = names
        .iter()
        .map(|name| Download::new(server.url(Protocol::Http1, name), destination(name)))
        .collect();
    let results = queue.enqueue_downloads(downloads).await.expect("enqueue");
    assert!(results.iter().all(Result::is_ok), "every download accepted");
    tokio::time::timeout(PATIENCE, queue.wait_idle())
        .await
        .expect("idle within the test's patience")
        .expect("idle");
    let took = started.elapsed();
    let done = queue
        .list(Some(StateKind::Succeeded), 0, 5_000)
        .await
        .expect("list");
    assert_eq!(done.len(), names.len(), "every download succeeded");
    for name in &names {
        assert!(
            same_bytes(&server.root().join(name), &destination(name)),
            "{name} arrived different"
        );
    }
    assert_eq!(partials_in(&into), Vec::<PathBuf>::new());
    let requests = server.take_requests().expect("nginx's request log");
    let bytes: u64 = requests.iter().map(|r| r.body_bytes).sum();
    assert_eq!(requests.len(), names.len(), "one GET per file");
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    assert_eq!(bytes, total, "each byte served once");
    println!(
        "{} files, {:.0} MB (of which 300 MiB in one file): written in {:.1} s, downloaded in {:.1} s",
        names.len(),
        total as f64 / 1e6,
        written.as_secs_f64(),
        took.as_secs_f64()
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_file_cut_at_10_50_and_90_percent_resumes_within_1_05x_served() {
    let dir = scratch("cuts");
    let server = start_nginx(&dir.path().join("server"));
    let source = server.root().join("big.bin");
    write_random(&source, BIG, 301);
    let cuts = vec![BIG / 10, BIG / 2, BIG / 10 * 9];
    let proxy = CuttingProxy::start(nginx_addr(&server), cuts.clone(), |_| {}).await;
    let queue = open_queue(dir.path()).await;
    let path = dir.path().join("big.bin");
    let done = fetch(&queue, Download::new(proxy.url("big.bin"), &path)).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert!(same_bytes(&source, &path), "arrived different");
    assert_eq!(proxy.cuts_done(), 3);
    let exchanges = proxy.exchanges();
    println!("{exchanges:?}");
    assert_eq!(exchanges.len(), 4, "one answer per cut, then the rest");
    assert_eq!(exchanges[0].range_start, None);
    assert_eq!(exchanges[0].status, Some(200));
    for (exchange, cut) in exchanges[1..].iter().zip(&cuts) {
        assert_eq!(exchange.status, Some(206), "{exchange:?}");
        let from = exchange.range_start.expect("a ranged request");
        assert!(from <= *cut, "resumed from {from}, past the cut at {cut}");
    }
    // nginx counts what it handed to its socket: at each cut, up to its send buffer (at
    // most `tcp_wmem`'s 4 MiB by default) never reached the client. What reached Ferry is
    // printed beside it.
    let (bytes, statuses) = served(&server, "/big.bin");
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    let forwarded: u64 = exchanges.iter().map(|e| e.body_bytes).sum();
    let ratio = bytes as f64 / BIG as f64;
    println!(
        "three cuts: nginx served {bytes} body bytes for {BIG} ({ratio:.4}x); {forwarded} reached Ferry ({:.4}x)",
        forwarded as f64 / BIG as f64
    );
    assert!(ratio <= 1.05, "{bytes} bytes served for {BIG}: {ratio:.4}x");
    assert_eq!(partials_in(dir.path()), Vec::<PathBuf>::new());
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replaced_between_attempts_is_fetched_again_and_arrives_new() {
    let dir = scratch("replaced");
    let server = start_nginx(&dir.path().join("server"));
    let source = server.root().join("f.bin");
    write_random(&source, 8 * MIB, 1);
    // Another size, so another `mtime-size` ETag whatever second it is.
    let new = random_bytes(6 * MIB, 2);
    let proxy = CuttingProxy::start(nginx_addr(&server), vec![4 * MIB], {
        let (source, new) = (source.clone(), new.clone());
        move |_| replace_file(&source, &new, None)
    })
    .await;
    let queue = open_queue(dir.path()).await;
    let path = dir.path().join("f.bin");
    let done = fetch(&queue, Download::new(proxy.url("f.bin"), &path)).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), new, "the new content");
    let exchanges = proxy.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:?}");
    assert!(exchanges[0].cut);
    assert_eq!(
        exchanges[1].range_start,
        Some(4 * MIB),
        "resume asked for, with If-Range"
    );
    assert_eq!(
        exchanges[1].status,
        Some(200),
        "nginx: the ETag changed, so the whole new file"
    );
    assert_eq!(exchanges[1].body_bytes, 6 * MIB);
    assert_eq!(partials_in(dir.path()), Vec::<PathBuf>::new());
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_swapped_with_the_same_size_and_mtime_is_caught_by_the_expected_sha256() {
    let dir = scratch("swapped");
    let server = start_nginx(&dir.path().join("server"));
    let source = server.root().join("f.bin");
    let size = 8 * MIB;
    let sha256 = write_random(&source, size, 3);
    let mtime = std::fs::metadata(&source)
        .expect("stat")
        .modified()
        .expect("mtime");
    let other = random_bytes(size, 4);
    let proxy = CuttingProxy::start(nginx_addr(&server), vec![size / 2], {
        let (source, other) = (source.clone(), other.clone());
        move |_| replace_file(&source, &other, Some(mtime))
    })
    .await;
    let queue = open_queue(dir.path()).await;
    let path = dir.path().join("f.bin");
    let download = Download::new(proxy.url("f.bin"), &path).with_sha256(&sha256);
    let done = fetch(&queue, download).await;
    let exchanges = proxy.exchanges();
    println!("{exchanges:?}");
    assert_eq!(done.state, TransferState::Failed, "{done:?}");
    let error = done.last_error.expect("error");
    assert_eq!(error.kind, FailureKind::DigestMismatch, "{error}");
    // nginx kept its ETag, so the resume was answered 206 with the other file's tail; the
    // mismatch emptied the partial and Ferry fetched once more from zero (the other file
    // whole), which did not match either.
    assert_eq!(exchanges.len(), 3, "{exchanges:?}");
    assert_eq!(exchanges[1].range_start, Some(size / 2));
    assert_eq!(
        exchanges[1].status,
        Some(206),
        "the ETag held: nginx resumed"
    );
    assert_eq!(exchanges[2].range_start, None, "fetched again from zero");
    assert_eq!(exchanges[2].status, Some(200));
    assert!(!path.exists(), "no wrong file at the destination");
    assert_eq!(partials_in(dir.path()), Vec::<PathBuf>::new());
    queue.shutdown().await.expect("shutdown");
}

/// `python3 -m http.server` on a free loopback port, stopped (by pid) when dropped.
struct PythonServer {
    child: Child,
    port: u16,
}

impl PythonServer {
    fn start(root: &Path) -> Self {
        let version = Command::new("python3").arg("--version").output();
        assert!(
            version.as_ref().is_ok_and(|out| out.status.success()),
            "this test needs python3 on PATH (for `python3 -m http.server`): {version:?}"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server starts");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python3 -m http.server did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_server_ignoring_range_is_restarted_from_zero_and_correct() {
    let dir = scratch("python");
    let root = dir.path().join("root");
    let source = root.join("f.bin");
    let size = 6 * MIB;
    let sha256 = write_random(&source, size, 5);
    // An hour old, so its Last-Modified is a strong validator and Ferry asks for a range.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&source)
        .expect("open")
        .set_modified(hour_ago)
        .expect("set mtime");
    let server = PythonServer::start(&root);
    let cut = size / 2;
    let proxy = CuttingProxy::start(server.addr(), vec![cut], |_| {}).await;
    let queue = open_queue(dir.path()).await;
    let path = dir.path().join("f.bin");
    let done = fetch(&queue, Download::new(proxy.url("f.bin"), &path)).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    let got = std::fs::read(&path).expect("file");
    assert_eq!(got.len() as u64, size);
    assert_eq!(hex::encode(Sha256::digest(&got)), sha256, "byte-identical");
    let exchanges = proxy.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:?}");
    assert!(exchanges[0].cut);
    assert_eq!(
        exchanges[1].range_start,
        Some(cut),
        "Ferry asked for the rest"
    );
    assert_eq!(exchanges[1].status, Some(200), "the server sent it all");
    assert_eq!(
        exchanges[1].body_bytes, size,
        "taken from zero, not appended"
    );
    assert_eq!(partials_in(dir.path()), Vec::<PathBuf>::new());
    queue.shutdown().await.expect("shutdown");
}
