//! Downloads onto a volume that fills up (issue 21, point 4), on a small file system of the
//! test's own: a tmpfs with a size, mounted at a temporary folder (this needs root; a test
//! that cannot mount fails and says so) and unmounted when the test ends. A filler file
//! takes most of it. Downloads that do not fit wait, queued with `InsufficientSpace` and
//! no attempt used up, without a request (a known size) or after the volume filled up
//! mid-write (an unknown size, what was written kept); nothing corrupt or half-placed is
//! left; once the filler is removed, every file arrives byte-identical.
//!
//! Real time, not tokio's paused clock: the waits are the engine's recheck timer
//! (`disk_space::RECHECK_EVERY`) and real file-system I/O on the blocking pool.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferry::{Download, FailureKind, StateKind, Transfer, TransferEvent, TransferId, TransferQueue};
use ferry_testkit::{DownloadFault, ServerConfig, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::quick_config;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// How long a test waits for the queue to reach a state (real time; far above the
/// engine's 5 s recheck).
const PATIENCE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// A tmpfs of a fixed size mounted at a temporary folder; unmounted on drop.
struct SmallVolume {
    folder: tempfile::TempDir,
}

impl SmallVolume {
    fn mount(size: usize) -> Self {
        let folder = tempfile::tempdir().expect("a folder to mount on");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(folder.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Self { folder },
            Ok(output) => panic!(
                "mounting a {size}-byte tmpfs at {} failed ({}): this test needs root (it \
                 mounts a small file system of its own to fill up)",
                folder.path().display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => panic!(
                "could not run `mount` ({error}): this test needs root and mount(8) (it \
                 mounts a small file system of its own to fill up)"
            ),
        }
    }

    fn path(&self) -> &Path {
        self.folder.path()
    }

    /// Fills the volume until `left` bytes are available, with a file named `filler`.
    fn fill_leaving(&self, left: usize, size: usize) -> PathBuf {
        let filler = self.path().join("filler");
        std::fs::write(&filler, vec![0xAB; size - left]).expect("write the filler");
        filler
    }
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let path = self.folder.path();
        let unmounted = Command::new("umount").arg(path).status();
        if !unmounted.is_ok_and(|status| status.success()) {
            // Something still holds a file there: detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(path).status();
        }
    }
}

fn content(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..size).map(|_| rng.random()).collect()
}

/// A small volume filled up to `left` bytes, a server, and a queue (its database off the
/// volume) with a subscription to its events.
struct Setup {
    queue: TransferQueue,
    events: ferry::Subscription,
    server: TestServer,
    _dir: tempfile::TempDir,
    filler: PathBuf,
    /// Last, so dropped last: unmounted once the queue is gone.
    volume: SmallVolume,
}

impl Setup {
    async fn new(size: usize, left: usize) -> Self {
        let volume = SmallVolume::mount(size);
        let filler = volume.fill_leaving(left, size);
        let server = TestServer::start(ServerConfig::default())
            .await
            .expect("server");
        let dir = tempfile::tempdir().expect("dir");
        let queue = TransferQueue::open(quick_config(dir.path()))
            .await
            .expect("open");
        let events = queue.subscribe();
        Self {
            volume,
            filler,
            server,
            _dir: dir,
            queue,
            events,
        }
    }

    /// Serves `files` and enqueues them onto the volume, each with its expected size, in
    /// one call (so they are due in the same scheduling round).
    async fn enqueue_known_sizes(&self, files: &[(String, Vec<u8>)]) -> Vec<TransferId> {
        let downloads = files
            .iter()
            .map(|(name, bytes)| {
                self.server.serve_file(name, bytes.clone());
                let url = self.server.file_url(name);
                let mut download = Download::new(url, self.volume.path().join(name));
                download.expected_size = Some(bytes.len() as u64);
                download
            })
            .collect();
        self.queue
            .enqueue_downloads(downloads)
            .await
            .expect("enqueue")
            .into_iter()
            .map(|result| result.expect("accepted"))
            .collect()
    }
}

impl Setup {
    /// Serves `bytes` as `name` (with `faults`, one per request) and enqueues it onto the
    /// volume without an expected size; returns its destination and id.
    async fn enqueue_unsized(
        &self,
        name: &str,
        bytes: &[u8],
        faults: Vec<DownloadFault>,
    ) -> (PathBuf, TransferId) {
        self.server.serve_file(name, bytes.to_vec());
        self.server.add_download_faults(name, faults);
        let destination = self.volume.path().join(name);
        let id = self
            .queue
            .enqueue_download(Download::new(self.server.file_url(name), &destination))
            .await
            .expect("enqueue");
        (destination, id)
    }
}

/// Waits until every transfer of `ids` satisfies `done`; returns them.
async fn until_all(
    queue: &TransferQueue,
    ids: &[TransferId],
    what: &str,
    done: impl Fn(&Transfer) -> bool,
) -> Vec<Transfer> {
    let started = tokio::time::Instant::now();
    loop {
        let mut transfers = Vec::new();
        for id in ids {
            transfers.push(queue.get(id).await.expect("get"));
        }
        if transfers.iter().all(&done) {
            return transfers;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "not every transfer {what} within {PATIENCE:?}: {transfers:#?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn waits_for_space(transfer: &Transfer) -> bool {
    transfer.state.kind() == StateKind::Queued
        && transfer
            .last_error
            .as_ref()
            .is_some_and(|error| error.kind == FailureKind::InsufficientSpace)
}

fn succeeded(transfer: &Transfer) -> bool {
    transfer.state.kind() == StateKind::Succeeded
}

/// Names in `folder` other than the filler.
fn names_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .expect("read the volume")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "filler")
        .collect();
    names.sort();
    names
}

/// The `InsufficientSpace` messages of the `Retrying` events seen so far.
fn space_reasons(events: &mut ferry::Subscription) -> Vec<(TransferId, String)> {
    let mut reasons = Vec::new();
    while let Some(event) = events.try_next() {
        if let TransferEvent::Retrying { id, error, .. } = event
            && error.kind == FailureKind::InsufficientSpace
        {
            reasons.push((id, error.message));
        }
    }
    reasons
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_that_do_not_fit_wait_unlaunched_and_arrive_once_space_is_freed() {
    const VOLUME: usize = 8 * MIB;
    const SIZE: usize = 1536 * KIB;
    let mut setup = Setup::new(VOLUME, MIB).await;
    let (volume, server, queue) = (&setup.volume, &setup.server, &setup.queue);
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|index| (format!("f{index}.bin"), content(SIZE, index)))
        .collect();
    let ids = setup.enqueue_known_sizes(&files).await;

    let waiting = until_all(queue, &ids, "waits for space", waits_for_space).await;
    for transfer in &waiting {
        assert_eq!(transfer.attempts, 0, "waiting uses up no attempt");
        let message = &transfer.last_error.as_ref().expect("reason").message;
        assert!(
            message.contains("available") && message.contains("free at least"),
            "the reason says what is available and what to do: {message}"
        );
    }
    for (name, _) in &files {
        assert!(
            server.file_requests(name).is_empty(),
            "{name} was not launched: nothing was asked of the server"
        );
    }
    assert!(
        names_in(volume.path()).is_empty(),
        "no partial or destination file was made"
    );
    let told = space_reasons(&mut setup.events);
    for id in &ids {
        assert_eq!(
            told.iter().filter(|(told, _)| told == id).count(),
            1,
            "the app heard once that {id} waits for space: {told:?}"
        );
    }

    std::fs::remove_file(&setup.filler).expect("free the space");
    let done = until_all(queue, &ids, "succeeded", succeeded).await;
    assert!(done.iter().all(|transfer| transfer.attempts <= 1));
    for (name, bytes) in &files {
        let arrived = std::fs::read(volume.path().join(name)).expect("arrived");
        assert!(arrived == *bytes, "{name} is byte-identical");
        assert_eq!(
            server.bytes_served(name),
            bytes.len() as u64,
            "{name} served once"
        );
    }
    let mut expected: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    expected.sort();
    assert_eq!(names_in(volume.path()), expected, "no partial file left");
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_download_fits_alone_but_not_beside_one_running_on_the_same_volume() {
    const VOLUME: usize = 4 * MIB;
    const SIZE: usize = 640 * KIB;
    let mut setup = Setup::new(VOLUME, MIB).await;
    let (volume, server, queue) = (&setup.volume, &setup.server, &setup.queue);
    let files: Vec<(String, Vec<u8>)> = (0..2)
        .map(|index| (format!("g{index}.bin"), content(SIZE, 10 + index)))
        .collect();
    // One enqueue: both are due in the same scheduling round, so the second is checked
    // while the first, launched, has written nothing yet.
    let ids = setup.enqueue_known_sizes(&files).await;

    let both = until_all(queue, &ids, "succeeded or waits for space", |transfer| {
        succeeded(transfer) || waits_for_space(transfer)
    })
    .await;
    let finished: Vec<&Transfer> = both.iter().filter(|t| succeeded(t)).collect();
    let waiting: Vec<&Transfer> = both.iter().filter(|t| waits_for_space(t)).collect();
    assert_eq!(
        (finished.len(), waiting.len()),
        (1, 1),
        "one fits, the other not beside it: {both:#?}"
    );
    let told = space_reasons(&mut setup.events);
    let first_reason = told
        .iter()
        .find(|(id, _)| *id == waiting[0].id)
        .map(|(_, message)| message.clone())
        .expect("the app heard why the second waits");
    assert!(
        first_reason.contains("still to come for downloads running there"),
        "it waited for the running one's bytes, not its own alone: {first_reason}"
    );
    let waiting_name = waiting[0]
        .upload
        .source
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(server.file_requests(&waiting_name).is_empty());

    std::fs::remove_file(&setup.filler).expect("free the space");
    until_all(queue, &ids, "succeeded", succeeded).await;
    for (name, bytes) in &files {
        let arrived = std::fs::read(volume.path().join(name)).expect("arrived");
        assert!(arrived == *bytes, "{name} is byte-identical");
    }
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_first_told_by_the_answer_is_checked_before_a_byte_is_written() {
    const VOLUME: usize = 4 * MIB;
    const SIZE: usize = 2 * MIB;
    let setup = Setup::new(VOLUME, MIB).await;
    let (volume, server, queue) = (&setup.volume, &setup.server, &setup.queue);
    let bytes = content(SIZE, 98);
    // No expected size: the launch checks nothing, the answer's Content-Length tells it.
    let (destination, id) = setup.enqueue_unsized("told.bin", &bytes, vec![]).await;
    let waiting = until_all(
        queue,
        std::slice::from_ref(&id),
        "waits for space",
        waits_for_space,
    )
    .await;
    assert_eq!(
        waiting[0].attempts, 0,
        "waiting for space used up no attempt"
    );
    // A recheck (every 5 s) knows the size now: it asks the server nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(server.file_requests("told.bin").len(), 1);
    for name in names_in(volume.path()) {
        let held = std::fs::metadata(volume.path().join(&name))
            .expect("partial")
            .len();
        assert_eq!(
            held, 0,
            "nothing was written to {name} for a file that cannot fit"
        );
    }

    std::fs::remove_file(&setup.filler).expect("free the space");
    until_all(queue, std::slice::from_ref(&id), "succeeded", succeeded).await;
    assert!(std::fs::read(&destination).expect("arrived") == bytes);
    assert_eq!(server.file_requests("told.bin").len(), 2);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_that_fills_up_mid_write_keeps_what_was_written_and_the_download_resumes() {
    const VOLUME: usize = 4 * MIB;
    const SIZE: usize = 2 * MIB;
    let setup = Setup::new(VOLUME, MIB).await;
    let (volume, server, queue) = (&setup.volume, &setup.server, &setup.queue);
    let bytes = content(SIZE, 99);
    // No expected size, and the first answer does not say it either (chunked): nothing to
    // check before writing, and the first attempt runs into the full volume.
    let (destination, id) = setup
        .enqueue_unsized("big.bin", &bytes, vec![DownloadFault::Chunked])
        .await;

    let waiting = until_all(
        queue,
        std::slice::from_ref(&id),
        "waits for space",
        |transfer| waits_for_space(transfer) && !server.file_requests("big.bin").is_empty(),
    )
    .await;
    assert_eq!(
        waiting[0].attempts, 0,
        "running out of space used up no attempt"
    );
    assert!(!destination.exists(), "nothing half-written is in place");
    let partials: Vec<String> = names_in(volume.path());
    assert_eq!(partials.len(), 1, "only the partial file: {partials:?}");
    let held = std::fs::read(volume.path().join(&partials[0])).expect("partial");
    assert!(
        !held.is_empty() && held.len() < SIZE,
        "the partial holds part of the file: {} bytes",
        held.len()
    );
    assert!(
        bytes.starts_with(&held),
        "what the partial holds is the file's beginning, not corrupt"
    );

    std::fs::remove_file(&setup.filler).expect("free the space");
    until_all(queue, std::slice::from_ref(&id), "succeeded", succeeded).await;
    assert!(
        std::fs::read(&destination).expect("arrived") == bytes,
        "byte-identical"
    );
    let requests = server.file_requests("big.bin");
    let resumed = requests
        .iter()
        .filter_map(|request| request.range.as_deref())
        .filter_map(|range| {
            range
                .strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0usize);
    assert!(
        resumed > 0,
        "a later attempt resumed from what the first one wrote: {requests:?}"
    );
    let served = server.bytes_served("big.bin");
    assert!(
        served < 2 * SIZE as u64,
        "resumed, not fetched twice: {served} bytes served for {SIZE}"
    );
    println!(
        "filled up mid-write: resumed from byte {resumed}; {served} bytes served for {SIZE} ({} requests)",
        requests.len()
    );
    queue.shutdown().await.expect("shutdown");
}
