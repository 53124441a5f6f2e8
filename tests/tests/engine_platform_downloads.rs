//! Downloads on the OS lane: a big download handed to the (scripted) OS as ranged
//! segments, each applied by the engine (checked, appended, recorded) until the file is
//! placed byte-identical; a segment with a wrong `Content-Range` discarded and fetched
//! again; a segment lost with the process fetched again from the recorded offset after a
//! reopen; an OS segment that stalls in the foreground taken back and continued
//! in-process from the recorded offset; and a download of unknown size handed to the OS in
//! the background. The bytes really come from the loopback server.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry::{AppState, Download, Handoff, QueueConfig, TransferQueue, TransferState};
use ferry_testkit::{DownloadFault, ServerConfig, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::quick_config;
use support::scripted_platform::{ScriptedPlatform, deliver, open_with_platform};
use tokio::sync::mpsc::UnboundedReceiver;

const MIB: u64 = 1024 * 1024;
/// Segments of 1 MiB, so a few-MiB file goes as several.
const SEGMENT: u64 = MIB;

fn content(size: u64, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..size).map(|_| rng.random()).collect()
}

/// A foreground queue that hands downloads of at least 1 MiB to the OS in 1 MiB segments.
fn config(dir: &Path) -> QueueConfig {
    let mut config = quick_config(dir);
    config.platform.large_file_threshold = MIB;
    config.platform.download_segment_bytes = SEGMENT;
    config.platform.downloads_to_os = true;
    config.app_state = AppState::Foreground;
    config
}

async fn server_with(name: &str, bytes: &[u8]) -> TestServer {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    server.serve_file(name, bytes.to_vec());
    server
}

async fn next_handoff(handoffs: &mut UnboundedReceiver<Handoff>) -> Handoff {
    tokio::time::timeout(Duration::from_secs(600), handoffs.recv())
        .await
        .expect("a handoff within 10 minutes of virtual time")
        .expect("a handoff")
}

/// Plays the OS: fetches the segment into its file, drops the task, reports.
async fn complete(platform: &ScriptedPlatform, queue: &TransferQueue, handoff: &Handoff) {
    let outcome = deliver(handoff).await;
    platform.forget(&handoff.key);
    queue
        .platform_finished(&handoff.key, outcome)
        .expect("report");
}

fn header<'a>(handoff: &'a Handoff, name: &str) -> Option<&'a str> {
    handoff
        .headers
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The segment a handoff asks for, checked against its `Range` header and segment file.
fn asked(handoff: &Handoff, folder: &Path) -> (u64, u64) {
    assert_eq!(handoff.method, "GET");
    let segment = handoff.download.as_ref().expect("a download segment");
    let last = segment.last.expect("a bounded segment");
    assert_eq!(
        header(handoff, "Range"),
        Some(format!("bytes={}-{last}", segment.first).as_str())
    );
    assert_eq!(header(handoff, "Accept-Encoding"), Some("identity"));
    assert_eq!(
        header(handoff, "If-Range").is_some(),
        segment.first > 0,
        "If-Range pins every segment after the first"
    );
    assert!(last - segment.first < SEGMENT, "bounded");
    assert_eq!(handoff.expected_bytes, last - segment.first + 1);
    assert_eq!(
        segment.path.parent(),
        Some(folder),
        "beside the partial file"
    );
    assert!(
        segment
            .path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(".ferry-")),
        "hidden: {:?}",
        segment.path
    );
    (segment.first, last)
}

/// Ferry's own files left in `folder` (partials, segments).
fn leftovers(folder: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(folder)
        .expect("read dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(".ferry-"))
        })
        .collect()
}

async fn final_state(queue: &TransferQueue, id: &ferry::TransferId) -> ferry::Transfer {
    tokio::time::timeout(Duration::from_secs(3600), queue.wait_for(id))
        .await
        .expect("final within an hour of virtual time")
        .expect("final")
}

/// One download of `size` random bytes (from `seed`) served as `name`, enqueued to
/// `folder` on a foreground queue over a scripted OS.
struct Started {
    bytes: Vec<u8>,
    server: TestServer,
    platform: Arc<ScriptedPlatform>,
    handoffs: UnboundedReceiver<Handoff>,
    queue: TransferQueue,
    path: PathBuf,
    id: ferry::TransferId,
}

async fn start(
    dir: &Path,
    folder: &Path,
    size: u64,
    seed: u64,
    faults: Vec<DownloadFault>,
) -> Started {
    let bytes = content(size, seed);
    let server = server_with("f", &bytes).await;
    server.add_download_faults("f", faults);
    let (platform, handoffs) = ScriptedPlatform::new();
    let queue = open_with_platform(config(dir), &platform).await;
    let path = folder.join("f.bin");
    let id = queue
        .enqueue_download(Download::new(server.file_url("f"), &path).with_expected_size(size))
        .await
        .expect("enqueue");
    Started {
        bytes,
        server,
        platform,
        handoffs,
        queue,
        path,
        id,
    }
}

#[tokio::test(start_paused = true)]
async fn a_big_download_goes_to_the_os_in_segments_and_arrives_byte_identical() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().join("down");
    std::fs::create_dir(&folder).expect("folder");
    let size = 3 * MIB + MIB / 2;
    let mut run = start(dir.path(), &folder, size, 1, Vec::new()).await;
    let mut segments = Vec::new();
    for _ in 0..4 {
        let handoff = next_handoff(&mut run.handoffs).await;
        assert_eq!(handoff.transfer_id, run.id.to_string());
        let record = run.queue.get(&run.id).await.expect("get");
        assert!(
            matches!(
                record.state,
                TransferState::Running {
                    lane: ferry::Lane::Platform { .. }
                }
            ),
            "recorded on the OS before start: {:?}",
            record.state
        );
        segments.push(asked(&handoff, &folder));
        complete(&run.platform, &run.queue, &handoff).await;
    }
    let done = final_state(&run.queue, &run.id).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(
        segments,
        vec![
            (0, MIB - 1),
            (MIB, 2 * MIB - 1),
            (2 * MIB, 3 * MIB - 1),
            (3 * MIB, size - 1)
        ],
        "each segment continues where the last one ended"
    );
    assert_eq!(std::fs::read(&run.path).expect("file"), run.bytes);
    assert_eq!(done.saved_as.as_deref(), Some(run.path.as_path()));
    assert_eq!(run.platform.started().len(), 4, "one OS task per segment");
    assert_eq!(
        run.server.bytes_served("f"),
        size,
        "every byte fetched once"
    );
    assert_eq!(run.server.file_requests("f").len(), 4, "nothing in-process");
    assert!(leftovers(&folder).is_empty(), "{:?}", leftovers(&folder));
    run.queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_segment_with_a_wrong_content_range_is_discarded_and_fetched_again() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().to_owned();
    let size = 2 * MIB + 10;
    let faults = vec![DownloadFault::None, DownloadFault::WrongContentRange];
    let mut run = start(dir.path(), &folder, size, 2, faults).await;
    let mut segments = Vec::new();
    for _ in 0..4 {
        let handoff = next_handoff(&mut run.handoffs).await;
        segments.push(asked(&handoff, &folder));
        complete(&run.platform, &run.queue, &handoff).await;
    }
    let done = final_state(&run.queue, &run.id).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(
        segments,
        vec![
            (0, MIB - 1),
            (MIB, 2 * MIB - 1),
            (MIB, 2 * MIB - 1),
            (2 * MIB, size - 1)
        ],
        "the wrong segment was asked again, from the same offset"
    );
    assert_eq!(std::fs::read(&run.path).expect("file"), run.bytes);
    let requests = run.server.file_requests("f");
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[1].status, 206, "the wrong one was a 206");
    // The discarded segment's bytes (one byte short of a segment) are the only waste.
    assert_eq!(run.server.bytes_served("f"), size + MIB - 1);
    assert_eq!(
        done.attempts, 2,
        "the discarded segment used up one attempt (stored segments none), the last its own"
    );
    assert!(
        leftovers(&folder).is_empty(),
        "no partial or segment left: {:?}",
        leftovers(&folder)
    );
    run.queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_segment_lost_with_the_process_is_fetched_again_from_the_recorded_offset() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().to_owned();
    let size = 3 * MIB;
    let mut run = start(dir.path(), &folder, size, 3, Vec::new()).await;
    for _ in 0..2 {
        let handoff = next_handoff(&mut run.handoffs).await;
        complete(&run.platform, &run.queue, &handoff).await;
    }
    let lost = next_handoff(&mut run.handoffs).await;
    assert_eq!(asked(&lost, &folder), (2 * MIB, 3 * MIB - 1));
    run.queue.shutdown().await.expect("shutdown");
    // The process died; so did the OS task, without a report (a force-quit can).
    run.platform.forget(&lost.key);
    let queue = open_with_platform(config(dir.path()), &run.platform).await;
    let again = next_handoff(&mut run.handoffs).await;
    assert_ne!(again.key, lost.key);
    assert_eq!(
        asked(&again, &folder),
        (2 * MIB, 3 * MIB - 1),
        "from the recorded offset, not from zero"
    );
    complete(&run.platform, &queue, &again).await;
    let done = final_state(&queue, &run.id).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&run.path).expect("file"), run.bytes);
    assert_eq!(run.server.bytes_served("f"), size, "no byte fetched twice");
    assert!(leftovers(&folder).is_empty(), "{:?}", leftovers(&folder));
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_stalled_os_segment_is_taken_back_and_continued_in_process_from_the_offset() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().to_owned();
    let size = 3 * MIB;
    let mut run = start(dir.path(), &folder, size, 4, Vec::new()).await;
    let first = next_handoff(&mut run.handoffs).await;
    complete(&run.platform, &run.queue, &first).await;
    let stuck = next_handoff(&mut run.handoffs).await;
    assert_eq!(asked(&stuck, &folder), (MIB, 2 * MIB - 1));
    // The OS never runs it (the seed's stuck session): taken back after
    // platform_stall_timeout, the rest fetched in-process.
    let done = final_state(&run.queue, &run.id).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&run.path).expect("file"), run.bytes);
    assert_eq!(run.platform.cancelled(), vec![stuck.key.clone()]);
    assert_eq!(
        run.platform.started().len(),
        2,
        "the rest came back in-process"
    );
    let requests = run.server.file_requests("f");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[1].range.as_deref(),
        Some(format!("bytes={MIB}-").as_str()),
        "in-process from the recorded offset"
    );
    assert_eq!(run.server.bytes_served("f"), size, "no byte fetched twice");
    assert!(leftovers(&folder).is_empty(), "{:?}", leftovers(&folder));
    run.queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_download_of_unknown_size_goes_to_the_os_in_the_background_and_learns_its_length() {
    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().to_owned();
    let size = 2 * MIB + MIB / 2;
    let bytes = content(size, 5);
    let server = server_with("f", &bytes).await;
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = config(dir.path());
    config.app_state = AppState::Background;
    let queue = open_with_platform(config, &platform).await;
    let path = folder.join("f.bin");
    // No expected size: in the foreground it would run in-process (size 0); in the
    // background the OS carries it, its first segment asked before any length is known.
    let id = queue
        .enqueue_download(Download::new(server.file_url("f"), &path))
        .await
        .expect("enqueue");
    let mut segments = Vec::new();
    for _ in 0..3 {
        let handoff = next_handoff(&mut handoffs).await;
        assert!(handoff.discretionary, "handed over in the background");
        segments.push(asked(&handoff, &folder));
        complete(&platform, &queue, &handoff).await;
    }
    let done = final_state(&queue, &id).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(
        segments,
        vec![(0, MIB - 1), (MIB, 2 * MIB - 1), (2 * MIB, size - 1)],
        "the last segment ends where the first answer said the file does"
    );
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    assert_eq!(server.bytes_served("f"), size);
    assert!(leftovers(&folder).is_empty(), "{:?}", leftovers(&folder));
    queue.shutdown().await.expect("shutdown");
}
