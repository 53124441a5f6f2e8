//! The parameters of the simulated iOS background-session daemon: one per rule of
//! `shared/design/os-model.md` (rules 1-10), with its documented default.
//!
//! Rule 10 (resumable uploads) needs a server that answers `104 Upload Resumption
//! Supported`; the testkit server does not, so the daemon's own retries (rule 7) always
//! restart from byte 0, which is rule 10's branch for such servers. It has no knob.
//!
//! What it must never do: hold behaviour; `ios.rs` reads these.

use std::time::Duration;

use super::knobs::{Knob, Knobs};

/// iOS `URLSession` background-session rules. Byte values are unscaled; the scenario
/// scales them.
#[derive(Clone, Debug, PartialEq)]
pub struct IosParams {
    /// Rule 1: first resume delay (d0).
    pub d0: Duration,
    /// Rule 1: cap of the doubling delay (`inf`: unbounded).
    pub d_max: Duration,
    /// Rule 2: whether foreground-created tasks are discretionary (`config.isDiscretionary`).
    pub foreground_discretionary: bool,
    /// Rule 2: discretionary tasks wait for the device to charge.
    pub discretionary_needs_charging: bool,
    /// Rule 2: discretionary tasks wait for Wi-Fi.
    pub discretionary_needs_wifi: bool,
    /// Rule 3: random start latency, uniform in 0..lat_max, even in the foreground.
    pub lat_max: Duration,
    /// Rule 4: per-host connection limit on HTTP/1.1 (ignored on HTTP/2).
    pub max_conn_per_host: u64,
    /// Rule 4: the optional fault, `CannotParseResponse` bursts on HTTP/2.
    pub h2_parse_fault: bool,
    /// Rule 4: ... when more than this many tasks are in flight on HTTP/2.
    pub h2_parse_fault_above: u64,
    /// Rule 5: app time spent creating one task.
    pub create_cost: Duration,
    /// Rule 5: outstanding tasks at which the session stalls.
    pub n_stall: u64,
    /// Rule 5: progress time before the stall begins.
    pub stall_after: Duration,
    /// Rule 5: how long the stall lasts.
    pub t_stall: Duration,
    /// Rule 5: outstanding tasks above which new tasks fail in bulk.
    pub n_meltdown: u64,
    /// Rule 7: no bytes for this long and the daemon retries the task itself.
    pub idle_timeout: Duration,
    /// Rule 7: a task still unfinished this long after creation fails.
    pub resource_timeout: Duration,
    /// Rule 8: chance that a task vanishes without an event at a force-quit.
    pub p_vanish: f64,
    /// Rule 8: completions pending this long with the app not running relaunch it [G].
    pub relaunch_after: Duration,
    /// Rule 8: how long the app runs in the background (after going there or a relaunch)
    /// before it is suspended [G].
    pub background_runtime: Duration,
    /// Download tasks: how many times the daemon resumes a task cut short itself, from its
    /// resume data, before the task fails [G].
    pub download_resumes: u64,
    /// Download tasks: the chance that a resume fails (the data is rejected, as iOS 10's
    /// -3003 or data for a server without ranges): the task starts over from its own first
    /// byte, losing what it held (downloads.md pain 1) [G].
    pub p_resume_fails: f64,
    /// Download tasks: resume data older than this has expired and the task starts over
    /// (downloads.md pain 2: a presigned URL or a temporary file gone) [G].
    pub resume_data_ttl: Duration,
    /// The size of the chunks a task sends (unscaled bytes).
    pub chunk_bytes: u64,
    /// Seed for start latencies and vanishing.
    pub seed: u64,
}

impl Default for IosParams {
    fn default() -> Self {
        Self {
            d0: Duration::from_secs(60),
            d_max: Duration::MAX,
            foreground_discretionary: false,
            discretionary_needs_charging: true,
            discretionary_needs_wifi: true,
            lat_max: Duration::from_secs(30),
            max_conn_per_host: 6,
            h2_parse_fault: false,
            h2_parse_fault_above: 8,
            create_cost: Duration::from_millis(9),
            n_stall: 500,
            stall_after: Duration::from_secs(30),
            t_stall: Duration::from_secs(300),
            n_meltdown: 2000,
            idle_timeout: Duration::from_secs(60),
            resource_timeout: Duration::from_secs(7 * 24 * 3600),
            p_vanish: 0.05,
            relaunch_after: Duration::from_secs(1),
            background_runtime: Duration::from_secs(30),
            download_resumes: 3,
            p_resume_fails: 0.0,
            resume_data_ttl: Duration::from_secs(3600),
            chunk_bytes: 1024 * 1024,
            seed: 1,
        }
    }
}

impl Knobs for IosParams {
    fn knobs(&mut self) -> Vec<Knob<'_>> {
        vec![
            Knob::secs("ios.d0", &mut self.d0),
            Knob::secs("ios.d_max", &mut self.d_max),
            Knob::flag(
                "ios.foreground_discretionary",
                &mut self.foreground_discretionary,
            ),
            Knob::flag(
                "ios.discretionary_needs_charging",
                &mut self.discretionary_needs_charging,
            ),
            Knob::flag(
                "ios.discretionary_needs_wifi",
                &mut self.discretionary_needs_wifi,
            ),
            Knob::secs("ios.lat_max", &mut self.lat_max),
            Knob::count("ios.max_conn_per_host", &mut self.max_conn_per_host),
            Knob::flag("ios.h2_parse_fault", &mut self.h2_parse_fault),
            Knob::count("ios.h2_parse_fault_above", &mut self.h2_parse_fault_above),
            Knob::secs("ios.create_cost", &mut self.create_cost),
            Knob::count("ios.n_stall", &mut self.n_stall),
            Knob::secs("ios.stall_after", &mut self.stall_after),
            Knob::secs("ios.t_stall", &mut self.t_stall),
            Knob::count("ios.n_meltdown", &mut self.n_meltdown),
            Knob::secs("ios.idle_timeout", &mut self.idle_timeout),
            Knob::secs("ios.resource_timeout", &mut self.resource_timeout),
            Knob::fraction("ios.p_vanish", &mut self.p_vanish),
            Knob::secs("ios.relaunch_after", &mut self.relaunch_after),
            Knob::secs("ios.background_runtime", &mut self.background_runtime),
            Knob::count("ios.download_resumes", &mut self.download_resumes),
            Knob::fraction("ios.p_resume_fails", &mut self.p_resume_fails),
            Knob::secs("ios.resume_data_ttl", &mut self.resume_data_ttl),
            Knob::count("ios.chunk_bytes", &mut self.chunk_bytes),
            Knob::count("ios.seed", &mut self.seed),
        ]
    }
}
