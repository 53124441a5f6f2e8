//! A modelled network uplink: one link of fixed rate shared by every request, on tokio time.
//!
//! What it is for: making bandwidth a property of virtual time, so that the in-process lane
//! (paced where the server reads) and the simulated OS tasks (paced where they send, see
//! [`PACED_HEADER`]) share one link whose transfer times follow tokio's (paused) clock.
//! Real loopback I/O is immediate; only this link takes time.
//!
//! The link serves byte reservations first come, first served: a reservation of `n` bytes
//! ends `n / rate` seconds after the previous one ends (or now, if the link is idle). With
//! small chunks from many requests this shares the link evenly.
//!
//! What it must never do: sleep with anything but tokio's clock, or hold its lock across an
//! await.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A request carrying this header (any value) was already paced by its sender on the same
/// [`Uplink`]; the server does not pace it again.
pub const PACED_HEADER: &str = "ferry-testkit-paced";

/// One shared link of `bytes_per_sec`.
#[derive(Debug)]
pub struct Uplink {
    bytes_per_sec: u64,
    /// When the last reservation ends.
    busy_until: Mutex<Option<Instant>>,
}

impl Uplink {
    /// A link moving `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec.max(1),
            busy_until: Mutex::new(None),
        }
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Waits until `bytes` have crossed the link, after everything reserved before.
    pub async fn carry(&self, bytes: u64) {
        let done = self.reserve(bytes);
        tokio::time::sleep_until(done).await;
    }

    /// Books `bytes` on the link and returns when they will have crossed it.
    fn reserve(&self, bytes: u64) -> Instant {
        let now = Instant::now();
        let mut busy = self
            .busy_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let start = busy.filter(|until| *until > now).unwrap_or(now);
        let done = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        *busy = Some(done);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reservations_queue_behind_each_other_at_the_link_rate() {
        let link = std::sync::Arc::new(Uplink::new(1000));
        let start = Instant::now();
        let a = tokio::spawn({
            let link = link.clone();
            async move { link.carry(500).await }
        });
        let b = tokio::spawn({
            let link = link.clone();
            async move { link.carry(1500).await }
        });
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(
            start.elapsed().as_millis(),
            2000,
            "2,000 bytes at 1,000 B/s"
        );
        // An idle link starts at once.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let later = Instant::now();
        link.carry(100).await;
        assert_eq!(later.elapsed().as_millis(), 100);
    }
}
