//! Sends one file and prints every event of its transfer as it happens: what a progress
//! view listens to.
//!
//! ```text
//! cargo run -p ferry-transfers --example watch_progress -- FILE DESTINATION_URL
//! ```
//!
//! The file is sent with `PUT` to DESTINATION_URL through a throwaway queue in a temporary
//! directory. Exits with an error when the file was not uploaded.

use ferry::{QueueConfig, StateKind, TransferEvent, TransferQueue, Upload};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(file), Some(destination)) = (args.next(), args.next()) else {
        return Err("usage: watch_progress FILE DESTINATION_URL".into());
    };
    let destination = destination
        .into_string()
        .map_err(|_| "DESTINATION_URL is not UTF-8")?;

    let scratch = tempfile::tempdir()?;
    let queue = TransferQueue::open(QueueConfig::new(scratch.path().join("queue.db"))).await?;
    // Subscribe first: a subscription sees only the events sent after it was made.
    let mut events = queue.subscribe();
    let id = queue.enqueue(Upload::put(file, destination)).await?;

    let mut uploaded = false;
    // `next` returns `None` once the queue has shut down.
    while let Some(event) = events.next().await {
        match event {
            TransferEvent::Started { attempt, .. } => println!("attempt {attempt} started"),
            TransferEvent::Progress {
                bytes_sent,
                bytes_total,
                ..
            } => println!("{bytes_sent} of {bytes_total} bytes sent"),
            TransferEvent::Retrying { delay, error, .. } => {
                println!("{error}; trying again in {delay:?}");
            }
            TransferEvent::Succeeded { id: done, .. } if done == id => {
                uploaded = true;
                break;
            }
            TransferEvent::Failed { id: done, error }
            | TransferEvent::AuthRequired { id: done, error }
                if done == id =>
            {
                println!("not uploaded: {error}");
                break;
            }
            TransferEvent::Lagged { missed } => {
                // Events were dropped for this slow reader: read the state instead.
                println!("missed {missed} events");
                let state = queue.get(&id).await?.state.kind();
                if state.is_final() || state == StateKind::AuthRequired {
                    uploaded = state == StateKind::Succeeded;
                    break;
                }
            }
            _ => {}
        }
    }
    queue.shutdown().await?;
    println!("{}", if uploaded { "uploaded" } else { "not uploaded" });
    if !uploaded {
        return Err(format!("transfer {id} was not uploaded").into());
    }
    Ok(())
}
