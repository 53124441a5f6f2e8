//! The parameters of the simulated Android job scheduling (WorkManager / JobScheduler):
//! one per rule 11-16 of `shared/design/os-model.md`, with its documented default.
//!
//! What it must never do: hold behaviour; `android.rs` reads these.

use std::time::Duration;

use super::knobs::{Knob, Knobs};

/// How the app schedules its uploads.
pub const JOB_KINDS: &[&str] = &[
    "worker",
    "expedited",
    "foreground_service",
    "user_initiated",
];

/// App standby buckets (rule 12).
pub const BUCKETS: &[&str] = &["active", "working_set", "frequent", "rare", "restricted"];

/// Android background-work rules. Byte values are unscaled; the scenario scales them.
#[derive(Clone, Debug, PartialEq)]
pub struct AndroidParams {
    /// What the app schedules: worker, expedited, foreground_service or user_initiated.
    pub job_kind: &'static str,
    /// Rule 11: a worker is stopped after this long.
    pub worker_budget: Duration,
    /// Rule 11: exponential backoff of a stopped or retried worker, and its clamp.
    pub backoff_initial: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Rule 12: the app's standby bucket.
    pub bucket: &'static str,
    /// Rule 12: job runtime allowed per bucket period (10 min in every bucket).
    pub bucket_runtime: Duration,
    /// Rule 12: bucket periods: working set 2 h, frequent 8 h, rare 24 h, restricted 24 h.
    pub working_set_period: Duration,
    pub frequent_period: Duration,
    pub rare_period: Duration,
    pub restricted_period: Duration,
    /// Rule 12: Doze on at all (the device idle, unplugged, screen off).
    pub doze: bool,
    /// Rule 12: background time before the device dozes [G].
    pub doze_after: Duration,
    /// Rule 12: Doze maintenance windows: every so long, lasting so long [G].
    pub doze_window_every: Duration,
    pub doze_window_len: Duration,
    /// Rule 13: expedited runtime quota per 24 h [G].
    pub expedited_quota: Duration,
    /// Rule 13: an expedited job runs at least this long, quota or not.
    pub expedited_min_runtime: Duration,
    /// Rule 13: out of quota, drop the work instead of running it as normal work.
    pub expedited_drop_out_of_quota: bool,
    /// Rule 14: foreground-service (dataSync) runtime per 24 h (Android 15+).
    pub fgs_limit: Duration,
    /// Rule 16: scheduled jobs per app.
    pub job_cap: u64,
    /// Jobs running at once (WorkManager's default executor) [G].
    pub max_running: u64,
    /// No bytes for this long fails the attempt (the worker's HTTP client) [G].
    pub idle_timeout: Duration,
    /// Completions pending this long with the app not running start its process [G].
    pub relaunch_after: Duration,
    /// How long the app process lives in the background after its last job or a start [G].
    pub background_runtime: Duration,
    /// The size of the chunks a job sends (unscaled bytes).
    pub chunk_bytes: u64,
}

impl Default for AndroidParams {
    fn default() -> Self {
        Self {
            job_kind: "worker",
            worker_budget: Duration::from_secs(600),
            backoff_initial: Duration::from_secs(30),
            backoff_min: Duration::from_secs(10),
            backoff_max: Duration::from_secs(5 * 3600),
            bucket: "working_set",
            bucket_runtime: Duration::from_secs(600),
            working_set_period: Duration::from_secs(2 * 3600),
            frequent_period: Duration::from_secs(8 * 3600),
            rare_period: Duration::from_secs(24 * 3600),
            restricted_period: Duration::from_secs(24 * 3600),
            doze: true,
            doze_after: Duration::from_secs(30 * 60),
            doze_window_every: Duration::from_secs(3600),
            doze_window_len: Duration::from_secs(10 * 60),
            expedited_quota: Duration::from_secs(10 * 60),
            expedited_min_runtime: Duration::from_secs(180),
            expedited_drop_out_of_quota: false,
            fgs_limit: Duration::from_secs(6 * 3600),
            job_cap: 100,
            max_running: 4,
            idle_timeout: Duration::from_secs(60),
            relaunch_after: Duration::from_secs(1),
            background_runtime: Duration::from_secs(30),
            chunk_bytes: 1024 * 1024,
        }
    }
}

impl Knobs for AndroidParams {
    fn knobs(&mut self) -> Vec<Knob<'_>> {
        vec![
            Knob::choice("android.job_kind", &mut self.job_kind, JOB_KINDS),
            Knob::secs("android.worker_budget", &mut self.worker_budget),
            Knob::secs("android.backoff_initial", &mut self.backoff_initial),
            Knob::secs("android.backoff_min", &mut self.backoff_min),
            Knob::secs("android.backoff_max", &mut self.backoff_max),
            Knob::choice("android.bucket", &mut self.bucket, BUCKETS),
            Knob::secs("android.bucket_runtime", &mut self.bucket_runtime),
            Knob::secs("android.working_set_period", &mut self.working_set_period),
            Knob::secs("android.frequent_period", &mut self.frequent_period),
            Knob::secs("android.rare_period", &mut self.rare_period),
            Knob::secs("android.restricted_period", &mut self.restricted_period),
            Knob::flag("android.doze", &mut self.doze),
            Knob::secs("android.doze_after", &mut self.doze_after),
            Knob::secs("android.doze_window_every", &mut self.doze_window_every),
            Knob::secs("android.doze_window_len", &mut self.doze_window_len),
            Knob::secs("android.expedited_quota", &mut self.expedited_quota),
            Knob::secs(
                "android.expedited_min_runtime",
                &mut self.expedited_min_runtime,
            ),
            Knob::flag(
                "android.expedited_drop_out_of_quota",
                &mut self.expedited_drop_out_of_quota,
            ),
            Knob::secs("android.fgs_limit", &mut self.fgs_limit),
            Knob::count("android.job_cap", &mut self.job_cap),
            Knob::count("android.max_running", &mut self.max_running),
            Knob::secs("android.idle_timeout", &mut self.idle_timeout),
            Knob::secs("android.relaunch_after", &mut self.relaunch_after),
            Knob::secs("android.background_runtime", &mut self.background_runtime),
            Knob::count("android.chunk_bytes", &mut self.chunk_bytes),
        ]
    }
}

impl AndroidParams {
    /// The bucket's period, and whether jobs in it may use the network (rule 12).
    pub fn bucket_rules(&self) -> (Option<Duration>, bool) {
        match self.bucket {
            "working_set" => (Some(self.working_set_period), true),
            "frequent" => (Some(self.frequent_period), true),
            "rare" => (Some(self.rare_period), false),
            "restricted" => (Some(self.restricted_period), false),
            _ => (None, true), // active: no limits
        }
    }
}
