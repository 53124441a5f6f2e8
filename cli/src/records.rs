//! Reading every transfer the queue holds, a page at a time.
//!
//! What it is for: `status` and the end of a push need every record (or every record in
//! one state); the engine hands them out in pages. This keeps the paging loop in one place.
//!
//! What it must never do: change a record, or page a queue whose records are still
//! changing state (offsets would shift): callers use it on an idle or non-scheduling queue.

use ferry::{StateKind, Transfer, TransferQueue};

/// Records per `list` call.
const PAGE: u64 = 500;

/// Calls `visit` with every record in `state` (or every record), in enqueue order.
pub async fn each(
    queue: &TransferQueue,
    state: Option<StateKind>,
    mut visit: impl FnMut(Transfer),
) -> Result<(), ferry::Error> {
    let mut offset = 0;
    loop {
        let page = queue.list(state, offset, PAGE).await?;
        let count = page.len() as u64;
        page.into_iter().for_each(&mut visit);
        if count < PAGE {
            return Ok(());
        }
        offset += count;
    }
}
