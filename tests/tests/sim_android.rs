//! Pins each rule of the simulated Android background-work scheduler (os-model.md rules
//! 11-16) with a small case, on a paused clock, the bytes really reaching the loopback
//! testkit server over a modelled link of 1,000 B/s.

use std::time::Duration;

use ferry_testkit::sim::{
    AndroidParams, AndroidSession, CreateError, OsSession, SessionEvent, TaskError, TaskOutcome,
    TaskRequest,
};
use ferry_testkit::{ServerConfig, TestServer};
use tokio::sync::mpsc;
use tokio::time::Instant;

const RATE: u64 = 1000;
const MIN: Duration = Duration::from_secs(60);

struct Rig {
    server: TestServer,
    session: AndroidSession,
    dir: tempfile::TempDir,
}

/// No Doze, the active bucket: nothing limits jobs unless a test says so.
fn free() -> AndroidParams {
    AndroidParams {
        bucket: "active",
        doze: false,
        chunk_bytes: 100,
        idle_timeout: Duration::from_secs(3600),
        ..AndroidParams::default()
    }
}

async fn make(params: AndroidParams, charging: bool) -> Rig {
    let server = TestServer::start(ServerConfig {
        uplink_bytes_per_sec: Some(RATE),
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let (session, _wakes) =
        AndroidSession::new(params, true, server.uplink(), charging).expect("session");
    Rig {
        server,
        session,
        dir: tempfile::tempdir().expect("dir"),
    }
}

impl Rig {
    fn request(&self, name: &str, len: usize) -> TaskRequest {
        let path = self.dir.path().join(name);
        std::fs::write(&path, vec![3u8; len]).expect("write");
        TaskRequest {
            description: name.to_owned(),
            url: format!("{}{name}", self.server.base_url()),
            method: "PUT".into(),
            headers: Vec::new(),
            body_path: path,
            download_to: None,
        }
    }

    fn schedule(&self, name: &str, len: usize) -> Result<u64, CreateError> {
        self.session.create_task(self.request(name, len))
    }

    fn stored(&self) -> u64 {
        self.server.stats().bodies_stored
    }

    fn requests(&self) -> u64 {
        self.server.stats().requests
    }
}

async fn sleep_until_secs(start: Instant, secs: u64) {
    tokio::time::sleep_until(start + Duration::from_secs(secs)).await;
}

async fn next_completion(events: &mut mpsc::UnboundedReceiver<SessionEvent>) -> TaskOutcome {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(48 * 3600), events.recv())
            .await
            .expect("a completion within two days")
            .expect("session alive");
        if let SessionEvent::Completed { outcome, .. } = event {
            return outcome;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn rule11_a_worker_is_stopped_after_ten_minutes_and_retried_with_exponential_backoff() {
    let rig = make(free(), true).await;
    let _events = rig.session.connect();
    let start = Instant::now();
    rig.schedule("long", 20 * 60 * RATE as usize)
        .expect("scheduled"); // 20 min of link
    sleep_until_secs(start, 625).await;
    assert_eq!(rig.requests(), 1, "stopped at 600 s, 30 s backoff not over");
    sleep_until_secs(start, 635).await;
    assert_eq!(rig.requests(), 2, "second attempt after 30 s");
    sleep_until_secs(start, 630 + 600 + 55).await;
    assert_eq!(rig.requests(), 2, "second stop, backoff now 60 s");
    sleep_until_secs(start, 630 + 600 + 65).await;
    assert_eq!(rig.requests(), 3);
    assert_eq!(rig.stored(), 0, "never finishes within a worker's budget");
    assert_eq!(rig.session.stats().jobs_stopped, 2);
}

#[tokio::test(start_paused = true)]
async fn rule12_a_bucket_allows_ten_minutes_per_period_and_rare_has_no_network() {
    let params = AndroidParams {
        bucket: "working_set",
        max_running: 1,
        ..free()
    };
    let rig = make(params, false).await;
    let mut events = rig.session.connect();
    rig.session.to_background();
    let start = Instant::now();
    for i in 0..4 {
        rig.schedule(&format!("f{i}"), 3 * 60 * RATE as usize)
            .expect("scheduled"); // 3 min of link each, one at a time
    }
    let mut done = Vec::new();
    for _ in 0..4 {
        next_completion(&mut events).await;
        done.push(start.elapsed().as_secs());
    }
    assert!(done[2] <= 10 * 60, "three fit in 10 min: {done:?}");
    assert!(
        done[3] >= 2 * 3600,
        "the fourth is stopped at 10 min and waits for the next 2 h period: {done:?}"
    );
    assert_eq!(rig.session.stats().jobs_stopped, 1);

    let params = AndroidParams {
        bucket: "rare",
        ..free()
    };
    let rig = make(params, false).await;
    let mut events = rig.session.connect();
    rig.session.to_background();
    rig.schedule("rare", 10).expect("scheduled");
    tokio::time::sleep(Duration::from_secs(30 * 3600)).await;
    assert_eq!(rig.requests(), 0, "no network in the rare bucket");
    rig.session.set_charging(true);
    assert!(matches!(
        next_completion(&mut events).await,
        TaskOutcome::Response { status: 201, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn rule12_doze_holds_jobs_until_a_maintenance_window() {
    let params = AndroidParams {
        doze: true,
        doze_after: 30 * MIN,
        doze_window_every: 60 * MIN,
        doze_window_len: 10 * MIN,
        ..free()
    };
    let rig = make(params, false).await;
    let mut events = rig.session.connect();
    let start = Instant::now();
    rig.session.to_background();
    sleep_until_secs(start, 31 * 60).await;
    assert!(rig.session.dozing());
    rig.schedule("held", 10).expect("scheduled");
    next_completion(&mut events).await;
    let at = start.elapsed().as_secs();
    assert!(
        (90 * 60..90 * 60 + 5).contains(&at),
        "the first window opens 60 min into Doze: {at}"
    );
}

#[tokio::test(start_paused = true)]
async fn rule13_expedited_work_ignores_doze_within_its_quota_then_runs_as_normal_work() {
    let params = AndroidParams {
        job_kind: "expedited",
        doze: true,
        doze_after: Duration::ZERO,
        expedited_quota: 5 * MIN,
        expedited_min_runtime: 3 * MIN,
        ..free()
    };
    let rig = make(params.clone(), false).await;
    let mut events = rig.session.connect();
    rig.session.to_background();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(rig.session.dozing());
    let start = Instant::now();
    rig.schedule("quick", 10).expect("scheduled");
    next_completion(&mut events).await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "ran at once, in Doze"
    );
    // Eight minutes of work with five minutes of quota: stopped, then held for a window.
    rig.schedule("long", 8 * 60 * RATE as usize)
        .expect("scheduled");
    next_completion(&mut events).await;
    assert!(
        start.elapsed() >= Duration::from_secs(3600),
        "out of quota it waits for a Doze window as normal work: {:?}",
        start.elapsed()
    );
    assert!(rig.session.stats().jobs_stopped >= 1);

    let dropping = AndroidParams {
        expedited_drop_out_of_quota: true,
        expedited_quota: Duration::ZERO,
        ..params
    };
    let rig = make(dropping, false).await;
    let mut events = rig.session.connect();
    rig.schedule("dropped", 10).expect("scheduled");
    assert!(matches!(
        next_completion(&mut events).await,
        TaskOutcome::Error {
            error: TaskError::StoppedBySystem,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn rule14_a_foreground_service_has_no_worker_budget_but_a_daily_limit() {
    let params = AndroidParams {
        job_kind: "foreground_service",
        fgs_limit: 30 * MIN,
        ..free()
    };
    let rig = make(params, true).await;
    let mut events = rig.session.connect();
    let start = Instant::now();
    rig.schedule("fits", 15 * 60 * RATE as usize)
        .expect("scheduled"); // beyond a worker's 10 min
    assert!(matches!(
        next_completion(&mut events).await,
        TaskOutcome::Response { status: 201, .. }
    ));
    rig.schedule("too-long", 30 * 60 * RATE as usize)
        .expect("scheduled");
    assert!(matches!(
        next_completion(&mut events).await,
        TaskOutcome::Error {
            error: TaskError::StoppedBySystem,
            ..
        }
    ));
    let at = start.elapsed().as_secs();
    assert!(
        (30 * 60..30 * 60 + 5).contains(&at),
        "onTimeout at the limit: {at}"
    );
    rig.session.to_background();
    assert_eq!(rig.schedule("late", 10), Err(CreateError::NotVisible));
}

#[tokio::test(start_paused = true)]
async fn rule15_a_user_initiated_job_needs_a_visible_app_and_ignores_quotas_until_stopped() {
    let params = AndroidParams {
        job_kind: "user_initiated",
        bucket: "rare",
        doze: true,
        doze_after: Duration::ZERO,
        ..free()
    };
    let rig = make(params, false).await;
    let mut events = rig.session.connect();
    let quick = rig.schedule("quick", 10).expect("visible");
    let long = rig.schedule("long", 3600 * RATE as usize).expect("visible");
    rig.session.to_background();
    assert_eq!(rig.schedule("hidden", 10), Err(CreateError::NotVisible));
    assert!(matches!(
        next_completion(&mut events).await,
        TaskOutcome::Response { status: 201, .. }
    ));
    assert_ne!(quick, long);
    rig.session.user_stop(long);
    assert!(matches!(
        next_completion(&mut events).await,
        TaskOutcome::Error {
            error: TaskError::StoppedByUser,
            ..
        }
    ));
    assert!(rig.session.all_tasks().is_empty(), "not rescheduled");
}

#[tokio::test(start_paused = true)]
async fn rule15_a_user_initiated_job_keeps_the_app_running_if_asked_while_visible() {
    let workers_only = make(free(), false).await;
    assert_eq!(
        workers_only.session.keep_app_running(),
        Err(CreateError::NoKeepAlive),
        "an app that may schedule only workers"
    );

    let params = AndroidParams {
        job_kind: "user_initiated",
        job_cap: 2,
        ..free()
    };
    let rig = make(params, false).await;
    rig.session.to_background();
    assert_eq!(rig.session.keep_app_running(), Err(CreateError::NotVisible));
    rig.session.to_foreground();
    rig.session.keep_app_running().expect("visible");
    rig.session
        .keep_app_running()
        .expect("asked again: the same job");
    assert!(rig.session.keeps_app_running());
    rig.schedule("one", 10).expect("under the cap");
    assert_eq!(
        rig.schedule("two", 10),
        Err(CreateError::TooManyJobs(2)),
        "the job counts against the cap"
    );
    rig.session.let_app_stop();
    assert!(!rig.session.keeps_app_running());
    rig.session.keep_app_running().expect("visible");
    rig.session.force_quit();
    assert!(!rig.session.keeps_app_running(), "a force-stop ends it");
    assert_eq!(rig.session.stats().keep_alives, 2);
}

#[tokio::test(start_paused = true)]
async fn rule16_at_most_job_cap_jobs_are_scheduled() {
    let rig = make(free(), true).await;
    for i in 0..100 {
        rig.schedule(&format!("f{i}"), 100_000)
            .expect("under the cap");
    }
    assert_eq!(
        rig.schedule("one-more", 10),
        Err(CreateError::TooManyJobs(100))
    );
    assert_eq!(rig.session.stats().refused, 1);
}

#[tokio::test(start_paused = true)]
async fn a_force_stop_removes_every_job_without_a_callback() {
    let rig = make(free(), true).await;
    let mut events = rig.session.connect();
    for i in 0..10 {
        rig.schedule(&format!("f{i}"), 100_000).expect("scheduled");
    }
    rig.session.force_quit();
    assert!(rig.session.all_tasks().is_empty());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(events.try_recv().is_err(), "no callback");
    assert_eq!(rig.session.stats().vanished, 10);
}
