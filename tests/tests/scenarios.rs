//! The scenario runner's must-shows: the seed stall reproduced by the naive strategy and
//! absent with Ferry, Ferry within its OS task window with nothing lost or duplicated in
//! every scenario, photo-backup's force-quit survived, and the same under harsher OS
//! assumptions than the defaults. Each run is virtual time on a paused clock.

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
    // The ideal: every byte across the modelled link at full rate, back to back.
    assert!(
        ferry.virtual_secs <= 1.1 * ferry.ideal_secs,
        "{} against an ideal of {:.1} s",
        ferry.line(),
        ferry.ideal_secs
    );
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
    let naive = run("android-doze", Strategy::Naive, &params);
    assert!(naive.lost > 0, "{}", naive.line());
}
