//! The OS-bounded ideal of a scenario: the earliest time at which the modelled link could
//! have carried every byte of the file set if it ran at full rate in every second in which
//! the OS model lets *some* strategy send, and in no other second.
//!
//! Open time (`open_spans`), from the scenario's script and the simulators' parameters:
//! - the app in the foreground: open (the app's own HTTP client has no OS rule);
//! - after a force-quit and until the user opens the app again: closed (rule 8: every
//!   task is cancelled, nothing relaunches the app);
//! - iOS in the background: open (foreground-created tasks are exempt from the resume
//!   rate limiter and from discretionary scheduling, rules 1-2; the start latency of rule
//!   3 can be 0, and the in-process lane needs none);
//! - Android in the background: the app's own `background_runtime` after it leaves the
//!   foreground, plus the time in which a job of the scenario's kind (`android.job_kind`,
//!   what the app may schedule) may run with network: charging or a user-initiated job
//!   → always; a worker → within the standby bucket's `bucket_runtime` per period (none
//!   in `rare`/`restricted`), outside Doze or in its maintenance windows (rule 12);
//!   expedited → the worker's time plus `expedited_quota` + `expedited_min_runtime` per
//!   day (rule 13); a foreground service → `fgs_limit` per day (rule 14). Each such span
//!   is lengthened by `relaunch_after` + `background_runtime`, the most an app woken by a
//!   job's callback could run afterwards.
//!
//! Every rule that only costs time is left out (start latency, task creation cost, resume
//! delays, the worker's 10-minute budget and backoff, the job cap, stalls, bytes lost to a
//! cut), and quota is spent in the earliest open seconds of each period, so the figure is
//! a lower bound on any strategy's completion time under the model: no strategy can beat
//! it. Beyond `HORIZON_DAYS` everything counts as open, which only lowers the bound.
//!
//! What it must never do: run anything or read a clock; it is arithmetic on parameters.

use std::time::Duration;

use super::params::ScenarioParams;

/// `[start, end)` in virtual seconds from the start of the run; `end` may be infinite.
pub type Span = (f64, f64);

const DAY: f64 = 86_400.0;
/// How far periodic rules (bucket periods, Doze windows, daily quotas) are unrolled.
pub const HORIZON_DAYS: f64 = 60.0;

/// `d` in seconds; `Duration::MAX` (the knobs' `inf`) is infinite.
fn secs(d: Duration) -> f64 {
    if d == Duration::MAX {
        f64::INFINITY
    } else {
        d.as_secs_f64()
    }
}

/// Sorted, non-empty, non-overlapping spans covering the same seconds.
pub fn normalise(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|(start, end)| end > start);
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The seconds in both `a` and `b`.
pub fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let (start, end) = (a0.max(b0), a1.min(b1));
            if end > start {
                out.push((start, end));
            }
        }
    }
    normalise(out)
}

/// The seconds of `spans` within `[from, to)`.
pub fn measure(spans: &[Span], from: f64, to: f64) -> f64 {
    spans
        .iter()
        .map(|&(start, end)| (end.min(to) - start.max(from)).max(0.0))
        .sum()
}

/// Within each period `[k·period, (k+1)·period)` up to `horizon`, the first `budget`
/// seconds of `spans`: a quota spent as early as it can be.
pub fn first_per_period(spans: &[Span], period: f64, budget: f64, horizon: f64) -> Vec<Span> {
    let mut out = Vec::new();
    if !period.is_finite() || period <= 0.0 {
        // One period for ever: the first `budget` seconds of all.
        let mut left = budget;
        for &(start, end) in spans {
            if left <= 0.0 {
                break;
            }
            let take = (end - start).min(left);
            out.push((start, start + take));
            left -= take;
        }
        return normalise(out);
    }
    let mut k = 0.0;
    while k * period < horizon {
        let (p0, p1) = (k * period, (k + 1.0) * period);
        let mut left = budget;
        for &(start, end) in &intersect(spans, &[(p0, p1)]) {
            if left <= 0.0 {
                break;
            }
            let take = (end - start).min(left);
            out.push((start, start + take));
            left -= take;
        }
        k += 1.0;
    }
    // Beyond the horizon: everything, which only lowers the bound.
    out.extend(intersect(spans, &[(horizon, f64::INFINITY)]));
    normalise(out)
}

/// When `bytes` have crossed a link of `rate` bytes per second that runs only in `open`;
/// infinite if they never can.
pub fn finish_secs(open: &[Span], bytes: f64, rate: f64) -> f64 {
    if bytes <= 0.0 {
        return 0.0;
    }
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    let mut need = bytes / rate;
    for &(start, end) in open {
        let len = end - start;
        if len >= need {
            return start + need;
        }
        need -= len;
    }
    f64::INFINITY
}

/// When the app is in the foreground, in the background (running or not, its OS work
/// alive) and force-quit, as the scenario's script plays it.
struct Phases {
    foreground: Vec<Span>,
    background: Vec<Span>,
    background_at: f64,
}

fn phases(params: &ScenarioParams) -> Phases {
    let background_at = secs(params.background_at);
    let force_quit = secs(params.force_quit_at);
    // The runner opens the app again only after the force-quit happened.
    let reopen = if force_quit.is_finite() {
        secs(params.reopen_at).max(force_quit)
    } else {
        secs(params.reopen_at)
    };
    let foreground = normalise(vec![
        (0.0, background_at.min(force_quit)),
        (reopen, f64::INFINITY),
    ]);
    let background = normalise(vec![(background_at, force_quit.min(reopen))]);
    Phases {
        foreground,
        background,
        background_at,
    }
}

/// The seconds in which the model lets some strategy send (see the module's doc).
pub fn open_spans(scenario: &str, params: &ScenarioParams) -> Vec<Span> {
    let phases = phases(params);
    let mut open = phases.foreground.clone();
    if scenario.starts_with("android") {
        open.extend(android_background(params, &phases));
    } else {
        open.extend(phases.background.iter().copied());
    }
    normalise(open)
}

fn android_background(params: &ScenarioParams, phases: &Phases) -> Vec<Span> {
    let p = &params.android;
    let background = &phases.background;
    let horizon = secs(params.max_duration).clamp(DAY, HORIZON_DAYS * DAY);
    let alive = secs(p.relaunch_after) + secs(p.background_runtime);
    let jobs = if params.charging || p.job_kind == "user_initiated" {
        background.clone()
    } else {
        let worker = worker_spans(params, phases, horizon);
        match p.job_kind {
            "expedited" => {
                let budget = secs(p.expedited_quota) + secs(p.expedited_min_runtime);
                let mut spans = worker;
                spans.extend(first_per_period(background, DAY, budget, horizon));
                normalise(spans)
            }
            "foreground_service" => first_per_period(background, DAY, secs(p.fgs_limit), horizon),
            _ => worker,
        }
    };
    let mut spans: Vec<Span> = jobs
        .iter()
        .map(|&(start, end)| (start, end + alive))
        .collect();
    spans.push((
        phases.background_at,
        phases.background_at + secs(p.background_runtime),
    ));
    intersect(&normalise(spans), background)
}

/// The ideal's course: `(secs, fraction of the bytes across)` at each change of slope,
/// from `(0, 0)` to `(finish_secs, 1)` (or to the end of the last finite span).
pub fn progress_points(open: &[Span], bytes: f64, rate: f64) -> Vec<(f64, f64)> {
    let mut points = vec![(0.0, 0.0)];
    if bytes <= 0.0 || rate <= 0.0 {
        return points;
    }
    let mut done = 0.0;
    for &(start, end) in open {
        points.push((start, done / bytes));
        let left = bytes - done;
        let len = end - start;
        if len * rate >= left {
            points.push((start + left / rate, 1.0));
            return points;
        }
        done += len * rate;
        points.push((end, done / bytes));
    }
    points
}

/// When a normal worker may run with network in the background (rule 12).
fn worker_spans(params: &ScenarioParams, phases: &Phases, horizon: f64) -> Vec<Span> {
    let p = &params.android;
    let background = &phases.background;
    let (period, network) = p.bucket_rules();
    if !network {
        return Vec::new();
    }
    let undozed = if p.doze {
        let dozes_at = phases.background_at + secs(p.doze_after);
        let every = secs(p.doze_window_every).max(1.0);
        let len = secs(p.doze_window_len);
        let mut spans = vec![(phases.background_at, dozes_at)];
        let mut k = 1.0;
        while dozes_at + k * every < horizon {
            let start = dozes_at + k * every;
            spans.push((start, start + len));
            k += 1.0;
        }
        spans.push((horizon.max(dozes_at), f64::INFINITY));
        intersect(&normalise(spans), background)
    } else {
        background.clone()
    };
    match period {
        None => undozed,
        Some(period) => first_per_period(&undozed, secs(period), secs(p.bucket_runtime), horizon),
    }
}

/// The scenario's OS-bounded ideal in virtual seconds (infinite if the model never lets
/// every byte through).
/// `params` with the most permissive Android job kind of the model: a user-initiated job
/// (rule 14), which has network through Doze and every standby bucket. An ideal computed
/// with it bounds any strategy, including one that chooses its job kind.
pub fn any_job_kind(params: &ScenarioParams) -> ScenarioParams {
    let mut any = params.clone();
    any.android.job_kind = "user_initiated";
    any
}

pub fn ideal_secs(scenario: &str, params: &ScenarioParams) -> f64 {
    finish_secs(
        &open_spans(scenario, params),
        params.total_bytes() as f64,
        params.link_bytes_per_sec as f64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn tiny(scenario: &str) -> ScenarioParams {
        // 100 MiB at 1 MiB/s: 100 s of link time.
        ScenarioParams {
            small_count: 100,
            small_bytes: MIB,
            large_count: 0,
            link_bytes_per_sec: MIB,
            ..ScenarioParams::for_scenario(scenario)
        }
    }

    #[test]
    fn spans_merge_intersect_and_measure() {
        let a = normalise(vec![(5.0, 10.0), (0.0, 2.0), (1.0, 3.0), (4.0, 4.0)]);
        assert_eq!(a, vec![(0.0, 3.0), (5.0, 10.0)]);
        assert_eq!(intersect(&a, &[(2.0, 6.0)]), vec![(2.0, 3.0), (5.0, 6.0)]);
        assert_eq!(measure(&a, 1.0, 7.0), 4.0);
    }

    #[test]
    fn the_link_fills_open_spans_in_order() {
        let open = [(0.0, 10.0), (20.0, 30.0), (50.0, f64::INFINITY)];
        assert_eq!(finish_secs(&open, 50.0, 10.0), 5.0);
        assert_eq!(finish_secs(&open, 150.0, 10.0), 25.0, "10 s, then 5 s more");
        assert_eq!(finish_secs(&open, 300.0, 10.0), 60.0);
        assert_eq!(finish_secs(&[(0.0, 1.0)], 300.0, 10.0), f64::INFINITY);
        assert_eq!(
            progress_points(&open, 150.0, 10.0),
            vec![
                (0.0, 0.0),
                (0.0, 0.0),
                (10.0, 100.0 / 150.0),
                (20.0, 100.0 / 150.0),
                (25.0, 1.0)
            ]
        );
    }

    #[test]
    fn a_quota_is_spent_in_the_first_open_seconds_of_each_period() {
        let open = [(0.0, 5.0), (8.0, 30.0)];
        // Periods of 10 s, 6 s each: 0-5 and 8-9; 10-16; 20-26; everything from 30 on.
        let got = first_per_period(&open, 10.0, 6.0, 30.0);
        assert_eq!(
            got,
            vec![(0.0, 5.0), (8.0, 9.0), (10.0, 16.0), (20.0, 26.0)]
        );
    }

    #[test]
    fn in_the_foreground_only_the_link_counts() {
        let params = tiny("seed");
        assert_eq!(ideal_secs("seed", &params), 100.0);
    }

    #[test]
    fn ios_loses_only_the_time_between_a_force_quit_and_the_reopen() {
        let mut params = tiny("photo-backup");
        params.force_quit_at = Duration::from_secs(40);
        params.reopen_at = Duration::from_secs(100);
        // 40 s before the force-quit, 60 s after the reopen.
        assert_eq!(ideal_secs("photo-backup", &params), 160.0);
        params.force_quit_at = Duration::from_secs(1000);
        assert_eq!(ideal_secs("photo-backup", &params), 100.0, "done before it");
    }

    fn doze_params() -> ScenarioParams {
        let mut params = tiny("android-doze");
        params.background_at = Duration::from_secs(10);
        params.force_quit_at = Duration::MAX;
        params.reopen_at = Duration::MAX;
        params.android.background_runtime = Duration::from_secs(5);
        params.android.relaunch_after = Duration::from_secs(1);
        params.android.bucket = "active";
        params.android.doze_after = Duration::from_secs(20);
        params.android.doze_window_every = Duration::from_secs(100);
        params.android.doze_window_len = Duration::from_secs(10);
        params
    }

    #[test]
    fn the_any_kind_ideal_is_the_user_initiated_one_and_never_above_the_apps_own() {
        let workers = doze_params();
        let any = any_job_kind(&workers);
        // A user-initiated job has network through Doze: 10 s foreground + 90 s in the
        // background: `tiny` needs 100 s of link time, done at 100 s (446 s for workers).
        assert_eq!(ideal_secs("android-doze", &any), 100.0);
        assert!(ideal_secs("android-doze", &any) <= ideal_secs("android-doze", &workers));
        let ios = tiny("photo-backup");
        assert_eq!(
            ideal_secs("photo-backup", &any_job_kind(&ios)),
            ideal_secs("photo-backup", &ios),
            "iOS has no job kinds"
        );
    }

    #[test]
    fn android_workers_send_until_doze_and_then_in_its_maintenance_windows() {
        // Foreground 0-10, background 10-30 before Doze, +6 s the app may live after a
        // callback: 0-36. Then windows of 10 s every 100 s from 130, each +6 s: 130-146,
        // 230-246, 330-346, 430-446: 36 + 4 × 16 = 100 s at 446.
        let params = doze_params();
        let open = open_spans("android-doze", &params);
        assert_eq!(&open[..3], &[(0.0, 36.0), (130.0, 146.0), (230.0, 246.0)]);
        assert_eq!(ideal_secs("android-doze", &params), 446.0);
    }

    #[test]
    fn the_standby_bucket_caps_worker_time_per_period_and_rare_has_no_network() {
        let mut params = doze_params();
        params.android.doze = false;
        params.android.bucket = "working_set";
        params.android.working_set_period = Duration::from_secs(100);
        params.android.bucket_runtime = Duration::from_secs(30);
        // Foreground 0-10; bucket periods 0-100, 100-200, ...: 10-40 (+6 → 46), 100-130
        // (+6 → 136), 200-230 (+6): 10 + 36 + 36 = 82, then 18 more from 200 → 218.
        assert_eq!(ideal_secs("android-doze", &params), 218.0);
        params.android.bucket = "rare";
        // Only the foreground and the app's 5 s after leaving it: never done.
        assert_eq!(
            open_spans("android-doze", &params),
            vec![(0.0, 15.0)],
            "no network for jobs in the rare bucket"
        );
        assert_eq!(ideal_secs("android-doze", &params), f64::INFINITY);
        params.charging = true;
        assert_eq!(
            ideal_secs("android-doze", &params),
            100.0,
            "charging lifts it"
        );
    }

    #[test]
    fn a_user_initiated_job_is_exempt_and_a_force_stop_closes_everything_until_the_reopen() {
        let mut params = doze_params();
        params.android.bucket = "rare";
        params.android.job_kind = "user_initiated";
        params.force_quit_at = Duration::from_secs(50);
        params.reopen_at = Duration::from_secs(200);
        assert_eq!(
            open_spans("android-doze", &params),
            vec![(0.0, 50.0), (200.0, f64::INFINITY)]
        );
        assert_eq!(ideal_secs("android-doze", &params), 250.0);
    }
}
