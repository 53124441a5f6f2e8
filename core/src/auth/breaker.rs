//! Per-destination auth breakers: a thousand transfers must not each try a dead token.
//!
//! Each transfer that ends waiting for credentials (`AuthRequired`, after one refresh and
//! one retry) counts against its destination host. After `breaker_threshold` in a row
//! with no success in between, the breaker opens: for `breaker_cooldown`, transfers to
//! that host are moved to `AuthRequired` when they would start, without sending anything.
//! After the cooldown, transfers try again; one more refusal reopens it. A success from
//! the host, or the app resuming a transfer for it (it signed the user in), closes it.
//! In memory only; must never touch the store.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Refusals {
    in_a_row: u32,
    /// When the breaker last opened.
    opened_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct AuthBreakers {
    threshold: u32,
    cooldown: Duration,
    hosts: HashMap<String, Refusals>,
}

impl AuthBreakers {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            hosts: HashMap::new(),
        }
    }

    /// Whether transfers to `host` must not try their credentials now.
    pub(crate) fn is_open(&self, host: &str, now: Instant) -> bool {
        self.hosts.get(host).is_some_and(|refusals| {
            refusals.in_a_row >= self.threshold
                && refusals
                    .opened_at
                    .is_some_and(|opened| now < opened + self.cooldown)
        })
    }

    /// A transfer to `host` ended waiting for credentials.
    /// Whether credentials for `host` were refused since they last worked.
    pub(crate) fn refused_lately(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    pub(crate) fn record_refused(&mut self, host: &str, now: Instant) {
        let refusals = self.hosts.entry(host.to_owned()).or_insert(Refusals {
            in_a_row: 0,
            opened_at: None,
        });
        refusals.in_a_row = refusals.in_a_row.saturating_add(1);
        let was_open = refusals
            .opened_at
            .is_some_and(|opened| now < opened + self.cooldown);
        if refusals.in_a_row >= self.threshold && !was_open {
            refusals.opened_at = Some(now);
            log::warn!(
                "credentials for {host} were refused {} times in a row; transfers to it wait \
                 for the app to sign in and resume",
                refusals.in_a_row
            );
        }
    }

    /// The host accepted credentials, or the app resumed a transfer for it.
    pub(crate) fn close(&mut self, host: &str) {
        self.hosts.remove(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(60);

    #[test]
    fn opens_after_the_threshold_and_closes_on_success_or_resume() {
        let now = Instant::now();
        let mut breakers = AuthBreakers::new(3, COOLDOWN);
        breakers.record_refused("h", now);
        breakers.record_refused("h", now);
        assert!(!breakers.is_open("h", now));
        breakers.record_refused("h", now);
        assert!(breakers.is_open("h", now));
        assert!(!breakers.is_open("other", now));
        breakers.close("h");
        assert!(!breakers.is_open("h", now));
    }

    #[test]
    fn after_the_cooldown_transfers_try_again_and_one_refusal_reopens() {
        let now = Instant::now();
        let mut breakers = AuthBreakers::new(2, COOLDOWN);
        breakers.record_refused("h", now);
        breakers.record_refused("h", now);
        let later = now + COOLDOWN;
        assert!(!breakers.is_open("h", later), "the cooldown is over");
        breakers.record_refused("h", later);
        assert!(breakers.is_open("h", later), "one more refusal reopens it");
        assert!(!breakers.is_open("h", later + COOLDOWN));
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let now = Instant::now();
        let mut breakers = AuthBreakers::new(0, COOLDOWN);
        assert!(!breakers.is_open("h", now));
        breakers.record_refused("h", now);
        assert!(breakers.is_open("h", now));
    }
}
