//! Bad input gets a typed error, nothing is stored for it, and the queue keeps serving
//! other transfers. No panics.

mod support;

use std::time::Duration;

use ferry::{
    Error, FailureKind, NetworkStatus, NotAFile, StateKind, StoreError, TransferEvent,
    TransferQueue, TransferState, Upload,
};
use ferry_testkit::{Fault, FaultPlan, ScriptedFault, ServerConfig, TestServer};
use support::{assert_all_received_once, enqueue_each, quick_config, wait_for, write_files};

async fn queue_and_server(dir: &std::path::Path, faults: FaultPlan) -> (TransferQueue, TestServer) {
    let server = TestServer::start(ServerConfig {
        faults,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let queue = TransferQueue::open(quick_config(dir)).await.expect("open");
    (queue, server)
}

#[tokio::test]
async fn each_kind_of_bad_input_is_refused_with_its_own_error_and_the_queue_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let (queue, server) = queue_and_server(dir.path(), FaultPlan::default()).await;
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 1000);
    let good_url = format!("{}good.bin", server.base_url());

    let missing = queue
        .enqueue(Upload::put(dir.path().join("nope.bin"), good_url.clone()))
        .await;
    assert!(
        matches!(missing, Err(Error::SourceMissing { .. })),
        "{missing:?}"
    );
    let directory = queue
        .enqueue(Upload::put(dir.path(), good_url.clone()))
        .await;
    assert!(
        matches!(directory, Err(Error::SourceNotAFile { .. })),
        "{directory:?}"
    );
    for url in ["ftp://127.0.0.1/x", "file:///etc/hosts", "::not a url::"] {
        let result = queue.enqueue(Upload::put(&files[0].path, url)).await;
        assert!(
            matches!(result, Err(Error::InvalidUrl { .. })),
            "{url}: {result:?}"
        );
    }
    let bad_header = queue
        .enqueue(Upload::put(&files[0].path, good_url.clone()).with_header("X-Bad", "a\r\nb"))
        .await;
    assert!(
        matches!(bad_header, Err(Error::InvalidHeader { .. })),
        "{bad_header:?}"
    );

    // A batch with good and bad items: the good one is queued, the bad one refused.
    let results = queue
        .enqueue_many(vec![
            Upload::put(dir.path().join("also-missing"), good_url.clone()),
            Upload::put(
                &files[0].path,
                format!("{}{}", server.base_url(), files[0].name),
            ),
        ])
        .await
        .expect("batch");
    assert!(matches!(results[0], Err(Error::SourceMissing { .. })));
    assert!(results[1].is_ok());
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    let all = queue.list(None, 0, 100).await.expect("list");
    assert_eq!(all.len(), 1, "nothing was stored for refused input");
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_file_changed_while_it_is_sent_fails_as_source_changed() {
    let dir = tempfile::tempdir().expect("dir");
    let faults = FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 1,
            fault: Fault::SlowRead {
                bytes_per_second: 64 * 1024,
            },
        }],
        ..FaultPlan::default()
    };
    let (queue, server) = queue_and_server(dir.path(), faults).await;
    let files = write_files(&dir.path().join("src"), 2, 2, |_, _| 4 * 1024 * 1024);
    let mut events = queue.subscribe();
    let changing = queue
        .enqueue(Upload::put(
            &files[0].path,
            format!("{}changing", server.base_url()),
        ))
        .await
        .expect("enqueue");
    wait_for(
        &mut events,
        1000,
        |e| matches!(e, TransferEvent::Progress { bytes_sent, .. } if *bytes_sent > 0),
    )
    .await;
    // Rewrite the file while the server slowly reads it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut bytes = std::fs::read(&files[0].path).expect("read");
    bytes[0] ^= 0xFF;
    bytes.push(1);
    std::fs::write(&files[0].path, bytes).expect("rewrite");

    let event = wait_for(&mut events, 10_000, |e| {
        matches!(e, TransferEvent::Failed { .. })
    })
    .await;
    let TransferEvent::Failed { id, error } = event else {
        unreachable!("wait_for returns the matching event");
    };
    assert_eq!(id, changing);
    assert_eq!(error.kind, FailureKind::SourceChanged, "{error}");
    assert!(
        server.received("/changing").is_none(),
        "no partial file was stored"
    );

    // The queue keeps working.
    let other = &files[1];
    queue
        .enqueue(Upload::put(
            &other.path,
            format!("{}{}", server.base_url(), other.name),
        ))
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, std::slice::from_ref(other));
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_file_changed_between_enqueue_and_send_fails_as_source_changed() {
    let dir = tempfile::tempdir().expect("dir");
    let (queue, server) = queue_and_server(dir.path(), FaultPlan::default()).await;
    let files = write_files(&dir.path().join("src"), 1, 2, |_, _| 1000);
    let offline = NetworkStatus {
        online: false,
        ..NetworkStatus::default()
    };
    queue.set_network(offline).await.expect("offline");
    let id = queue
        .enqueue(Upload::put(
            &files[0].path,
            format!("{}x", server.base_url()),
        ))
        .await
        .expect("enqueue");
    std::fs::write(&files[0].path, b"different content").expect("rewrite");
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    queue.wait_idle().await.expect("idle");
    let transfer = queue.get(&id).await.expect("get");
    assert_eq!(transfer.state, TransferState::Failed);
    let error = transfer.last_error.expect("a reason");
    assert_eq!(error.kind, FailureKind::SourceChanged);
    assert_eq!(server.stats().requests, 0, "nothing was sent");
    queue.shutdown().await.expect("shutdown");
}

/// Makes a FIFO at `path` in-process: a spawned `mkfifo` would hold copies of this
/// process's descriptors until its exec, among them another test's store lock.
fn make_fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;

    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// Sources replaced after enqueue by a FIFO (small and large, so both the read at open on
/// the runtime worker and the blocking pool are covered), a directory, a device and a file
/// of /proc each fail for good as `SourceNotAFile`; nothing waits on a FIFO, and the good
/// files around them are sent.
#[test]
fn sources_replaced_by_special_files_after_enqueue_fail_for_good_and_the_rest_are_sent() {
    // On a thread of its own: an `open` that waits on a FIFO would block the runtime, and
    // with it any timeout inside it. Two minutes is a hang detector, not a timing.
    let (done, finished) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(replaced_sources_fail_and_the_rest_are_sent());
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(120)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = test.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the queue hung on a source replaced by a special file")
        }
    }
}

async fn replaced_sources_fail_and_the_rest_are_sent() {
    let dir = tempfile::tempdir().expect("dir");
    let (queue, server) = queue_and_server(dir.path(), FaultPlan::default()).await;
    let files = write_files(&dir.path().join("src"), 8, 3, |index, _| {
        if index % 2 == 0 { 1000 } else { 300 * 1024 }
    });
    queue
        .set_network(NetworkStatus {
            online: false,
            ..NetworkStatus::default()
        })
        .await
        .expect("offline");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    let replace = |index: usize| {
        std::fs::remove_file(&files[index].path).expect("remove the enqueued file");
        &files[index].path
    };
    make_fifo(replace(0)); // small
    make_fifo(replace(1)); // large
    std::fs::create_dir(replace(2)).expect("directory");
    std::os::unix::fs::symlink("/dev/zero", replace(3)).expect("link to a device");
    std::os::unix::fs::symlink("/proc/self/status", replace(4)).expect("link to /proc");
    let replaced = 5;
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    queue.wait_idle().await.expect("idle");

    for (index, id) in ids.iter().enumerate() {
        let transfer = queue.get(id).await.expect("get");
        if index < replaced {
            assert_eq!(transfer.state, TransferState::Failed, "{index}");
            let error = transfer.last_error.expect("a reason");
            assert_eq!(error.kind, FailureKind::SourceNotAFile, "{index}: {error}");
            assert_eq!(
                transfer.attempts, 1,
                "{index}: failed at once, never retried"
            );
        } else {
            assert_eq!(transfer.state, TransferState::Succeeded, "{index}");
        }
    }
    assert_all_received_once(&server, &files[replaced..]);
    for file in &files[..replaced] {
        assert!(server.received(&format!("/{}", file.name)).is_none());
    }
    queue.shutdown().await.expect("shutdown");
}

/// Linux allows any bytes but `/` and NUL in a name: such a source is sent, stored with its
/// exact bytes, listed back with them, and found again when enqueued again.
#[tokio::test]
async fn a_source_whose_name_is_not_utf8_is_sent_and_keeps_its_bytes() {
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::tempdir().expect("dir");
    let (queue, server) = queue_and_server(dir.path(), FaultPlan::default()).await;
    let source = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9\n.bin"));
    std::fs::write(&source, b"latin-1 name").expect("write");
    let upload = Upload::put(&source, format!("{}caf%E9%0A.bin", server.base_url()));
    let id = queue.enqueue(upload.clone()).await.expect("accepted");
    queue.wait_idle().await.expect("idle");
    let transfer = queue.get(&id).await.expect("get");
    assert_eq!(transfer.state, TransferState::Succeeded);
    assert_eq!(
        transfer.upload.source.as_os_str().as_bytes(),
        source.as_os_str().as_bytes()
    );
    let stored = server.received("/caf%E9%0A.bin").expect("arrived");
    assert_eq!(stored.len, 12);
    assert_eq!(
        queue.enqueue(upload).await.expect("again"),
        id,
        "found again"
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_kernel_file_is_refused_at_enqueue() {
    let dir = tempfile::tempdir().expect("dir");
    let (queue, server) = queue_and_server(dir.path(), FaultPlan::default()).await;
    let result = queue
        .enqueue(Upload::put(
            "/proc/self/status",
            format!("{}status", server.base_url()),
        ))
        .await;
    let Err(Error::SourceNotAFile { found, .. }) = &result else {
        panic!("a /proc file must be refused: {result:?}");
    };
    assert_eq!(*found, NotAFile::KernelFile);
    let message = result
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(message.contains("copy it to a regular file"), "{message}");
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_damaged_database_gives_a_typed_error_and_a_fresh_path_works() {
    let dir = tempfile::tempdir().expect("dir");
    let config = quick_config(dir.path());
    std::fs::write(&config.database_path, vec![0x5Au8; 16 * 1024]).expect("garbage");
    let error = TransferQueue::open(config.clone())
        .await
        .expect_err("must fail");
    assert!(
        matches!(error, Error::Store(StoreError::NotADatabase { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("move it aside"),
        "says what to do: {error}"
    );
    std::fs::rename(&config.database_path, dir.path().join("damaged.db")).expect("move");
    let queue = TransferQueue::open(config)
        .await
        .expect("a fresh database opens");
    assert!(
        queue
            .list(Some(StateKind::Queued), 0, 10)
            .await
            .expect("list")
            .is_empty()
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_database_damaged_after_its_header_gives_a_typed_error() {
    let dir = tempfile::tempdir().expect("dir");
    let config = quick_config(dir.path());
    let queue = TransferQueue::open(config.clone()).await.expect("create");
    queue.shutdown().await.expect("shutdown");
    let mut bytes = std::fs::read(&config.database_path).expect("read");
    for byte in bytes.iter_mut().skip(100) {
        *byte = 0xC3;
    }
    std::fs::write(&config.database_path, bytes).expect("damage");
    let error = TransferQueue::open(config).await.expect_err("must fail");
    assert!(
        matches!(
            error,
            Error::Store(StoreError::Corrupt { .. } | StoreError::NotADatabase { .. })
        ),
        "{error}"
    );
}
