//! Pins each rule of the simulated iOS background-session daemon (os-model.md rules 1-9)
//! with a small case, and the runner's assumption that loopback I/O does not move the
//! paused clock. Every test runs on a current-thread runtime with tokio's clock paused;
//! the bytes really reach the loopback testkit server.

use std::path::PathBuf;
use std::time::Duration;

use ferry_testkit::sim::{
    AppPhase, CreateError, Device, IosParams, IosSession, OsWake, SessionEvent, TaskError,
    TaskOutcome, TaskRequest,
};
use ferry_testkit::{Fault, FaultPlan, ScriptedFault, ServerConfig, TestServer};
use tokio::sync::mpsc;
use tokio::time::Instant;

const RATE: u64 = 10_000; // bytes per second on the modelled link

struct Rig {
    server: TestServer,
    session: IosSession,
    wakes: mpsc::UnboundedReceiver<OsWake>,
    dir: tempfile::TempDir,
}

/// Quick defaults for small cases: no start latency, no create cost.
fn quiet() -> IosParams {
    IosParams {
        lat_max: Duration::ZERO,
        create_cost: Duration::ZERO,
        chunk_bytes: 100,
        ..IosParams::default()
    }
}

async fn rig(params: IosParams, http2: bool) -> Rig {
    rig_with(params, http2, FaultPlan::default()).await
}

async fn rig_with(params: IosParams, http2: bool, faults: FaultPlan) -> Rig {
    let server = TestServer::start(ServerConfig {
        uplink_bytes_per_sec: Some(RATE),
        faults,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let device = Device {
        charging: true,
        wifi: true,
    };
    let (session, wakes) =
        IosSession::new(params, http2, server.uplink(), device).expect("session");
    Rig {
        server,
        session,
        wakes,
        dir: tempfile::tempdir().expect("dir"),
    }
}

impl Rig {
    fn file(&self, name: &str, len: usize) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, vec![7u8; len]).expect("write");
        path
    }

    fn request(&self, name: &str, len: usize) -> TaskRequest {
        TaskRequest {
            description: name.to_owned(),
            url: format!("{}{name}", self.server.base_url()),
            method: "PUT".into(),
            headers: Vec::new(),
            body_path: self.file(name, len),
            download_to: None,
        }
    }

    fn create(&self, name: &str, len: usize) -> u64 {
        self.session
            .create_task(self.request(name, len))
            .expect("created")
    }

    async fn wait_stored(&self, count: u64, limit: Duration) {
        let until = Instant::now() + limit;
        while self.server.stats().bodies_stored < count {
            assert!(Instant::now() < until, "{count} bodies not stored in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn relaunched(&mut self) {
        let wake = tokio::time::timeout(Duration::from_secs(3600), self.wakes.recv())
            .await
            .expect("a relaunch within an hour");
        assert_eq!(wake, Some(OsWake::RelaunchedInBackground));
    }
}

/// Receives events until `count` completions came, within `limit` of virtual time.
async fn completions(
    events: &mut mpsc::UnboundedReceiver<SessionEvent>,
    count: usize,
    limit: Duration,
) -> Vec<(String, TaskOutcome, Instant)> {
    let mut got = Vec::new();
    let until = Instant::now() + limit;
    while got.len() < count {
        let event = tokio::time::timeout_at(until, events.recv())
            .await
            .expect("completions in time")
            .expect("session alive");
        if let SessionEvent::Completed {
            description,
            outcome,
            ..
        } = event
        {
            got.push((description, outcome, Instant::now()));
        }
    }
    got
}

fn ok(outcome: &TaskOutcome) -> bool {
    matches!(outcome, TaskOutcome::Response { status: 201, .. })
}

#[tokio::test(start_paused = true)]
async fn loopback_io_does_not_move_the_paused_clock_and_the_uplink_does() {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let client = ferry_testkit::sim::transport::client(false).expect("client");
    let start = Instant::now();
    for i in 0..20 {
        let response = client
            .put(format!("{}free/{i}", server.base_url()))
            .body(vec![1u8; 256 * 1024])
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 201);
    }
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "5 MiB over loopback took no virtual time: auto-advance only follows timers"
    );

    let paced = TestServer::start(ServerConfig {
        uplink_bytes_per_sec: Some(1000),
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let start = Instant::now();
    let response = client
        .put(format!("{}paced", paced.base_url()))
        .body(vec![1u8; 5000])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let secs = start.elapsed().as_secs_f64();
    assert!((5.0..5.1).contains(&secs), "5,000 B at 1,000 B/s: {secs}");
}

#[tokio::test(start_paused = true)]
async fn rule1_each_background_relaunch_within_the_delay_doubles_it() {
    let mut rig = rig(quiet(), true).await;
    let _events = rig.session.connect();
    // Three foreground-created tasks finishing 5 s apart, while the app does not run.
    rig.create("a", 10_000);
    rig.create("b", 40_000);
    rig.create("c", 90_000);
    rig.session.to_background();
    rig.session.app_stopped();
    let mut delays = Vec::new();
    for _ in 0..3 {
        rig.relaunched().await;
        delays.push(rig.session.resume_delay().as_secs());
        let _events = rig.session.connect();
        rig.session.app_stopped();
    }
    assert_eq!(delays, [60, 120, 240], "60 -> 120 -> 240 s");

    // A task created in the background now starts no sooner than the delay allows.
    rig.session.to_background();
    let mut events = rig.session.connect();
    let created = Instant::now();
    rig.create("late", 10);
    let done = completions(&mut events, 1, Duration::from_secs(600)).await;
    let waited = done[0].2.duration_since(created).as_secs();
    assert!((240..245).contains(&waited), "waited {waited} s");

    // The user opening the app resets it.
    rig.session.to_foreground();
    assert_eq!(rig.session.resume_delay(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn rule2_background_tasks_are_discretionary_and_wait_for_charging_and_wifi() {
    let rig = rig(quiet(), true).await;
    let mut events = rig.session.connect();
    rig.session.set_device(Device {
        charging: false,
        wifi: true,
    });
    rig.create("foreground", 10);
    assert!(ok(&completions(&mut events, 1, Duration::from_secs(5))
        .await[0]
        .1));
    rig.session.to_background();
    rig.create("background", 10);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        rig.server.stats().bodies_stored,
        1,
        "held while not charging"
    );
    rig.session.set_device(Device {
        charging: true,
        wifi: true,
    });
    let done = completions(&mut events, 1, Duration::from_secs(5)).await;
    assert_eq!(done[0].0, "background");
}

#[tokio::test(start_paused = true)]
async fn rule3_start_latency_spreads_starts_up_to_lat_max() {
    let params = IosParams {
        lat_max: Duration::from_secs(30),
        ..quiet()
    };
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    let start = Instant::now();
    for i in 0..40 {
        rig.create(&format!("f{i}"), 10);
    }
    let done = completions(&mut events, 40, Duration::from_secs(60)).await;
    let secs: Vec<f64> = done
        .iter()
        .map(|(_, _, at)| at.duration_since(start).as_secs_f64())
        .collect();
    let last = secs.iter().copied().fold(0.0, f64::max);
    let first = secs.iter().copied().fold(f64::MAX, f64::min);
    assert!(last <= 30.5, "no start later than lat_max: {last}");
    assert!(last - first > 10.0, "starts are spread: {first}..{last}");
}

#[tokio::test(start_paused = true)]
async fn rule4_http1_honours_the_connection_limit_and_http2_ignores_it() {
    for (http2, expected_max) in [(false, 6), (true, 20)] {
        let rig = rig(quiet(), http2).await;
        let mut events = rig.session.connect();
        for i in 0..20 {
            rig.create(&format!("f{i}"), 5_000);
        }
        completions(&mut events, 20, Duration::from_secs(60)).await;
        let in_flight = rig.server.stats().max_in_flight;
        assert_eq!(in_flight, expected_max, "http2={http2}");
        assert_eq!(rig.session.stats().max_in_flight, expected_max);
    }
}

#[tokio::test(start_paused = true)]
async fn rule4_optional_fault_fails_http2_tasks_above_n_in_flight() {
    let params = IosParams {
        h2_parse_fault: true,
        h2_parse_fault_above: 8,
        ..quiet()
    };
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    for i in 0..12 {
        rig.create(&format!("f{i}"), 5_000);
    }
    let done = completions(&mut events, 12, Duration::from_secs(60)).await;
    let failed = done
        .iter()
        .filter(|(_, outcome, _)| {
            matches!(
                outcome,
                TaskOutcome::Error {
                    error: TaskError::CannotParseResponse,
                    ..
                }
            )
        })
        .count();
    assert_eq!(failed, 4, "the 9th to 12th task in flight");
}

#[tokio::test(start_paused = true)]
async fn rule5_n_stall_outstanding_tasks_stall_the_session_for_t_stall() {
    let params = IosParams {
        n_stall: 10,
        stall_after: Duration::from_secs(5),
        t_stall: Duration::from_secs(100),
        ..quiet()
    };
    let stalling = rig(params.clone(), true).await;
    let mut events = stalling.session.connect();
    let start = Instant::now();
    for i in 0..20 {
        stalling.create(&format!("f{i}"), 5_000); // 10 s of link in all
    }
    let done = completions(&mut events, 20, Duration::from_secs(600)).await;
    let mut times: Vec<Instant> = done.iter().map(|(_, _, at)| *at).collect();
    times.push(start);
    times.sort();
    let longest_gap = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs())
        .max()
        .unwrap_or(0);
    assert!(
        longest_gap >= 100,
        "no callback for t_stall: {longest_gap} s"
    );
    let total = times.iter().max().expect("times").duration_since(start);
    assert!(
        total >= Duration::from_secs(105),
        "stall_after of progress, then t_stall frozen, then the rest: {total:?}"
    );
    assert_eq!(stalling.session.stats().stalls, 1);

    // Below n_stall, no stall.
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    for i in 0..9 {
        rig.create(&format!("g{i}"), 10_000);
    }
    completions(&mut events, 9, Duration::from_secs(20)).await;
    assert_eq!(rig.session.stats().stalls, 0);
}

#[tokio::test(start_paused = true)]
async fn rule5_creating_tasks_costs_app_time_and_above_n_meltdown_they_fail_in_bulk() {
    let params = IosParams {
        n_meltdown: 5,
        create_cost: Duration::from_millis(9),
        ..quiet()
    };
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    let start = Instant::now();
    for i in 0..8 {
        rig.create(&format!("f{i}"), 10);
    }
    let done = completions(&mut events, 8, Duration::from_secs(10)).await;
    let melted: Vec<_> = done
        .iter()
        .filter(|(_, outcome, _)| {
            matches!(
                outcome,
                TaskOutcome::Error {
                    error: TaskError::TooManyTasks,
                    ..
                }
            )
        })
        .map(|(name, _, _)| name.as_str())
        .collect();
    assert_eq!(melted, ["f5", "f6", "f7"]);
    let first_success = done
        .iter()
        .filter(|(_, outcome, _)| ok(outcome))
        .map(|(_, _, at)| at.duration_since(start))
        .min()
        .expect("some succeeded");
    assert!(
        first_success >= Duration::from_millis(9),
        "a task exists only after its creation cost"
    );
}

#[tokio::test(start_paused = true)]
async fn rule6_bodies_come_from_files_and_a_changed_file_fails_the_task() {
    let params = IosParams {
        lat_max: Duration::from_secs(10),
        ..quiet()
    };
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    let mut missing = rig.request("missing", 10);
    missing.body_path = rig.dir.path().join("nope");
    assert!(matches!(
        rig.session.create_task(missing),
        Err(CreateError::BodyNotAFile(_))
    ));
    let request = rig.request("changes", 100);
    let path = request.body_path.clone();
    rig.session.create_task(request).expect("created");
    std::fs::write(&path, vec![1u8; 50]).expect("rewrite");
    let done = completions(&mut events, 1, Duration::from_secs(20)).await;
    assert!(matches!(
        done[0].1,
        TaskOutcome::Error {
            error: TaskError::FileChanged,
            ..
        }
    ));
    assert_eq!(rig.server.stats().bodies_stored, 0);
}

#[tokio::test(start_paused = true)]
async fn rule7_an_idle_task_is_retried_by_the_daemon_and_an_old_one_times_out() {
    let faults = FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 1,
            fault: Fault::Stall {
                after_bytes: 0,
                hold_for_ms: 600_000,
            },
        }],
        ..FaultPlan::default()
    };
    let idle = rig_with(quiet(), true, faults).await;
    let mut events = idle.session.connect();
    let start = Instant::now();
    idle.create("idle", 1_000);
    let done = completions(&mut events, 1, Duration::from_secs(300)).await;
    assert!(ok(&done[0].1), "the daemon's own retry succeeded");
    assert_eq!(idle.session.stats().daemon_retries, 1);
    let secs = done[0].2.duration_since(start).as_secs();
    assert!(
        (60..70).contains(&secs),
        "after the 60 s idle timeout: {secs}"
    );

    let params = IosParams {
        resource_timeout: Duration::from_secs(3600),
        ..quiet()
    };
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    rig.session.set_device(Device {
        charging: false,
        wifi: false,
    });
    rig.session.to_background();
    rig.create("never", 10);
    let done = completions(&mut events, 1, Duration::from_secs(7200)).await;
    assert!(matches!(
        done[0].1,
        TaskOutcome::Error {
            error: TaskError::TimedOut,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn rule8_a_system_kill_lets_tasks_finish_and_queues_events_until_the_relaunch() {
    let mut rig = rig(quiet(), true).await;
    drop(rig.session.connect());
    rig.create("a", 5_000);
    rig.create("b", 5_000);
    rig.session.to_background();
    rig.session.app_stopped();
    rig.wait_stored(2, Duration::from_secs(10)).await;
    assert_eq!(rig.session.phase(), AppPhase::NotRunning);
    assert!(
        rig.session.pending_events() >= 1,
        "events queue while the app is dead"
    );
    rig.relaunched().await;
    assert_eq!(rig.session.phase(), AppPhase::Background);
    let mut events = rig.session.connect();
    let mut got = Vec::new();
    while let Ok(event) = events.try_recv() {
        got.push(event);
    }
    let completed = got
        .iter()
        .filter(|e| matches!(e, SessionEvent::Completed { .. }))
        .count();
    assert!(
        completed >= 1,
        "queued completions are delivered at connect"
    );
    assert_eq!(got.last(), Some(&SessionEvent::FinishedEvents));
}

#[tokio::test(start_paused = true)]
async fn rule8_a_force_quit_cancels_every_task_and_some_vanish() {
    let params = IosParams {
        p_vanish: 0.25,
        ..quiet()
    };
    let mut rig = rig(params, true).await;
    drop(rig.session.connect());
    for i in 0..200 {
        rig.create(&format!("f{i}"), 100_000);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    rig.session.force_quit();
    assert!(rig.session.all_tasks().is_empty(), "every task is gone");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(
        rig.wakes.try_recv().is_err(),
        "no relaunch after a force-quit"
    );
    rig.session.to_foreground();
    let mut events = rig.session.connect();
    let mut cancelled = 0;
    while let Ok(event) = events.try_recv() {
        if let SessionEvent::Completed { outcome, .. } = event {
            assert!(matches!(
                outcome,
                TaskOutcome::Error {
                    error: TaskError::CancelledUserForceQuit,
                    ..
                }
            ));
            cancelled += 1;
        }
    }
    let vanished = rig.session.stats().vanished;
    assert_eq!(cancelled + vanished, 200);
    assert!((20..80).contains(&vanished), "about a quarter: {vanished}");
}

#[tokio::test(start_paused = true)]
async fn rule9_get_all_tasks_lists_unfinished_tasks_with_their_descriptions() {
    let params = IosParams {
        lat_max: Duration::ZERO,
        ..quiet()
    };
    let rig = rig(params, true).await;
    let mut events = rig.session.connect();
    let small = rig.create("small", 10);
    let big = rig.create("big", 50_000);
    completions(&mut events, 1, Duration::from_secs(2)).await;
    assert_eq!(rig.session.all_tasks(), [(big, "big".to_owned())]);
    assert_ne!(small, big);
    rig.session.cancel(big);
    assert!(rig.session.all_tasks().is_empty());
}

/// A download task for `name` (served by the rig's server) into `to`, asking bytes
/// `0..len` as Ferry's first segment would.
fn download_request(rig: &Rig, name: &str, len: usize, to: &std::path::Path) -> TaskRequest {
    TaskRequest {
        description: name.to_owned(),
        url: rig.server.file_url(name),
        method: "GET".into(),
        headers: vec![("Range".into(), format!("bytes=0-{}", len - 1))],
        body_path: PathBuf::new(),
        download_to: Some(to.to_owned()),
    }
}

/// A download task whose server stalls halfway (rule 7: the daemon gives up on the
/// request after `idle_timeout` and tries again itself, from its resume data under
/// `params`): the file that arrives, the bytes the server sent, and the session's
/// counts.
async fn cut_download(
    params: IosParams,
) -> (Vec<u8>, Vec<u8>, u64, ferry_testkit::sim::SessionStats) {
    let rig = rig(params, false).await;
    let len = 20_000;
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    rig.server.serve_file("d", bytes.clone());
    rig.server.add_download_faults(
        "d",
        vec![ferry_testkit::DownloadFault::StallAfter {
            bytes: 10_000,
            hold_ms: 3_600_000,
        }],
    );
    let to = rig.dir.path().join("d.seg");
    let mut events = rig.session.connect();
    rig.session
        .create_task(download_request(&rig, "d", len, &to))
        .expect("created");
    let done = completions(&mut events, 1, Duration::from_secs(600)).await;
    assert!(
        matches!(
            done[0].1,
            TaskOutcome::Response {
                status: 206 | 200,
                ..
            }
        ),
        "{:?}",
        done[0].1
    );
    let arrived = std::fs::read(&to).expect("the file moved into place");
    (
        arrived,
        bytes,
        rig.server.bytes_served("d"),
        rig.session.stats(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_download_cut_short_resumes_from_the_bytes_the_daemon_held() {
    let (arrived, bytes, served, stats) = cut_download(quiet()).await;
    assert_eq!(arrived, bytes);
    assert_eq!((stats.resumes, stats.resumes_failed), (1, 0));
    assert_eq!(
        served, 20_000,
        "the resume fetched only what was missing, each byte once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_download_whose_resume_data_fails_or_expired_starts_its_task_over() {
    for (params, why) in [
        (
            IosParams {
                p_resume_fails: 1.0,
                ..quiet()
            },
            "rejected",
        ),
        (
            IosParams {
                resume_data_ttl: Duration::ZERO,
                ..quiet()
            },
            "expired",
        ),
    ] {
        let (arrived, bytes, served, stats) = cut_download(params).await;
        assert_eq!(arrived, bytes, "{why}");
        assert_eq!((stats.resumes, stats.resumes_failed), (1, 1), "{why}");
        assert_eq!(
            served, 30_000,
            "{why}: the cut-off half and the whole task again, nothing more"
        );
    }
}
