//! Uploads every file of a folder, one `PUT` per file, waits until the queue is idle and
//! prints what became of each file.
//!
//! ```text
//! cargo run -p ferry-transfers --example upload_a_folder -- FOLDER BASE_URL [DATABASE]
//! ```
//!
//! `FOLDER/photo 1.jpg` goes to `BASE_URL/photo%201.jpg`. The queue lives in DATABASE
//! (default: `ferry-upload-a-folder.db` in the system's temporary directory), so a second
//! run does not send again what the first one sent, and a run that was interrupted picks
//! up where it stopped. Exits with an error when a file failed.

use std::path::PathBuf;

use ferry::{QueueConfig, TransferQueue, TransferState, Upload};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(folder), Some(base_url)) = (args.next(), args.next()) else {
        return Err("usage: upload_a_folder FOLDER BASE_URL [DATABASE]".into());
    };
    let folder = PathBuf::from(folder);
    let base_url = url::Url::parse(base_url.to_str().ok_or("BASE_URL is not UTF-8")?)?;
    let database = args.next().map_or_else(
        || std::env::temp_dir().join("ferry-upload-a-folder.db"),
        PathBuf::from,
    );

    let mut uploads = Vec::new();
    let entries = std::fs::read_dir(&folder)
        .map_err(|error| format!("cannot list {}: {error}", folder.display()))?;
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            eprintln!("skipped {}: its name is not UTF-8", entry.path().display());
            continue;
        };
        if entry.file_type()?.is_file() {
            let mut destination = base_url.clone();
            destination
                .path_segments_mut()
                .map_err(|()| "BASE_URL cannot have a path")?
                .pop_if_empty()
                .push(&name);
            uploads.push(Upload::put(entry.path(), destination.as_str()));
        }
    }

    let queue = TransferQueue::open(QueueConfig::new(database)).await?;
    // One transaction for the whole folder; each file gets its own answer.
    let mut ids = Vec::new();
    for (upload, result) in uploads
        .iter()
        .zip(queue.enqueue_many(uploads.clone()).await?)
    {
        match result {
            Ok(id) => ids.push(id),
            Err(refused) => eprintln!("refused {}: {refused}", upload.source.display()),
        }
    }

    // Resolves once nothing is queued or running (while offline it would keep waiting).
    queue.wait_idle().await?;
    let (mut uploaded, mut failed) = (0, 0);
    for id in &ids {
        let transfer = queue.get(id).await?;
        match transfer.state {
            TransferState::Succeeded => uploaded += 1,
            _ => {
                failed += 1;
                let reason = transfer.last_error.map(|error| error.to_string());
                println!(
                    "{}: {} ({})",
                    transfer.upload.source.display(),
                    transfer.state.kind().as_str(),
                    reason.as_deref().unwrap_or("no error recorded"),
                );
            }
        }
    }
    queue.shutdown().await?;
    println!("{uploaded} uploaded, {failed} not uploaded");
    if failed > 0 {
        return Err(format!("{failed} files were not uploaded").into());
    }
    Ok(())
}
