//! Running one resumable upload through the engine: a queue whose destination declares a
//! protocol, and a bounded wait for the transfer's end.

use std::path::Path;
use std::time::Duration;

use ferry::{
    QueueConfig, ResumableConfig, ResumableProtocol, Transfer, TransferEvent, TransferQueue, Upload,
};

/// A queue config (quick retries) in which uploads to `endpoint` of at least `threshold`
/// bytes use `protocol`.
pub fn resumable_config(
    dir: &Path,
    endpoint: &str,
    protocol: ResumableProtocol,
    threshold: u64,
) -> QueueConfig {
    let mut config = super::quick_config(dir);
    config.retry.base_delay = Duration::from_millis(20);
    config.retry.max_delay = Duration::from_millis(200);
    config.resumable = ResumableConfig {
        threshold,
        destinations: Vec::new(),
    }
    .with_destination(endpoint, protocol);
    config
}

/// Enqueues `upload` and waits (at most `limit` of real time) until it succeeds or fails.
pub async fn send_to_the_end(queue: &TransferQueue, upload: Upload, limit: Duration) -> Transfer {
    let mut events = queue.subscribe();
    let id = queue.enqueue(upload).await.expect("enqueue");
    let waited = tokio::time::timeout(limit, async {
        loop {
            match events.next().await {
                Some(TransferEvent::Succeeded { id: done, .. }) if done == id => return,
                Some(TransferEvent::Failed { id: done, .. }) if done == id => return,
                Some(_) => {}
                None => panic!("the queue closed"),
            }
        }
    })
    .await;
    let transfer = queue.get(&id).await.expect("get");
    assert!(
        waited.is_ok(),
        "the upload did not end in {limit:?}: {transfer:?}"
    );
    transfer
}

/// Opens a queue in `dir` whose `endpoint` speaks `protocol`, sends `source` there to the
/// end (at most `limit`), and shuts the queue down.
pub async fn send_once(
    dir: &Path,
    source: &Path,
    endpoint: &str,
    protocol: ResumableProtocol,
    limit: Duration,
) -> Transfer {
    let queue = TransferQueue::open(resumable_config(dir, endpoint, protocol, 1))
        .await
        .expect("open");
    let transfer = send_to_the_end(&queue, Upload::put(source, endpoint), limit).await;
    queue.shutdown().await.expect("shutdown");
    transfer
}
