//! Per-destination auth breakers: a thousand transfers must not each try a dead token.
//!
//! Each transfer that ends waiting for credentials (`AuthRequired`, after one refresh and
//! one retry) counts against its destination host. After `breaker_threshold` in a row
//! with no success in between, the breaker opens: transfers to that host are moved to
//! `AuthRequired` when they would start, without sending anything. A success from the host
//! or the app resuming a transfer for it (it signed the user in) closes the breaker.
//! In memory only; must never touch the store.

use std::collections::HashMap;

#[derive(Debug)]
pub(crate) struct AuthBreakers {
    threshold: u32,
    refusals: HashMap<String, u32>,
}

impl AuthBreakers {
    pub(crate) fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            refusals: HashMap::new(),
        }
    }

    /// Whether transfers to `host` must not try their credentials now.
    pub(crate) fn is_open(&self, host: &str) -> bool {
        self.refusals
            .get(host)
            .is_some_and(|count| *count >= self.threshold)
    }

    /// A transfer to `host` ended waiting for credentials.
    pub(crate) fn record_refused(&mut self, host: &str) {
        let count = self.refusals.entry(host.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        if *count == self.threshold {
            log::warn!(
                "credentials for {host} were refused {count} times in a row; transfers to it \
                 now wait for the app to sign in and resume"
            );
        }
    }

    /// The host accepted credentials, or the app resumed a transfer for it.
    pub(crate) fn close(&mut self, host: &str) {
        self.refusals.remove(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_closes_on_success_or_resume() {
        let mut breakers = AuthBreakers::new(3);
        breakers.record_refused("h");
        breakers.record_refused("h");
        assert!(!breakers.is_open("h"));
        breakers.record_refused("h");
        assert!(breakers.is_open("h"));
        assert!(!breakers.is_open("other"));
        breakers.close("h");
        assert!(!breakers.is_open("h"));
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let mut breakers = AuthBreakers::new(0);
        assert!(!breakers.is_open("h"));
        breakers.record_refused("h");
        assert!(breakers.is_open("h"));
    }
}
