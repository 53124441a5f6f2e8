//! Progress the OS reports for a platform task reaches the app as `Progress` events, also
//! when the queue sat idle for longer than `progress_interval` before the task started
//! (the actor's progress tick must be scheduled again then, not skipped as "in the past").

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferry::{Integrations, TransferEvent, TransferQueue, Upload};
use support::scripted_platform::ScriptedPlatform;
use support::{quick_config, write_files};

#[tokio::test]
async fn os_progress_after_an_idle_spell_becomes_a_progress_event() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 256 * 1024);
    let mut config = quick_config(dir.path());
    config.platform.large_file_threshold = 64 * 1024;
    let idle_for = config.progress_interval * 4;
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let integrations = Integrations {
        platform: Some(Arc::clone(&platform) as Arc<dyn ferry::PlatformTransferService>),
        ..Integrations::default()
    };
    let queue = TransferQueue::open_with(config, integrations)
        .await
        .expect("open");
    let mut events = queue.subscribe();
    // The queue sits idle for several progress intervals before the work arrives.
    tokio::time::sleep(idle_for).await;
    let id = queue
        .enqueue(Upload::put(&files[0].path, "http://127.0.0.1:9/never-sent"))
        .await
        .expect("enqueue");
    let handoff = handoffs.recv().await.expect("handoff");
    queue
        .platform_progress(&handoff.key, 1000, 4000)
        .expect("report");

    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            if let TransferEvent::Progress {
                id: of, bytes_sent, ..
            } = event
                && of == id
            {
                return bytes_sent;
            }
        }
        0
    })
    .await
    .expect("a Progress event for the OS task (hang guard)");
    assert_eq!(
        seen,
        64 * 1024,
        "a quarter of the body is a quarter of the file"
    );
    queue.shutdown().await.expect("shutdown");
}
