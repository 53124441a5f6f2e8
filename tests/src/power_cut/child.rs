//! The queue process of the power-cut test (`ferry-testkit power-cut-queue`): opens a
//! `TransferQueue` whose database lives on the power-cut mount, lists what it holds,
//! enqueues numbered files to upload and numbered files to download (into a folder on the
//! mount, so their partial files, renames and folder syncs are cut too) and runs until
//! idle, printing each fact the queue tells (`protocol.rs`) the moment it is told. The test freezes it at any instant, cuts the
//! power, kills it and starts it again.
//!
//! It must never print a fact before the queue told it, nor anything else on standard
//! output; errors go to standard error with a non-zero exit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry::{Download, QueueConfig, TransferEvent, TransferQueue, Upload};

use super::protocol::Told;

/// Uploads per `enqueue_many` call: several small commands, so that enqueues and
/// finished attempts interleave.
const NEW_FILES_PER_CALL: usize = 4;
/// Downloads per `enqueue_downloads` call, each call after one of uploads.
const NEW_DOWNLOADS_PER_CALL: usize = 2;
/// Transfers per page when listing the reopened queue.
const LIST_PAGE: u64 = 500;

/// What to run: files `new_from..files` of `sources` (named as [`file_name`] names them)
/// are enqueued, to `PUT` to `base_url` + the name, and downloads
/// `downloads_new_from..downloads` (named as [`download_name`] names them), from
/// `file_base_url` + the name into `download_dir`; earlier ones are in the database
/// already, as earlier runs left them.
#[derive(Clone, Debug)]
pub struct ChildArgs {
    pub database: PathBuf,
    pub sources: PathBuf,
    pub base_url: String,
    pub files: usize,
    pub new_from: usize,
    pub file_base_url: String,
    pub download_dir: PathBuf,
    pub downloads: usize,
    pub downloads_new_from: usize,
}

/// The name of file number `index`, in the sources and on the server.
pub fn file_name(index: usize) -> String {
    format!("f{index:05}")
}

/// The name of download number `index`, on the server and in the download folder.
pub fn download_name(index: usize) -> String {
    format!("d{index:05}")
}

/// Runs the queue to idle; `Err` says what failed.
pub async fn run(args: ChildArgs) -> Result<(), String> {
    let mut config = QueueConfig::new(&args.database);
    config.retry.base_delay = Duration::from_millis(100);
    config.retry.max_delay = Duration::from_secs(2);
    let queue = TransferQueue::open(config)
        .await
        .map_err(|error| format!("the queue's database did not open after a power cut: {error}"))?;
    say(&Told::Opened)?;
    let mut listed = 0;
    loop {
        let page = queue
            .list(None, listed, LIST_PAGE)
            .await
            .map_err(|error| format!("listing the reopened queue failed: {error}"))?;
        if page.is_empty() {
            break;
        }
        for transfer in &page {
            say(&Told::Record {
                id: transfer.id.to_string(),
                state: format!("{:?}", transfer.state.kind()),
            })?;
            if let Some(path) = &transfer.saved_as {
                say(&Told::Saved {
                    id: transfer.id.to_string(),
                    path: path.display().to_string(),
                })?;
            }
        }
        listed += page.len() as u64;
    }
    say(&Told::Listed { count: listed })?;

    let mut events = queue.subscribe();
    let reporter = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let TransferEvent::Succeeded { id, .. } = event {
                say(&Told::Succeeded { id: id.to_string() })?;
            }
        }
        Ok::<(), String>(())
    });
    let uploads: Vec<Upload> = (args.new_from..args.files)
        .map(|index| upload(&args.sources, &args.base_url, index))
        .collect();
    let downloads: Vec<(String, Download)> = (args.downloads_new_from..args.downloads)
        .map(|index| download(&args, index))
        .collect();
    let mut upload_calls = uploads.chunks(NEW_FILES_PER_CALL);
    let mut download_calls = downloads.chunks(NEW_DOWNLOADS_PER_CALL);
    loop {
        let (uploads, downloads) = (upload_calls.next(), download_calls.next());
        if uploads.is_none() && downloads.is_none() {
            break;
        }
        if let Some(call) = uploads {
            let results = queue
                .enqueue_many(call.to_vec())
                .await
                .map_err(|error| format!("enqueue failed: {error}"))?;
            for result in results {
                let id = result.map_err(|error| format!("an upload was refused: {error}"))?;
                say(&Told::Enqueued { id: id.to_string() })?;
            }
        }
        if let Some(call) = downloads {
            let results = queue
                .enqueue_downloads(call.iter().map(|(_, download)| download.clone()).collect())
                .await
                .map_err(|error| format!("enqueueing downloads failed: {error}"))?;
            for ((name, _), result) in call.iter().zip(results) {
                let id = result.map_err(|error| format!("a download was refused: {error}"))?;
                say(&Told::EnqueuedDownload {
                    id: id.to_string(),
                    name: name.clone(),
                })?;
            }
        }
    }
    queue
        .wait_idle()
        .await
        .map_err(|error| format!("waiting for the queue failed: {error}"))?;
    queue
        .shutdown()
        .await
        .map_err(|error| format!("shutdown failed: {error}"))?;
    reporter.abort();
    say(&Told::Idle)
}

fn upload(sources: &Path, base_url: &str, index: usize) -> Upload {
    let name = file_name(index);
    Upload::put(sources.join(&name), format!("{base_url}{name}"))
}

/// Download number `index` with its name.
fn download(args: &ChildArgs, index: usize) -> (String, Download) {
    let name = download_name(index);
    let download = Download::new(
        format!("{}{name}", args.file_base_url),
        args.download_dir.join(&name),
    );
    (name, download)
}

/// Prints one fact and flushes it, so it is told before the next instruction runs.
fn say(told: &Told) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{told}")
        .and_then(|()| out.flush())
        .map_err(|error| format!("cannot tell the test ({error})"))
}
