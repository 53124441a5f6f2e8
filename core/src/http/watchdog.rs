//! The stall watchdog every in-process attempt runs under: a future is abandoned once no
//! byte moved for `stall_timeout`. It sleeps until `last activity + stall_timeout` and
//! wakes again whenever bytes moved in between, so a stall is abandoned exactly
//! `stall_timeout` after the last byte, with no polling.
//!
//! Must never read a clock but tokio's, nor decide what a stall means (the caller does).

use std::time::Duration;

use tokio::time::Instant;

/// Runs `send` until it finishes (`Some`) or `last_activity()` is `stall_timeout` in the
/// past (`None`), unless `answered()` says the outcome is decided: then `send` runs to its
/// end, which must be bounded by then.
pub(super) async fn with_stall_watchdog<T>(
    send: impl Future<Output = T>,
    stall_timeout: Duration,
    last_activity: impl Fn() -> Instant,
    answered: impl Fn() -> bool,
) -> Option<T> {
    tokio::pin!(send);
    loop {
        let deadline = last_activity() + stall_timeout;
        tokio::select! {
            outcome = &mut send => return Some(outcome),
            () = tokio::time::sleep_until(deadline) => {
                if answered() {
                    return Some(send.await);
                }
                if last_activity() + stall_timeout <= Instant::now() {
                    return None;
                }
            }
        }
    }
}
