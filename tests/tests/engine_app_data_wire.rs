//! An upload's app metadata and group stay on the device (issue 19, point 2): nothing of
//! either goes on the wire of an in-process request (raw `PUT` or multipart `POST`, read
//! as the bytes the client sent through a recording proxy), nor into an OS handoff (its
//! URL, headers or the body file Ferry wrote).

mod support;

use std::sync::Arc;

use ferry::{AppState, Integrations, StateKind, TransferQueue, Upload, UploadMethod};
use support::proxy::CountingProxy;
use support::scripted_platform::ScriptedPlatform;
use support::{enqueue_accepted, quick_config, server_with_faults, write_files};

/// Words that appear nowhere else in a request: if any is on the wire, it came from the
/// app's data.
const MARKERS: [&str; 3] = ["album-key-7f3a", "caption-value-91c2", "group-name-5d0e"];

fn tagged(upload: Upload) -> Upload {
    upload
        .with_metadata(MARKERS[0], MARKERS[1])
        .with_group(MARKERS[2])
}

fn markers_in(bytes: &[u8]) -> Vec<&'static str> {
    MARKERS
        .into_iter()
        .filter(|marker| contains(bytes, marker))
        .collect()
}

#[tokio::test]
async fn in_process_requests_carry_neither_metadata_nor_group() {
    let server = server_with_faults(ferry_testkit::FaultPlan::default()).await;
    let proxy = CountingProxy::recording(server.local_addr()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 1, |_, _| 3_000);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let put = tagged(Upload::put(&files[0].path, proxy.url("/wire/put")));
    let multipart = tagged(
        Upload::put(&files[1].path, proxy.url("/wire/form")).with_method(
            UploadMethod::PostMultipart {
                field: "file".into(),
            },
        ),
    );
    let ids = enqueue_accepted(&queue, vec![put, multipart]).await;
    tokio::time::timeout(std::time::Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("idle within a minute")
        .expect("idle");
    for id in &ids {
        let transfer = queue.get(id).await.expect("get");
        assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
        assert_eq!(transfer.upload.group.as_deref(), Some(MARKERS[2]), "kept");
    }

    let wire = proxy.client_bytes();
    for id in &ids {
        // Each request carries its transfer's id as the idempotency key: proof that the
        // recording holds the requests.
        assert!(contains(&wire, id.as_ref()), "{id} went through the proxy");
    }
    assert_eq!(
        markers_in(&wire),
        Vec::<&str>::new(),
        "no app data on the wire"
    );
    assert!(contains(&wire, "multipart/form-data"), "the POST was seen");
    assert!(
        wire.len() >= 6_000,
        "both bodies went through: {}",
        wire.len()
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_os_handoff_carries_neither_metadata_nor_group() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 4_000);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = quick_config(dir.path());
    config.app_state = AppState::Background;
    let integrations = Integrations {
        platform: Some(Arc::clone(&platform) as Arc<dyn ferry::PlatformTransferService>),
        ..Integrations::default()
    };
    let queue = TransferQueue::open_with(config, integrations)
        .await
        .expect("open");
    let upload = tagged(
        Upload::put(&files[0].path, "http://127.0.0.1:9/wire/form").with_method(
            UploadMethod::PostMultipart {
                field: "file".into(),
            },
        ),
    );
    enqueue_accepted(&queue, vec![upload]).await;

    let handoff = handoffs.recv().await.expect("a handoff in the background");
    let body = std::fs::read(&handoff.body_path).expect("the body Ferry wrote");
    assert!(
        contains(&body, "form-data; name=\"file\""),
        "the multipart body was written"
    );
    let mut sent = handoff.url.clone().into_bytes();
    for (name, value) in &handoff.headers {
        sent.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    sent.extend_from_slice(&body);
    assert_eq!(markers_in(&sent), Vec::<&str>::new());
    queue.shutdown().await.expect("shutdown");
}

fn contains(bytes: &[u8], text: &str) -> bool {
    bytes
        .windows(text.len())
        .any(|window| window.eq_ignore_ascii_case(text.as_bytes()))
}
