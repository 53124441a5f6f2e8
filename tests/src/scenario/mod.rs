//! The scenario runner: plays a scenario (a file set, a network, the app's life) against
//! the simulated OS under one strategy, naive or Ferry, on one current-thread tokio
//! runtime with the clock paused, and reports one line of figures.
//!
//! Everything (the loopback testkit server with its modelled uplink, the simulated OS,
//! Ferry's queue, the app) runs on that runtime. Real loopback I/O is immediate, so
//! tokio's auto-advance only moves the clock when everything waits for a timer: the
//! uplink, the daemon's latencies and stalls, the app's life.
//!
//! What it must never do: read the wall clock, or let the naive app or Ferry see the
//! server (only the report looks at it).

mod ferry_app;
mod files;
pub mod ideal;
mod naive;
mod os_shim;
mod params;
mod plot;
mod timeline;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

pub use files::SourceFile;
pub use os_shim::{OsShim, to_platform_outcome};
pub use params::ScenarioParams;
pub use plot::write_svg;
pub use timeline::Timeline;

use crate::sim::{AndroidSession, AppPhase, Device, IosSession, OsSession, OsWake};
use crate::{ServerConfig, TestServer};

/// The scenarios the runner knows.
pub const SCENARIOS: [&str; 3] = ["seed", "photo-backup", "android-doze"];

/// How the app uses the OS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Naive,
    Ferry,
    /// Ferry the other way: the same files, served by the server, downloaded by a real
    /// queue through the same OS lane (`ferry_app.rs`, `FerryApp::downloading`).
    FerryDownload,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Ferry => "ferry",
            Strategy::FerryDownload => "ferry-download",
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: String,
    pub strategy: Strategy,
    pub completed: u64,
    pub total: u64,
    pub virtual_secs: f64,
    pub longest_stall_secs: f64,
    pub os_tasks_created: u64,
    pub max_os_outstanding: u64,
    pub duplicates: u64,
    pub lost: u64,
    /// Relaunches, stalls and daemon retries of the simulated OS.
    pub os: crate::sim::SessionStats,
    pub timeline: Timeline,
    /// The OS-bounded ideal (`ideal.rs`): every byte across the link at full rate, in
    /// the seconds in which the model lets some strategy send.
    pub ideal_secs: f64,
    /// The longest stall counted in those seconds only: beyond the model's forced gaps.
    pub open_stall_secs: f64,
    /// The same ideal with the most permissive Android job kind the model has (a
    /// user-initiated job, scheduled while visible), whatever kind this run's app uses:
    /// the bound for a strategy that chooses its job kind. Equal to `ideal_secs` on iOS.
    pub ideal_any_job_kind_secs: f64,
    /// The ideal's course, `(secs, fraction of the bytes across)`, for the plot.
    pub ideal_points: Vec<(f64, f64)>,
    /// Downloads: the body bytes the server sent for the files (scaled), and Ferry's own
    /// files (partials, OS segments) left in the download folder at the end.
    pub bytes_served: u64,
    pub leftovers: u64,
}

impl Outcome {
    /// The runner's one line.
    pub fn line(&self) -> String {
        format!(
            "scenario={} strategy={} completed={}/{} virtual_secs={:.0} longest_stall_secs={:.0} \
             os_tasks_created={} max_os_outstanding={} duplicates={} lost={} ideal_secs={:.0} \
             ratio={:.2} open_stall_secs={:.0} ideal_any_job_kind_secs={:.0}",
            self.scenario,
            self.strategy.name(),
            self.completed,
            self.total,
            self.virtual_secs,
            self.longest_stall_secs,
            self.os_tasks_created,
            self.max_os_outstanding,
            self.duplicates,
            self.lost,
            self.ideal_secs,
            self.ratio(),
            self.open_stall_secs,
            self.ideal_any_job_kind_secs
        )
    }

    /// `virtual_secs` against the OS-bounded ideal; infinite when some file never
    /// completed (`virtual_secs` is then the end of the run, not a completion).
    pub fn ratio(&self) -> f64 {
        if self.completed < self.total {
            return f64::INFINITY;
        }
        self.virtual_secs / self.ideal_secs
    }
}

/// What an app strategy does when the user and the OS act.
pub(crate) trait SimApp {
    /// The app process starts (in the foreground, or relaunched in the background).
    async fn launch(&mut self, world: &World, foreground: bool) -> Result<(), String>;
    /// The running app moves to the foreground or the background.
    async fn set_foreground(&mut self, foreground: bool) -> Result<(), String>;
    /// The app process ends (the session has already been told).
    async fn stop(&mut self) -> Result<(), String>;
    fn running(&self) -> bool;
    /// Nothing more will happen, however long the run goes on.
    fn finished(&self, completed: u64, total: u64) -> bool;
    /// URL paths of files the app will never send again.
    fn abandoned(&self, world: &World) -> HashSet<String>;
    /// Files that arrived: on the server, for an app that uploads.
    fn arrived(&self, world: &World) -> u64 {
        world.server.stats().bodies_stored
    }
}

/// What a run is made of.
pub(crate) struct World {
    pub server: TestServer,
    pub session: Arc<dyn OsSession>,
    pub files: Vec<SourceFile>,
    dir: tempfile::TempDir,
}

impl World {
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the `ferry-download` strategy puts the files.
    pub fn download_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("downloaded")
    }

    /// Where file `url_path` is downloaded to.
    pub fn download_path(&self, url_path: &str) -> std::path::PathBuf {
        self.download_dir().join(url_path[1..].replace('/', "-"))
    }
}

/// Runs `scenario` under `strategy` on a fresh current-thread runtime with a paused clock.
pub fn run_blocking(
    scenario: &str,
    strategy: Strategy,
    params: &ScenarioParams,
) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(run(scenario, strategy, params))
}

/// Runs `scenario` under `strategy` on the current runtime, whose clock must be paused.
pub async fn run(
    scenario: &str,
    strategy: Strategy,
    params: &ScenarioParams,
) -> Result<Outcome, String> {
    if !SCENARIOS.contains(&scenario) {
        return Err(format!(
            "unknown scenario {scenario}; known: {}",
            SCENARIOS.join(", ")
        ));
    }
    let world = build_world(scenario, params).await?;
    let wakes = world.1;
    let world = world.0;
    match strategy {
        Strategy::Naive => {
            let app = naive::NaiveApp::new(&world, params.naive_max_retries);
            drive(scenario, strategy, params, world, wakes, app).await
        }
        Strategy::Ferry => {
            let app = ferry_app::FerryApp::new(&world, params);
            drive(scenario, strategy, params, world, wakes, app).await
        }
        Strategy::FerryDownload => {
            for file in &world.files {
                let bytes = std::fs::read(&file.path)
                    .map_err(|e| format!("reading {}: {e}", file.path.display()))?;
                world.server.serve_file(&file.url_path[1..], bytes);
            }
            std::fs::create_dir_all(world.download_dir())
                .map_err(|e| format!("cannot make the download folder: {e}"))?;
            let app = ferry_app::FerryApp::downloading(&world, params);
            drive(scenario, strategy, params, world, wakes, app).await
        }
    }
}

async fn build_world(
    scenario: &str,
    params: &ScenarioParams,
) -> Result<(World, mpsc::UnboundedReceiver<OsWake>), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let files = files::write(dir.path(), params).map_err(|e| e.to_string())?;
    let server = TestServer::start(ServerConfig {
        uplink_bytes_per_sec: Some(params.scaled(params.link_bytes_per_sec)),
        ..ServerConfig::default()
    })
    .await
    .map_err(|e| format!("cannot start the testkit server: {e}"))?;
    let (session, wakes): (Arc<dyn OsSession>, _) = if scenario.starts_with("android") {
        let mut android = params.android.clone();
        android.chunk_bytes = params.scaled(android.chunk_bytes);
        let (session, wakes) =
            AndroidSession::new(android, params.http2, server.uplink(), params.charging)?;
        (Arc::new(session), wakes)
    } else {
        let mut ios = params.ios.clone();
        ios.chunk_bytes = params.scaled(ios.chunk_bytes);
        let device = Device {
            charging: params.charging,
            wifi: params.wifi,
        };
        let (session, wakes) = IosSession::new(ios, params.http2, server.uplink(), device)?;
        (Arc::new(session), wakes)
    };
    Ok((
        World {
            server,
            session,
            files,
            dir,
        },
        wakes,
    ))
}

/// When the user acts, from the start of the run.
struct Script {
    background_at: Option<Instant>,
    force_quit_at: Option<Instant>,
    reopen_at: Option<Instant>,
    suspend_at: Option<Instant>,
}

fn at(start: Instant, after: Duration) -> Option<Instant> {
    start.checked_add(after)
}

async fn drive(
    scenario: &str,
    strategy: Strategy,
    params: &ScenarioParams,
    world: World,
    mut wakes: mpsc::UnboundedReceiver<OsWake>,
    mut app: impl SimApp,
) -> Result<Outcome, String> {
    let start = Instant::now();
    let total = world.files.len() as u64;
    let end = at(start, params.max_duration).unwrap_or(start + Duration::from_secs(86400 * 365));
    let background_runtime = world.session.background_runtime();
    let mut script = Script {
        background_at: at(start, params.background_at),
        force_quit_at: at(start, params.force_quit_at),
        reopen_at: at(start, params.reopen_at),
        suspend_at: None,
    };
    let mut timeline = Timeline::default();
    timeline.sample(0.0, 0);
    app.launch(&world, true).await?;
    loop {
        let now = Instant::now();
        let stored = app.arrived(&world);
        timeline.sample(now.duration_since(start).as_secs_f64(), stored);
        if stored >= total || now >= end || app.finished(stored, total) {
            break;
        }
        let mut next = now + Duration::from_secs(1);
        for when in [
            script.background_at,
            script.force_quit_at,
            script.reopen_at,
            script.suspend_at,
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(when.max(now));
        }
        tokio::select! {
            Some(OsWake::RelaunchedInBackground) = wakes.recv() => {
                if !app.running() {
                    app.launch(&world, false).await?;
                    script.suspend_at = Some(Instant::now() + background_runtime);
                }
            }
            () = tokio::time::sleep_until(next) => {}
        }
        let now = Instant::now();
        if script.background_at.is_some_and(|t| t <= now) {
            script.background_at = None;
            world.session.to_background();
            app.set_foreground(false).await?;
            script.suspend_at = Some(now + background_runtime);
        }
        if script.suspend_at.is_some_and(|t| t <= now) {
            script.suspend_at = None;
            if world.session.keeps_app_running() {
                // A user-initiated job runs: the process lives on; look again later.
                script.suspend_at = Some(now + background_runtime);
            } else if app.running() && world.session.phase() == AppPhase::Background {
                world.session.app_stopped();
                app.stop().await?;
            }
        }
        if script.force_quit_at.is_some_and(|t| t <= now) {
            script.force_quit_at = None;
            script.suspend_at = None;
            world.session.force_quit();
            app.stop().await?;
        }
        if script.reopen_at.is_some_and(|t| t <= now) && script.force_quit_at.is_none() {
            script.reopen_at = None;
            world.session.to_foreground();
            if app.running() {
                app.set_foreground(true).await?;
            } else {
                app.launch(&world, true).await?;
            }
        }
    }
    let run_secs = start.elapsed().as_secs_f64();
    report(scenario, strategy, params, &world, &app, timeline, run_secs)
}

fn report(
    scenario: &str,
    strategy: Strategy,
    params: &ScenarioParams,
    world: &World,
    app: &impl SimApp,
    timeline: Timeline,
    run_secs: f64,
) -> Result<Outcome, String> {
    let total = world.files.len() as u64;
    let mut completed = 0;
    let mut duplicates = 0;
    let mut done = HashSet::new();
    let mut bytes_served = 0;
    let mut leftovers = 0;
    if strategy == Strategy::FerryDownload {
        for file in &world.files {
            bytes_served += world.server.bytes_served(&file.url_path[1..]);
            if file_matches(&world.download_path(&file.url_path), file) {
                completed += 1;
                done.insert(file.url_path.clone());
            }
        }
        leftovers = std::fs::read_dir(world.download_dir())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| entry.file_name().to_string_lossy().starts_with(".ferry-"))
                    .count() as u64
            })
            .unwrap_or(0);
    }
    for file in world
        .files
        .iter()
        .filter(|_| strategy != Strategy::FerryDownload)
    {
        if let Some(got) = world.server.received(&file.url_path) {
            duplicates += got.stored_count.saturating_sub(1);
            if got.len == file.len && got.sha256_hex == file.sha256_hex {
                completed += 1;
                done.insert(file.url_path.clone());
            }
        }
    }
    let lost = app
        .abandoned(world)
        .iter()
        .filter(|path| !done.contains(*path))
        .count() as u64;
    let stats = world.session.stats();
    let virtual_secs = timeline.reached(total).unwrap_or(run_secs);
    let open = ideal::open_spans(scenario, params);
    Ok(Outcome {
        scenario: scenario.to_owned(),
        strategy,
        completed,
        total,
        virtual_secs,
        longest_stall_secs: timeline.longest_stall(total, run_secs),
        os_tasks_created: stats.tasks_created,
        max_os_outstanding: stats.max_outstanding,
        duplicates,
        lost,
        os: stats,
        open_stall_secs: timeline.longest_open_stall(total, run_secs, &open),
        timeline,
        ideal_secs: ideal::ideal_secs(scenario, params),
        ideal_any_job_kind_secs: ideal::ideal_secs(scenario, &ideal::any_job_kind(params)),
        ideal_points: ideal::progress_points(
            &open,
            params.total_bytes() as f64,
            params.link_bytes_per_sec as f64,
        ),
        bytes_served,
        leftovers,
    })
}

/// Whether the file at `path` is `file`, byte for byte (by length and SHA-256).
fn file_matches(path: &Path, file: &SourceFile) -> bool {
    use sha2::{Digest, Sha256};
    std::fs::read(path).is_ok_and(|bytes| {
        bytes.len() as u64 == file.len && hex::encode(Sha256::digest(&bytes)) == file.sha256_hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_line_has_every_field_in_order() {
        let outcome = Outcome {
            scenario: "seed".into(),
            strategy: Strategy::Ferry,
            completed: 999,
            total: 1000,
            virtual_secs: 98.4,
            longest_stall_secs: 1.0,
            os_tasks_created: 3,
            max_os_outstanding: 2,
            duplicates: 0,
            lost: 1,
            os: crate::sim::SessionStats::default(),
            timeline: Timeline::default(),
            ideal_secs: 97.7,
            open_stall_secs: 1.0,
            ideal_any_job_kind_secs: 97.7,
            ideal_points: Vec::new(),
            bytes_served: 0,
            leftovers: 0,
        };
        assert_eq!(
            outcome.line(),
            "scenario=seed strategy=ferry completed=999/1000 virtual_secs=98 \
             longest_stall_secs=1 os_tasks_created=3 max_os_outstanding=2 duplicates=0 lost=1 \
             ideal_secs=98 ratio=inf open_stall_secs=1 ideal_any_job_kind_secs=98",
            "a file never completed: no ratio to the ideal"
        );
        let all_done = Outcome {
            completed: 1000,
            lost: 0,
            ..outcome
        };
        assert!(
            all_done
                .line()
                .contains("lost=0 ideal_secs=98 ratio=1.01 open_stall_secs=1 "),
            "{}",
            all_done.line()
        );
    }
}
