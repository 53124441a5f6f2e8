//! A 300 MiB file whose connection is cut at 10%, 50% and 90% of its bytes reaches the
//! server byte-identical, and the bytes sent stay within 1.15× the file: against tusd
//! (tus 1.0, cuts by a counting proxy) and against the testkit's IETF draft server at the
//! latest interop version and at version 3 (iOS 17's), cuts by the testkit's fault plan.
//! (tusd's IETF support and termination: `resumable_tusd.rs`.)

mod support;

use std::time::Duration;

use ferry::{ResumableProtocol, StateKind};
use ferry_testkit::{FaultPlan, ServerConfig, TestServer};
use support::big_file::{digest_of, write_big_file};
use support::proxy::CountingProxy;
use support::resumable::send_once;
use support::tusd::Tusd;

const SIZE: u64 = 300 * 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(600);

fn cuts() -> Vec<u64> {
    [10, 50, 90]
        .iter()
        .map(|percent| SIZE / 100 * percent)
        .collect()
}

fn report(what: &str, sent: u64) -> f64 {
    let ratio = sent as f64 / SIZE as f64;
    println!("{what}: {sent} bytes sent for a {SIZE}-byte file: {ratio:.4}x");
    ratio
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_upload_cut_three_times_reaches_tusd_byte_identical() {
    let Some(tusd) = Tusd::start_or_skip("a_300_mib_upload_cut_three_times_reaches_tusd") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("video.mov");
    let digest = write_big_file(&source, SIZE, 300);
    let proxy = CountingProxy::start(tusd.addr(), cuts()).await;
    let endpoint = proxy.url("/files/");
    let transfer = send_once(
        dir.path(),
        &source,
        &endpoint,
        ResumableProtocol::Tus,
        LIMIT,
    )
    .await;

    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    assert_eq!(proxy.cuts_done(), 3, "every cut happened");
    let files = tusd.data_files();
    assert_eq!(
        files.len(),
        1,
        "one upload resource, never started again: {files:?}"
    );
    assert_eq!(digest_of(&files[0]), (digest, SIZE), "byte-identical");
    let ratio = report("tusd, tus 1.0", proxy.bytes_sent());
    assert!(ratio <= 1.15, "sent {ratio:.4}x the file");
}

async fn ietf_upload_cut_three_times(interop_version: u32) {
    let server = TestServer::start(ServerConfig {
        faults: FaultPlan {
            cut_at_offsets: cuts(),
            ..FaultPlan::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("video.mov");
    let digest = write_big_file(&source, SIZE, u64::from(interop_version));
    let proxy = CountingProxy::start(server.local_addr(), Vec::new()).await;
    let endpoint = proxy.url("/videos/video.mov");
    let protocol = ResumableProtocol::Ietf { interop_version };
    let transfer = send_once(dir.path(), &source, &endpoint, protocol, LIMIT).await;

    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    let stats = server.stats().resumable;
    assert_eq!(stats.cuts, 3, "every cut happened: {stats:?}");
    assert_eq!(stats.uploads_created, 1, "never started again: {stats:?}");
    assert_eq!(
        stats.patch_offsets,
        cuts().into_iter().fold(vec![0], |mut offsets, cut| {
            offsets.push(cut);
            offsets
        }),
        "each PATCH starts exactly where the server was cut"
    );
    let got = server.received("/videos/video.mov").expect("stored");
    assert_eq!(
        (got.len, got.sha256_hex, got.stored_count),
        (SIZE, digest, 1)
    );
    let ratio = report(
        &format!("testkit, IETF interop version {interop_version}"),
        proxy.bytes_sent(),
    );
    assert!(ratio <= 1.15, "sent {ratio:.4}x the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_upload_cut_three_times_reaches_the_ietf_server_at_the_latest_interop_version() {
    ietf_upload_cut_three_times(ferry::IETF_LATEST_INTEROP_VERSION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_upload_cut_three_times_reaches_the_ietf_server_at_interop_version_3() {
    ietf_upload_cut_three_times(ferry::IETF_IOS17_INTEROP_VERSION).await;
}
