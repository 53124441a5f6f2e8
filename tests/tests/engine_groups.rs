//! The app's own data on an upload (issue 19, point 2): metadata and a group stored with
//! the transfer and read back after a reopen, bounds refused at enqueue with nothing
//! queued, a repeat keeping what was first enqueued, and `list_where`, `cancel_where`,
//! `retry_where` and `purge_where` by group acting on that group alone, running attempts
//! included.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ferry::{Error, Selection, StateKind, TransferEvent, TransferId, TransferQueue, Upload};
use support::{
    NOWHERE, SourceFile, assert_totals_agree_with_the_transfers, enqueue_accepted, open_offline,
    quick_config, rows, slow_server, states_of, wait_for, write_files,
};

/// One `PUT` per file to `base` + its name, in `group`.
fn grouped(files: &[SourceFile], base: &str, group: Option<&str>) -> Vec<Upload> {
    files
        .iter()
        .map(|file| {
            let upload = Upload::put(&file.path, format!("{base}/{}", file.name));
            match group {
                Some(group) => upload.with_group(group),
                None => upload,
            }
        })
        .collect()
}

async fn listed_ids(queue: &TransferQueue, selection: Selection) -> Vec<TransferId> {
    queue
        .list_where(selection, 0, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|transfer| transfer.id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn metadata_and_group_survive_a_reopen_and_bounds_are_refused_with_nothing_queued() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 1, |_, _| 100);
    let queue = open_offline(dir.path()).await;
    let tagged = Upload::put(&files[0].path, format!("{NOWHERE}/a"))
        .with_metadata("album", "7")
        .with_metadata("caption", "the beach, at dusk ✓")
        .with_group("holiday");
    let id = queue.enqueue(tagged).await.expect("enqueue");

    // A repeat of the same source, destination and method is the same transfer: what it
    // was first enqueued with stays.
    let repeat = Upload::put(&files[0].path, format!("{NOWHERE}/a"))
        .with_metadata("album", "8")
        .with_group("elsewhere");
    assert_eq!(queue.enqueue(repeat).await.expect("repeat"), id);

    let too_many: BTreeMap<String, String> = (0..=ferry::MAX_METADATA_ENTRIES)
        .map(|index| (format!("k{index}"), "v".to_owned()))
        .collect();
    let mut refused = Upload::put(&files[1].path, format!("{NOWHERE}/b"));
    refused.metadata = too_many;
    let long_group = Upload::put(&files[1].path, format!("{NOWHERE}/b"))
        .with_group("g".repeat(ferry::MAX_GROUP_BYTES + 1));
    let results = queue
        .enqueue_many(vec![refused, long_group])
        .await
        .expect("enqueue_many");
    for result in results {
        let error = result.expect_err("out of bounds");
        assert!(matches!(error, Error::InvalidMetadata { .. }), "{error}");
        assert!(error.to_string().contains("at most"), "{error}");
    }
    assert_eq!(rows(&queue).await, 1, "nothing queued for a refused upload");
    queue.shutdown().await.expect("shutdown");

    let queue = open_offline(dir.path()).await;
    let stored = queue.get(&id).await.expect("get");
    let expected = BTreeMap::from([
        ("album".to_owned(), "7".to_owned()),
        ("caption".to_owned(), "the beach, at dusk ✓".to_owned()),
    ]);
    assert_eq!(stored.upload.metadata, expected);
    assert_eq!(stored.upload.group.as_deref(), Some("holiday"));
    let listed = queue
        .list_where(Selection::all().with_group("holiday"), 0, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].upload.metadata, expected);
    assert!(
        listed_ids(&queue, Selection::all().with_group("elsewhere"))
            .await
            .is_empty()
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn list_cancel_retry_and_purge_by_group_act_on_that_group_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 6, 2, |_, _| 100);
    let queue = open_offline(dir.path()).await;
    let album = enqueue_accepted(&queue, grouped(&files[..3], NOWHERE, Some("album"))).await;
    let trip = enqueue_accepted(&queue, grouped(&files[3..5], NOWHERE, Some("trip"))).await;
    let loose = enqueue_accepted(&queue, grouped(&files[5..], NOWHERE, None)).await;

    assert_eq!(
        listed_ids(&queue, Selection::all().with_group("album")).await,
        album,
        "a group's transfers, in enqueue order"
    );
    let second = queue
        .list_where(Selection::all().with_group("album"), 1, 1)
        .await
        .expect("page");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, album[1], "paged as `list`");
    assert!(
        listed_ids(
            &queue,
            Selection::in_states([StateKind::Failed]).with_group("album")
        )
        .await
        .is_empty(),
        "states narrow a group"
    );
    assert_eq!(queue.list(None, 0, 100).await.expect("list").len(), 6);

    let mut events = queue.subscribe();
    let cancelled = queue
        .cancel_where(Selection::all().with_group("album"))
        .await
        .expect("cancel");
    assert_eq!(cancelled, 3);
    assert_eq!(states_of(&queue, &album).await, [StateKind::Cancelled; 3]);
    assert_eq!(states_of(&queue, &trip).await, [StateKind::Queued; 2]);
    assert_eq!(states_of(&queue, &loose).await, [StateKind::Queued]);

    for id in trip.iter().chain(&loose) {
        queue.pause(id).await.expect("pause");
    }
    let retried = queue
        .retry_where(Selection::in_states([StateKind::Paused]).with_group("trip"))
        .await
        .expect("retry");
    assert_eq!(retried, 2);
    assert_eq!(states_of(&queue, &trip).await, [StateKind::Queued; 2]);
    assert_eq!(
        states_of(&queue, &loose).await,
        [StateKind::Paused],
        "a transfer in no group is never selected by a group"
    );
    let requeued = std::iter::from_fn(|| events.try_next())
        .filter(|event| matches!(event, TransferEvent::Requeued { .. }))
        .count();
    assert_eq!(requeued, 2);

    assert_eq!(
        queue
            .purge_where(Selection::all().with_group("trip"), Duration::ZERO)
            .await
            .expect("purge"),
        0,
        "the trip's transfers are queued: nothing of theirs to purge"
    );
    assert_eq!(
        queue
            .purge_where(Selection::all().with_group("album"), Duration::ZERO)
            .await
            .expect("purge"),
        3
    );
    assert!(
        listed_ids(&queue, Selection::all().with_group("album"))
            .await
            .is_empty()
    );
    assert_eq!(rows(&queue).await, 3);
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn cancel_where_by_group_stops_only_that_groups_running_attempts() {
    let server = slow_server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 3, |_, _| 1024 * 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let base = server.base_url();
    let base = base.trim_end_matches('/');
    let stopped = enqueue_accepted(&queue, grouped(&files[..2], base, Some("stop"))).await;
    let kept = enqueue_accepted(&queue, grouped(&files[2..], base, Some("keep"))).await;
    for _ in 0..3 {
        wait_for(&mut events, 100, |event| {
            matches!(event, TransferEvent::Started { .. })
        })
        .await;
    }

    let cancelled = queue
        .cancel_where(Selection::in_states([StateKind::Running]).with_group("stop"))
        .await
        .expect("cancel");
    assert_eq!(cancelled, 2);
    assert_eq!(states_of(&queue, &stopped).await, [StateKind::Cancelled; 2]);
    queue.wait_idle().await.expect("idle");
    assert_eq!(states_of(&queue, &kept).await, [StateKind::Succeeded]);
    for file in &files[..2] {
        assert!(server.received(&format!("/{}", file.name)).is_none());
    }
    assert!(server.received(&format!("/{}", files[2].name)).is_some());
    queue.shutdown().await.expect("shutdown");
}
