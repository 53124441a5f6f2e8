//! Why a push stopped waiting before its work was done, and what the work waits for.
//!
//! What it is for: one record of a give-up that the exit message (stderr), the summary
//! (text and `--json`) and the exit status all tell from: nothing moved for `--patience`,
//! or no try was due before the patience would run out.
//! What it must never do: decide when to give up (`patience.rs`, `pump.rs` do), or need
//! more than serde: `fuzz/fuzz_targets/destination_join.rs` compiles it (through
//! `error.rs`).

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GaveUp {
    /// How long nothing had moved.
    pub idle_secs: u64,
    /// Set when the push gave up before its patience ran out, because the earliest next
    /// try (a server's `Retry-After`) was this far away, beyond the patience.
    pub next_try_in_secs: Option<u64>,
    /// What else the work waits for, one sentence each (a `--bearer-command` that has not
    /// answered).
    pub waiting_for: Vec<String>,
    /// One line per host with work: what it waits for (breaker, last error, next try).
    pub hosts: Vec<String>,
}

impl GaveUp {
    /// Why the push gave up, as the rest of a sentence that starts "gave up: ".
    pub fn why(&self) -> String {
        match self.next_try_in_secs {
            Some(next) => format!(
                "the earliest next try is in {next}s, after --patience runs out (nothing \
                 moved for {}s)",
                self.idle_secs
            ),
            None => format!("nothing moved for {}s (--patience)", self.idle_secs),
        }
    }

    /// What the work waits for, one line each: the other causes, then each host.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.waiting_for
            .iter()
            .chain(&self.hosts)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_give_up_says_why_it_did_not_wait_out_the_patience() {
        let patience = GaveUp {
            idle_secs: 300,
            ..GaveUp::default()
        };
        assert_eq!(patience.why(), "nothing moved for 300s (--patience)");
        let early = GaveUp {
            idle_secs: 7,
            next_try_in_secs: Some(900),
            waiting_for: vec!["the command".into()],
            hosts: vec!["h:1".into()],
        };
        assert_eq!(
            early.why(),
            "the earliest next try is in 900s, after --patience runs out (nothing moved for 7s)"
        );
        assert_eq!(early.lines().collect::<Vec<_>>(), ["the command", "h:1"]);
    }
}
