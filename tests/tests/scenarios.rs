//! The scenario runner's must-shows: the seed stall reproduced by the naive strategy and
//! absent with Ferry, Ferry within its OS task window with nothing lost or duplicated in
//! every scenario, photo-backup's force-quit survived, Ferry's time within a stated factor
//! of the OS-bounded ideal (`scenario/ideal.rs`, tests/README.md), and the same under
//! harsher OS assumptions than the defaults, with the looser bounds stated where they are
//! asserted. Each run is virtual time on a paused clock.

use ferry_testkit::scenario::{Outcome, ScenarioParams, Strategy, run_blocking};
use ferry_testkit::sim::Overrides;

fn params(scenario: &str, sets: &[&str]) -> ScenarioParams {
    let mut params = ScenarioParams::for_scenario(scenario);
    let overrides = Overrides::parse(sets).expect("overrides");
    let mut used = Vec::new();
    overrides.apply(&mut params, &mut used).expect("applied");
    overrides.check_all_used(&used).expect("all known");
    params
}

fn run(scenario: &str, strategy: Strategy, params: &ScenarioParams) -> Outcome {
    let outcome = run_blocking(scenario, strategy, params).expect("scenario ran");
    println!("{}", outcome.line());
    outcome
}

/// What Ferry must show in every scenario.
fn assert_ferry_keeps_its_promises(outcome: &Outcome, params: &ScenarioParams) {
    assert_eq!(outcome.completed, outcome.total, "{}", outcome.line());
    assert_eq!(outcome.duplicates, 0, "{}", outcome.line());
    assert_eq!(outcome.lost, 0, "{}", outcome.line());
    assert!(
        outcome.max_os_outstanding <= params.ferry_max_platform_tasks,
        "{}",
        outcome.line()
    );
}

/// Ferry's time against the OS-bounded ideal, which no strategy can beat: within
/// `bound` times it, and never below it (a figure below would be a wrong ideal).
fn assert_near_the_ideal(outcome: &Outcome, bound: f64) {
    assert!(outcome.ideal_secs.is_finite(), "{}", outcome.line());
    assert!(
        outcome.virtual_secs >= outcome.ideal_secs - 1.0,
        "faster than the ideal, so the ideal is wrong: {}",
        outcome.line()
    );
    assert!(
        outcome.ratio() <= bound,
        "more than {bound} × the ideal: {}",
        outcome.line()
    );
}

fn seed_must_show(sets: &[&str], naive_stall_at_least: f64) {
    let params = params("seed", sets);
    let naive = run("seed", Strategy::Naive, &params);
    assert!(
        naive.longest_stall_secs >= naive_stall_at_least,
        "the naive strategy reproduces the stall: {}",
        naive.line()
    );
    assert_eq!(naive.max_os_outstanding, naive.total, "every file at once");

    let ferry = run("seed", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert!(ferry.longest_stall_secs <= 30.0, "{}", ferry.line());
    // In the foreground the ideal is every byte across the link at full rate, back to back.
    assert_eq!(ferry.ideal_secs, params.no_stall_secs());
    assert_near_the_ideal(&ferry, 1.1);
}

#[test]
fn seed_naive_stalls_for_five_minutes_and_ferry_stays_near_the_no_stall_ideal() {
    seed_must_show(&[], 300.0);
}

#[test]
fn seed_under_a_harsher_os_still_stalls_naive_and_not_ferry() {
    seed_must_show(
        &[
            "ios.n_stall=200",
            "ios.t_stall=600",
            "ios.stall_after=10",
            "ios.lat_max=60",
            "link.bytes_per_sec=1048576",
        ],
        600.0,
    );
}

#[test]
fn photo_backup_with_a_force_quit_completes_every_file_with_ferry() {
    let params = params("photo-backup", &[]);
    let ferry = run("photo-backup", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_eq!(ferry.os.force_quits, 1, "the user force-quit once");
    assert!(
        ferry.os.relaunches >= 3,
        "relaunched by OS events several times: {:?}",
        ferry.os
    );
    assert!(ferry.os_tasks_created > 0, "the videos went to the OS");
    assert_near_the_ideal(&ferry, 1.25);
}

#[test]
fn photo_backup_with_the_batch_endpoint_stays_near_the_ideal() {
    // The same, with small files packed for the testkit's batch endpoint (both lanes).
    let params = params("photo-backup", &["ferry.batch_max_files=64"]);
    let ferry = run("photo-backup", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_near_the_ideal(&ferry, 1.25);
}

#[test]
fn photo_backup_with_a_slower_resume_limiter_stays_within_1_4_of_the_ideal() {
    // A resume delay five times longer, twice the start latency and a session that stalls
    // at 20 tasks. Looser bound, 1.4: each window Ferry hands over in the background waits
    // out `ios.d0` (300 s) before it starts, against 400 s of sending per window of four
    // videos; the ideal counts no delay at all.
    let params = params(
        "photo-backup",
        &["ios.d0=300", "ios.lat_max=60", "ios.n_stall=20"],
    );
    let ferry = run("photo-backup", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_eq!(ferry.os.stalls, 0, "never near ios.n_stall: {:?}", ferry.os);
    assert_near_the_ideal(&ferry, 1.4);
}

#[test]
fn photo_backup_under_a_harsher_os_keeps_ferry_whole_and_costs_naive_files() {
    // A tenth of the files, same ratio; every task vanishes at the force-quit, the
    // session stalls and melts down far sooner.
    let sets = [
        "files.small_count=490",
        "files.large_count=10",
        "ios.p_vanish=1",
        "ios.n_stall=100",
        "ios.t_stall=600",
        "ios.n_meltdown=400",
        "ios.d0=120",
        "app.force_quit_at=1800",
        "app.reopen_at=3600",
    ];
    let params = params("photo-backup", &sets);
    let ferry = run("photo-backup", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    // Looser bound: the ideal (1,735 s) ends just before the force-quit at 1,800 s, so a
    // run that is a few per cent short of it there waits for the reopen at 3,600 s. What
    // is asserted: the ratio stays under 3, and Ferry ends within one ideal of the reopen.
    assert_near_the_ideal(&ferry, 3.0);
    assert!(
        ferry.virtual_secs <= 3600.0 + ferry.ideal_secs,
        "{}",
        ferry.line()
    );
    let naive = run("photo-backup", Strategy::Naive, &params);
    assert!(
        naive.completed < naive.total && naive.lost > 0,
        "{}",
        naive.line()
    );
}

#[test]
fn android_doze_keeps_ferry_within_its_window_with_nothing_lost() {
    let params = params("android-doze", &[]);
    let ferry = run("android-doze", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_eq!(ferry.os.force_quits, 1, "the user force-stopped once");
    assert_near_the_ideal(&ferry, 1.25);
}

#[test]
fn android_doze_with_fewer_doze_windows_stays_near_the_ideal() {
    // The frequent bucket (10 min per 8 h) and a Doze window every 3 h, not every hour.
    let params = params(
        "android-doze",
        &["android.bucket=frequent", "android.doze_window_every=10800"],
    );
    let ferry = run("android-doze", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_near_the_ideal(&ferry, 1.25);
}

#[test]
fn android_doze_in_the_rare_bucket_waits_for_the_user_and_stays_near_the_ideal() {
    // A tenth of the files; the rare bucket gives jobs no network (rule 12), so what the
    // foreground does not send waits for the reopen, in the ideal as in Ferry.
    let params = params(
        "android-doze",
        &[
            "files.small_count=490",
            "files.large_count=10",
            "android.bucket=rare",
        ],
    );
    let ferry = run("android-doze", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert!(ferry.ideal_secs > 4.0 * 3600.0, "{}", ferry.line());
    assert_near_the_ideal(&ferry, 1.25);
}

#[test]
fn android_doze_under_a_harsher_os_costs_naive_files_and_not_ferry() {
    // A tenth of the files, same ratio; the frequent bucket, long Doze gaps, a lower job cap.
    let sets = [
        "files.small_count=490",
        "files.large_count=10",
        "android.bucket=frequent",
        "android.doze_after=600",
        "android.doze_window_every=7200",
        "android.job_cap=50",
        "app.force_quit_at=1800",
        "app.reopen_at=3600",
    ];
    let params = params("android-doze", &sets);
    let ferry = run("android-doze", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_near_the_ideal(&ferry, 1.25);
    let naive = run("android-doze", Strategy::Naive, &params);
    assert!(naive.lost > 0, "{}", naive.line());
}

#[test]
fn android_doze_with_user_initiated_jobs_keeps_the_app_running_at_the_ideal() {
    // An app allowed user-initiated jobs (Android 14+, RUN_USER_INITIATED_JOBS): its ideal
    // is the any-kind one, and Ferry keeps the app running with one such job scheduled
    // while visible, sending everything in-process through Doze. Bound 1.1, as the seed's.
    let params = params("android-doze", &["android.job_kind=user_initiated"]);
    let ferry = run("android-doze", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_eq!(
        ferry.ideal_secs,
        ferry.ideal_any_job_kind_secs,
        "{}",
        ferry.line()
    );
    assert_eq!(
        ferry.os.keep_alives,
        2,
        "one job at the start, one after the reopen: {}",
        ferry.line()
    );
    assert_near_the_ideal(&ferry, 1.1);
    let naive = run("android-doze", Strategy::Naive, &params);
    assert!(
        naive.lost > 0,
        "a job per file is refused once the app is not visible: {}",
        naive.line()
    );
}

#[test]
fn android_doze_with_user_initiated_jobs_under_a_harsher_os_stays_near_the_ideal() {
    // A tenth of the files; the rare bucket (no network for workers), a lower job cap and
    // an early force-stop: the keep-alive must be asked for again after the reopen.
    let sets = [
        "android.job_kind=user_initiated",
        "files.small_count=490",
        "files.large_count=10",
        "android.bucket=rare",
        "android.job_cap=50",
        "app.force_quit_at=600",
        "app.reopen_at=2400",
    ];
    let params = params("android-doze", &sets);
    let ferry = run("android-doze", Strategy::Ferry, &params);
    assert_ferry_keeps_its_promises(&ferry, &params);
    assert_eq!(ferry.os.keep_alives, 2, "asked again after the reopen");
    assert_near_the_ideal(&ferry, 1.25);
}

/// The download variant: a few large files (4 × 200 MiB, unscaled) of `scenario` pulled
/// by a real queue through the simulated OS's download tasks, under the uploads' rules
/// (the same window, the background to the OS, reconciling at every relaunch), in
/// segments of `ferry.download_segment_bytes` (64 MiB: 4 per file).
fn downloads_must_show(scenario: &str) -> f64 {
    let params = params(scenario, &["files.small_count=0", "files.large_count=4"]);
    let outcome = run(scenario, Strategy::FerryDownload, &params);
    let line = format!(
        "{} bytes_served={} leftovers={} os={:?}",
        outcome.line(),
        outcome.bytes_served,
        outcome.leftovers,
        outcome.os
    );
    println!(
        "{line}\ncompletions (secs, files): {:?}",
        outcome.timeline.points
    );
    assert_eq!(
        outcome.completed, outcome.total,
        "every file byte-identical: {line}"
    );
    assert_eq!(outcome.lost, 0, "{line}");
    assert_eq!(
        outcome.leftovers, 0,
        "no partial or segment file left: {line}"
    );
    assert!(
        outcome.max_os_outstanding <= params.ferry_max_platform_tasks,
        "{line}"
    );
    let file = params.scaled(params.large_bytes);
    let segment = params.scaled(params.ferry_download_segment_bytes);
    let segments_per_file = file.div_ceil(segment);
    assert!(
        outcome.os_tasks_created >= 4 * segments_per_file,
        "one OS task per segment at least: {line}"
    );
    // A segment is fetched again only when its task was lost or taken back: at most one
    // segment per file beyond the files' bytes.
    assert!(outcome.bytes_served <= 4 * (file + segment), "{line}");
    outcome.ratio()
}

#[test]
fn photo_backup_downloads_go_through_ios_download_tasks_byte_identical() {
    // Seen: 567 s against an ideal of 400 (1.42 ×): the four files go as four windows of
    // segments, three of them handed in the background; where the rest of the time goes
    // (resume delays, relaunch gaps) is not analysed yet.
    let ratio = downloads_must_show("photo-backup");
    assert!(ratio <= 1.5, "within 1.5 × the OS-bounded ideal: {ratio}");
}

#[test]
fn android_doze_downloads_go_through_workmanager_byte_identical() {
    let ratio = downloads_must_show("android-doze");
    assert!(ratio <= 1.1, "within 1.1 × the OS-bounded ideal: {ratio}");
}
