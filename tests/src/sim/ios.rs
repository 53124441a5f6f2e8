//! The simulated iOS background-session daemon (`nsurlsessiond`) for one app's session,
//! on tokio's clock. It models rules 1-10 of `shared/design/os-model.md` with the
//! parameters in [`IosParams`], and really uploads each task's file to the loopback
//! testkit server (see [`super::transport`]).
//!
//! The app (a scenario's naive app, or Ferry's shim) talks to it as to `URLSession`:
//! [`IosSession::create_task`] (`uploadTask(with:fromFile:)` + `resume()`),
//! [`IosSession::cancel`], [`IosSession::all_tasks`] (`getAllTasks`), and receives
//! delegate callbacks on the channel returned by [`IosSession::connect`] (recreating the
//! session with its identifier). The scenario plays the user and the OS with
//! [`IosSession::to_foreground`], [`IosSession::to_background`],
//! [`IosSession::app_stopped`] (suspension or system kill) and
//! [`IosSession::force_quit`]; relaunches for pending events arrive on the
//! [`OsWake`] channel.
//!
//! What it must never do: block (every method takes one short lock and returns; work runs
//! on the runtime captured at construction), sleep with anything but tokio's clock, or
//! know anything about Ferry.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::ios_params::IosParams;
use super::rate_limiter::ResumeRateLimiter;
use super::session::{
    AppPhase, CreateError, OsSession, OsWake, SessionEvent, SessionStats, TaskError, TaskOutcome,
    TaskRequest,
};
use super::transport::{self, AttemptEnd, Outgoing, Wire};
use crate::uplink::Uplink;

/// The device's conditions, for discretionary tasks (rule 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub charging: bool,
    pub wifi: bool,
}

struct Task {
    description: String,
    outgoing: Outgoing,
    host: String,
    created: Instant,
    not_before: Instant,
    discretionary: bool,
    running: Option<AbortHandle>,
}

struct Daemon {
    tasks: BTreeMap<u64, Task>,
    next_id: u64,
    phase: AppPhase,
    limiter: ResumeRateLimiter,
    rng: StdRng,
    device: Device,
    frozen_until: Option<Instant>,
    stall_armed: Option<Instant>,
    app_busy_until: Instant,
    delegate: Option<mpsc::UnboundedSender<SessionEvent>>,
    /// Queued while the app does not run (rule 8).
    pending: VecDeque<SessionEvent>,
    pending_since: Option<Instant>,
    /// Held while the daemon is frozen (rule 5).
    held: Vec<SessionEvent>,
    last_progress: HashMap<u64, Instant>,
    stats: SessionStats,
}

struct Shared {
    params: IosParams,
    http2: bool,
    wire: Wire,
    frozen: watch::Sender<bool>,
    handle: Handle,
    daemon: Mutex<Daemon>,
    wake: Arc<Notify>,
    wakes: mpsc::UnboundedSender<OsWake>,
}

/// One app's background session, as the daemon sees it. Cheap to clone.
#[derive(Clone)]
pub struct IosSession {
    shared: Arc<Shared>,
}

impl IosSession {
    /// A session on the current runtime, sending with HTTP/2 (prior knowledge) or
    /// HTTP/1.1, each chunk crossing `uplink`. The app starts in the foreground.
    pub fn new(
        params: IosParams,
        http2: bool,
        uplink: Option<Arc<Uplink>>,
        device: Device,
    ) -> Result<(Self, mpsc::UnboundedReceiver<OsWake>), String> {
        let handle = Handle::try_current()
            .map_err(|_| "the iOS simulator must be created inside a tokio runtime".to_owned())?;
        let (frozen, frozen_rx) = watch::channel(false);
        let (wakes, wakes_rx) = mpsc::unbounded_channel();
        let wire = Wire {
            client: transport::client(http2)?,
            uplink,
            chunk_bytes: params.chunk_bytes,
            idle_timeout: params.idle_timeout,
            frozen: frozen_rx,
        };
        let now = Instant::now();
        let daemon = Daemon {
            tasks: BTreeMap::new(),
            next_id: 1,
            phase: AppPhase::Foreground,
            limiter: ResumeRateLimiter::new(params.d0, params.d_max),
            rng: StdRng::seed_from_u64(params.seed),
            device,
            frozen_until: None,
            stall_armed: None,
            app_busy_until: now,
            delegate: None,
            pending: VecDeque::new(),
            pending_since: None,
            held: Vec::new(),
            last_progress: HashMap::new(),
            stats: SessionStats::default(),
        };
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            params,
            http2,
            wire,
            frozen,
            handle: handle.clone(),
            daemon: Mutex::new(daemon),
            wake: Arc::clone(&wake),
            wakes,
        });
        handle.spawn(schedule(Arc::downgrade(&shared), wake));
        Ok((Self { shared }, wakes_rx))
    }

    fn daemon(&self) -> MutexGuard<'_, Daemon> {
        self.shared.daemon()
    }

    /// `uploadTask(with:fromFile:)` + `resume()`. Returns the task identifier.
    pub fn create_task(&self, request: TaskRequest) -> Result<u64, CreateError> {
        let body_len = request.body_len()?;
        let params = &self.shared.params;
        let now = Instant::now();
        let mut daemon = self.daemon();
        let id = daemon.next_id;
        daemon.next_id += 1;
        daemon.stats.tasks_created += 1;
        // Rule 5: creating a task costs app time; it cannot start before it exists.
        let created = daemon.app_busy_until.max(now) + params.create_cost;
        daemon.app_busy_until = created;
        let foreground = daemon.phase == AppPhase::Foreground;
        let discretionary = if foreground {
            params.foreground_discretionary
        } else {
            true // rule 2
        };
        let mut not_before = created;
        if !foreground {
            not_before = not_before.max(daemon.limiter.earliest_start(now)); // rule 1
        }
        not_before += random_upto(&mut daemon.rng, params.lat_max); // rule 3
        if daemon.tasks.len() as u64 >= params.n_meltdown {
            // Rule 5: far too many tasks; the daemon fails them in bulk.
            daemon.stats.melted += 1;
            let event = SessionEvent::Completed {
                task: id,
                description: request.description,
                outcome: TaskOutcome::Error {
                    error: TaskError::TooManyTasks,
                    message: "the background session has too many tasks".into(),
                },
            };
            self.shared.deliver(&mut daemon, event);
            return Ok(id);
        }
        let host = reqwest::Url::parse(&request.url)
            .ok()
            .and_then(|url| url.host_str().map(|h| format!("{h}:{:?}", url.port())))
            .unwrap_or_default();
        daemon.tasks.insert(
            id,
            Task {
                description: request.description,
                outgoing: Outgoing {
                    url: request.url,
                    method: request.method,
                    headers: request.headers,
                    body_path: request.body_path,
                    body_len,
                    download_to: request.download_to,
                },
                host,
                created: now,
                not_before,
                discretionary,
                running: None,
            },
        );
        let outstanding = daemon.tasks.len() as u64;
        daemon.stats.max_outstanding = daemon.stats.max_outstanding.max(outstanding);
        drop(daemon);
        self.shared.wake.notify_one();
        Ok(id)
    }

    /// `task.cancel()`: the task ends with `Cancelled`.
    pub fn cancel(&self, task: u64) {
        let mut daemon = self.daemon();
        if let Some(removed) = daemon.tasks.remove(&task) {
            if let Some(running) = removed.running {
                running.abort();
            }
            let event = SessionEvent::Completed {
                task,
                description: removed.description,
                outcome: TaskOutcome::Error {
                    error: TaskError::Cancelled,
                    message: "cancelled".into(),
                },
            };
            self.shared.deliver(&mut daemon, event);
        }
        drop(daemon);
        self.shared.wake.notify_one();
    }

    /// `getAllTasks` (rule 9): every unfinished task with its description.
    pub fn all_tasks(&self) -> Vec<(u64, String)> {
        self.daemon()
            .tasks
            .iter()
            .map(|(id, task)| (*id, task.description.clone()))
            .collect()
    }

    /// The app (re)creates its session with the same identifier: queued events are
    /// delivered first (completions, then `FinishedEvents`), later ones as they happen.
    pub fn connect(&self) -> mpsc::UnboundedReceiver<SessionEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut daemon = self.daemon();
        let queued: Vec<_> = daemon.pending.drain(..).collect();
        let had_events = !queued.is_empty();
        for event in queued {
            if is_completion(&event) {
                daemon.stats.delivered += 1;
            }
            let _ = sender.send(event);
        }
        if had_events {
            let _ = sender.send(SessionEvent::FinishedEvents);
        }
        daemon.pending_since = None;
        daemon.delegate = Some(sender);
        receiver
    }

    /// The user brings the app to the foreground (or opens it): the rate limiter resets.
    pub fn to_foreground(&self) {
        let mut daemon = self.daemon();
        daemon.phase = AppPhase::Foreground;
        daemon.limiter.foreground();
        drop(daemon);
        self.shared.wake.notify_one();
    }

    /// The user leaves the app; it keeps running until it is stopped.
    pub fn to_background(&self) {
        self.daemon().phase = AppPhase::Background;
    }

    /// The system suspends or kills the app: tasks go on, events queue (rule 8).
    pub fn app_stopped(&self) {
        let mut daemon = self.daemon();
        daemon.phase = AppPhase::NotRunning;
        daemon.delegate = None;
        if daemon.pending.iter().any(is_completion) {
            daemon.pending_since = Some(Instant::now());
        }
        drop(daemon);
        self.shared.wake.notify_one();
    }

    /// The user force-quits the app (rule 8): every task is cancelled with
    /// `CancelledUserForceQuit`, some vanish without an event, and the app is not
    /// relaunched until the user opens it.
    pub fn force_quit(&self) {
        let mut daemon = self.daemon();
        daemon.phase = AppPhase::ForceQuit;
        daemon.delegate = None;
        daemon.stats.force_quits += 1;
        let held: Vec<_> = daemon.held.drain(..).collect();
        daemon
            .pending
            .extend(held.into_iter().filter(is_completion));
        let tasks = std::mem::take(&mut daemon.tasks);
        for (task, removed) in tasks {
            if let Some(running) = removed.running {
                running.abort();
            }
            if daemon
                .rng
                .random_bool(self.shared.params.p_vanish.clamp(0.0, 1.0))
            {
                daemon.stats.vanished += 1;
                continue;
            }
            daemon.pending.push_back(SessionEvent::Completed {
                task,
                description: removed.description,
                outcome: TaskOutcome::Error {
                    error: TaskError::CancelledUserForceQuit,
                    message: "cancelled: the user force-quit the app".into(),
                },
            });
        }
        daemon.pending_since = None;
        drop(daemon);
        self.shared.wake.notify_one();
    }

    /// Charging and Wi-Fi, for discretionary tasks.
    pub fn set_device(&self, device: Device) {
        self.daemon().device = device;
        self.shared.wake.notify_one();
    }

    pub fn phase(&self) -> AppPhase {
        self.daemon().phase
    }

    pub fn stats(&self) -> SessionStats {
        self.daemon().stats.clone()
    }

    /// Events queued for an app that does not run.
    pub fn pending_events(&self) -> usize {
        self.daemon().pending.len()
    }

    /// The descriptions of tasks whose completion is queued for the app.
    pub fn pending_descriptions(&self) -> Vec<String> {
        self.daemon()
            .pending
            .iter()
            .filter_map(|event| match event {
                SessionEvent::Completed { description, .. } => Some(description.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn outstanding(&self) -> usize {
        self.daemon().tasks.len()
    }

    /// Whether the daemon is in a rule-5 stall now.
    pub fn is_frozen(&self) -> bool {
        *self.shared.wire.frozen.borrow()
    }

    /// The resume delay in force now (rule 1).
    pub fn resume_delay(&self) -> Duration {
        self.daemon().limiter.delay(Instant::now())
    }

    pub fn params(&self) -> &IosParams {
        &self.shared.params
    }

    pub fn http2(&self) -> bool {
        self.shared.http2
    }
}

impl OsSession for IosSession {
    fn create_task(&self, request: TaskRequest) -> Result<u64, CreateError> {
        IosSession::create_task(self, request)
    }
    fn cancel(&self, task: u64) {
        IosSession::cancel(self, task)
    }
    fn all_tasks(&self) -> Vec<(u64, String)> {
        IosSession::all_tasks(self)
    }
    fn connect(&self) -> mpsc::UnboundedReceiver<SessionEvent> {
        IosSession::connect(self)
    }
    fn to_foreground(&self) {
        IosSession::to_foreground(self)
    }
    fn to_background(&self) {
        IosSession::to_background(self)
    }
    fn app_stopped(&self) {
        IosSession::app_stopped(self)
    }
    fn force_quit(&self) {
        IosSession::force_quit(self)
    }
    fn phase(&self) -> AppPhase {
        IosSession::phase(self)
    }
    fn stats(&self) -> SessionStats {
        IosSession::stats(self)
    }
    fn outstanding(&self) -> usize {
        IosSession::outstanding(self)
    }
    fn pending_events(&self) -> usize {
        IosSession::pending_events(self)
    }
    fn pending_descriptions(&self) -> Vec<String> {
        IosSession::pending_descriptions(self)
    }
    fn background_runtime(&self) -> Duration {
        self.shared.params.background_runtime
    }
}

impl Shared {
    fn daemon(&self) -> MutexGuard<'_, Daemon> {
        self.daemon.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers, holds (frozen) or queues (app not running) an event.
    fn deliver(&self, daemon: &mut Daemon, event: SessionEvent) {
        let progress = matches!(event, SessionEvent::Progress { .. });
        if *self.wire.frozen.borrow() {
            if !progress {
                daemon.held.push(event);
            }
            return;
        }
        let running = matches!(daemon.phase, AppPhase::Foreground | AppPhase::Background);
        let event = match (&daemon.delegate, running) {
            (Some(delegate), true) => match delegate.send(event) {
                Ok(()) => {
                    if !progress {
                        daemon.stats.delivered += 1;
                    }
                    return;
                }
                Err(mpsc::error::SendError(event)) => event,
            },
            _ => event,
        };
        if progress {
            return; // progress is not queued for an app that does not run
        }
        daemon.pending.push_back(event);
        if daemon.phase == AppPhase::NotRunning && daemon.pending_since.is_none() {
            daemon.pending_since = Some(Instant::now());
        }
    }

    /// A task's attempt ended for good.
    fn complete(&self, task: u64, outcome: TaskOutcome) {
        let mut daemon = self.daemon();
        let Some(removed) = daemon.tasks.remove(&task) else {
            return; // cancelled meanwhile
        };
        daemon.last_progress.remove(&task);
        let event = SessionEvent::Completed {
            task,
            description: removed.description,
            outcome,
        };
        self.deliver(&mut daemon, event);
        drop(daemon);
        self.wake.notify_one();
    }

    fn progress(&self, task: u64, sent: u64, total: u64) {
        let now = Instant::now();
        let mut daemon = self.daemon();
        let due = daemon
            .last_progress
            .get(&task)
            .is_none_or(|last| now.duration_since(*last) >= Duration::from_secs(1));
        if !due && sent < total {
            return;
        }
        daemon.last_progress.insert(task, now);
        let Some(description) = daemon.tasks.get(&task).map(|t| t.description.clone()) else {
            return;
        };
        let event = SessionEvent::Progress {
            task,
            description,
            sent,
            total,
        };
        self.deliver(&mut daemon, event);
    }

    /// One pass of the daemon: thaw, stall, time out, start, relaunch. Returns when to
    /// look again.
    fn tick(self: &Arc<Self>) -> Option<Instant> {
        let params = &self.params;
        let now = Instant::now();
        let mut daemon = self.daemon();
        let mut next: Option<Instant> = None;
        // Deadlines already past were handled in this tick; never spin on them.
        let mut at = |when: Instant| {
            if when > now {
                next = Some(next.map_or(when, |n: Instant| n.min(when)));
            }
        };

        // Rule 5: the stall ends; held events go out.
        if let Some(until) = daemon.frozen_until {
            if until <= now {
                daemon.frozen_until = None;
                self.frozen.send_replace(false);
                let held: Vec<_> = daemon.held.drain(..).collect();
                for event in held {
                    self.deliver(&mut daemon, event);
                }
            } else {
                at(until);
            }
        }
        // Rule 7: seven days and a task fails.
        let expired: Vec<u64> = daemon
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.created
                    .checked_add(params.resource_timeout)
                    .is_some_and(|end| end <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(task) = daemon.tasks.remove(&id) {
                if let Some(running) = task.running {
                    running.abort();
                }
                let event = SessionEvent::Completed {
                    task: id,
                    description: task.description,
                    outcome: TaskOutcome::Error {
                        error: TaskError::TimedOut,
                        message: "the resource timeout ran out".into(),
                    },
                };
                self.deliver(&mut daemon, event);
            }
        }
        if let Some(end) = daemon
            .tasks
            .values()
            .filter_map(|t| t.created.checked_add(params.resource_timeout))
            .min()
        {
            at(end);
        }
        if daemon.frozen_until.is_none() {
            self.start_due(&mut daemon, now, &mut at);
        }
        // Rule 5: too many outstanding tasks stall the session after `stall_after` of progress.
        let running = daemon
            .tasks
            .values()
            .filter(|t| t.running.is_some())
            .count() as u64;
        daemon.stats.max_in_flight = daemon.stats.max_in_flight.max(running);
        if daemon.frozen_until.is_none() {
            if daemon.tasks.len() as u64 >= params.n_stall && running > 0 {
                let armed = *daemon.stall_armed.get_or_insert(now);
                let begins = armed.checked_add(params.stall_after).unwrap_or(armed);
                if begins <= now {
                    daemon.stall_armed = None;
                    daemon.stats.stalls += 1;
                    let until = now.checked_add(params.t_stall).unwrap_or(now);
                    daemon.frozen_until = Some(until);
                    self.frozen.send_replace(true);
                    at(until);
                } else {
                    at(begins);
                }
            } else {
                daemon.stall_armed = None;
            }
        }
        // Rule 8: pending completions relaunch an app the system stopped.
        if daemon.phase == AppPhase::NotRunning
            && let Some(since) = daemon.pending_since
        {
            let due = since + params.relaunch_after;
            if due <= now {
                daemon.phase = AppPhase::Background;
                daemon.pending_since = None;
                daemon.limiter.background_resume(now); // a relaunch is a resume (rule 1)
                daemon.stats.relaunches += 1;
                let _ = self.wakes.send(OsWake::RelaunchedInBackground);
            } else {
                at(due);
            }
        }
        next
    }

    fn start_due(
        self: &Arc<Self>,
        daemon: &mut Daemon,
        now: Instant,
        at: &mut impl FnMut(Instant),
    ) {
        let params = &self.params;
        let conditions_optimal = (!params.discretionary_needs_charging || daemon.device.charging)
            && (!params.discretionary_needs_wifi || daemon.device.wifi);
        let mut per_host: HashMap<String, u64> = HashMap::new();
        let mut in_flight = 0u64;
        for task in daemon.tasks.values().filter(|t| t.running.is_some()) {
            *per_host.entry(task.host.clone()).or_default() += 1;
            in_flight += 1;
        }
        let mut starts = Vec::new();
        for (id, task) in &daemon.tasks {
            if task.running.is_some() {
                continue;
            }
            if task.not_before > now {
                at(task.not_before);
                continue;
            }
            if task.discretionary && !conditions_optimal {
                continue; // rule 2: set_device wakes the daemon
            }
            let to_host = per_host.entry(task.host.clone()).or_default();
            if !self.http2 && *to_host >= params.max_conn_per_host {
                continue; // rule 4: HTTP/1.1 honours the limit; HTTP/2 ignores it
            }
            *to_host += 1;
            in_flight += 1;
            starts.push((*id, in_flight));
        }
        for (id, in_flight_now) in starts {
            if self.http2 && params.h2_parse_fault && in_flight_now > params.h2_parse_fault_above {
                if let Some(task) = daemon.tasks.remove(&id) {
                    let event = SessionEvent::Completed {
                        task: id,
                        description: task.description,
                        outcome: TaskOutcome::Error {
                            error: TaskError::CannotParseResponse,
                            message: "cannot parse response".into(),
                        },
                    };
                    self.deliver(daemon, event);
                }
                continue;
            }
            let Some(task) = daemon.tasks.get_mut(&id) else {
                continue;
            };
            let outgoing = task.outgoing.clone();
            let shared = Arc::clone(self);
            let handle = self.handle.spawn(run_task(shared, id, outgoing));
            task.running = Some(handle.abort_handle());
        }
    }
}

/// One task from start to its end, retrying itself after idleness (rule 7; restarting at
/// byte 0, rule 10 for a server without resumable uploads).
async fn run_task(shared: Arc<Shared>, task: u64, outgoing: Outgoing) {
    if outgoing.download_to.is_some() {
        return run_download_task(shared, task, outgoing).await;
    }
    let total = outgoing.body_len;
    loop {
        let progress = {
            let weak = Arc::downgrade(&shared);
            move |sent| {
                if let Some(shared) = weak.upgrade() {
                    shared.progress(task, sent, total);
                }
            }
        };
        let outcome = match transport::attempt(&shared.wire, &outgoing, progress).await {
            AttemptEnd::Idle => {
                shared.daemon().stats.daemon_retries += 1;
                continue;
            }
            AttemptEnd::Response { status, headers } => TaskOutcome::Response { status, headers },
            AttemptEnd::FileChanged(message) => TaskOutcome::Error {
                error: TaskError::FileChanged,
                message,
            },
            AttemptEnd::Network(message) => TaskOutcome::Error {
                error: TaskError::Network,
                message,
            },
        };
        shared.complete(task, outcome);
        return;
    }
}

/// A download task from start to its end: cut short (or idle), the daemon resumes it
/// itself from its resume data, up to `download_resumes` times; a resume fails with
/// `p_resume_fails`, and data older than `resume_data_ttl` has expired: then the task
/// starts over from its own first byte (the bytes of this task only are lost).
async fn run_download_task(shared: Arc<Shared>, task: u64, outgoing: Outgoing) {
    let mut resume = None;
    let mut resumes = 0;
    loop {
        let progress = {
            let weak = Arc::downgrade(&shared);
            move |received| {
                if let Some(shared) = weak.upgrade() {
                    shared.progress(task, received, 0);
                }
            }
        };
        let end = transport::download(&shared.wire, &outgoing, &mut resume, progress).await;
        let message = match end {
            AttemptEnd::Response { status, headers } => {
                shared.complete(task, TaskOutcome::Response { status, headers });
                return;
            }
            AttemptEnd::Idle => "no bytes for the idle timeout".to_owned(),
            AttemptEnd::Network(message) | AttemptEnd::FileChanged(message) => message,
        };
        let params = &shared.params;
        if resumes >= params.download_resumes {
            let _ = tokio::fs::remove_file(transport::download_temp(
                outgoing
                    .download_to
                    .as_deref()
                    .unwrap_or(std::path::Path::new("")),
            ))
            .await;
            shared.complete(
                task,
                TaskOutcome::Error {
                    error: TaskError::Network,
                    message,
                },
            );
            return;
        }
        resumes += 1;
        let mut daemon = shared.daemon();
        daemon.stats.daemon_retries += 1;
        if resume.is_some() {
            daemon.stats.resumes += 1;
            let expired = resume.as_ref().is_some_and(|data: &transport::ResumeData| {
                data.made.elapsed() >= params.resume_data_ttl
            });
            let rejected = daemon.rng.random::<f64>() < params.p_resume_fails;
            if expired || rejected {
                daemon.stats.resumes_failed += 1;
                resume = None;
            }
        }
    }
}

/// The daemon's loop: a tick whenever something changed or a deadline came.
async fn schedule(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let notified = wake.notified();
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let next = strong.tick();
        drop(strong);
        match next {
            Some(when) => {
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(when) => {}
                }
            }
            None => notified.await,
        }
    }
}

fn is_completion(event: &SessionEvent) -> bool {
    matches!(event, SessionEvent::Completed { .. })
}

fn random_upto(rng: &mut StdRng, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let secs = max.as_secs_f64().min(1e9);
    Duration::from_secs_f64(rng.random_range(0.0..secs))
}
