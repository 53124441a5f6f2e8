//! The simulated Android background-work scheduler (WorkManager on JobScheduler) for one
//! app, on tokio's clock. It models rules 11-16 of `shared/design/os-model.md` with the
//! parameters in [`AndroidParams`] and really uploads each job's file to the loopback
//! testkit server (see [`super::transport`]). It speaks the same [`OsSession`] words as
//! the iOS simulator: a task is a scheduled job, its description the job's unique name.
//!
//! - Rule 11: a worker runs at most `worker_budget`, then is stopped and rescheduled with
//!   exponential backoff (`backoff_initial` doubling, clamped to `backoff_min..max`); a
//!   failed attempt retries with the same backoff.
//! - Rule 12: the standby bucket allows `bucket_runtime` of job time per bucket period,
//!   and none with the network in `rare` and `restricted`; charging lifts all of it. In
//!   Doze (background, unplugged, after `doze_after`) jobs wait for maintenance windows.
//!   Jobs that lose their allowance are stopped and wait (no backoff).
//! - Rule 13: expedited jobs ignore buckets and Doze within their quota (at least
//!   `expedited_min_runtime`), then run as normal work or are dropped.
//! - Rule 14: a foreground service has no worker budget but `fgs_limit` per 24 h, then
//!   `onTimeout` ends it; it cannot be started from the background.
//! - Rule 15: a user-initiated job must be scheduled while the app is visible; it is
//!   exempt from quotas and Doze; [`AndroidSession::user_stop`] ends it for good. An app
//!   whose `job_kind` is `user_initiated` may also hold one such job that runs its own
//!   transfers (`keep_app_running`): its process is not stopped while the job runs.
//! - Rule 16: at most `job_cap` scheduled jobs.
//!
//! A force-stop removes every job without a callback; a process the system killed is
//! started again when a callback is pending.
//!
//! What it must never do: block (every method takes one short lock), sleep with anything
//! but tokio's clock, or know anything about Ferry.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::android_params::AndroidParams;
use super::session::{
    AppPhase, CreateError, OsSession, OsWake, SessionEvent, SessionStats, TaskError, TaskOutcome,
    TaskRequest,
};
use super::transport::{self, AttemptEnd, Outgoing, Wire};
use crate::uplink::Uplink;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Worker,
    Expedited,
    ForegroundService,
    UserInitiated,
}

impl Kind {
    fn parse(word: &str) -> Kind {
        match word {
            "expedited" => Kind::Expedited,
            "foreground_service" => Kind::ForegroundService,
            "user_initiated" => Kind::UserInitiated,
            _ => Kind::Worker,
        }
    }
}

struct Run {
    abort: AbortHandle,
    started: Instant,
    /// How it runs: expedited work out of quota runs as a worker.
    as_kind: Kind,
}

struct Job {
    description: String,
    outgoing: Outgoing,
    kind: Kind,
    not_before: Instant,
    attempts: u32,
    running: Option<Run>,
}

/// Runtime used within a period that starts over when it ends.
#[derive(Clone, Copy)]
struct Allowance {
    period_start: Instant,
    used: Duration,
}

impl Allowance {
    fn roll(&mut self, now: Instant, period: Duration) {
        if let Some(end) = self.period_start.checked_add(period)
            && end <= now
        {
            self.period_start = now;
            self.used = Duration::ZERO;
        }
    }
}

struct Scheduler {
    jobs: BTreeMap<u64, Job>,
    next_id: u64,
    phase: AppPhase,
    background_since: Option<Instant>,
    charging: bool,
    bucket: Allowance,
    expedited: Allowance,
    fgs: Allowance,
    accounted_until: Instant,
    delegate: Option<mpsc::UnboundedSender<SessionEvent>>,
    pending: VecDeque<SessionEvent>,
    pending_since: Option<Instant>,
    /// A user-initiated job that keeps the app running (`keep_app_running`).
    keep_alive: bool,
    stats: SessionStats,
}

impl Scheduler {
    /// Scheduled jobs, the keep-alive job included (rule 16 counts it).
    fn job_count(&self) -> u64 {
        self.jobs.len() as u64 + u64::from(self.keep_alive)
    }
}

struct Shared {
    params: AndroidParams,
    kind: Kind,
    wire: Wire,
    _never_frozen: watch::Sender<bool>,
    handle: Handle,
    scheduler: Mutex<Scheduler>,
    wake: Arc<Notify>,
    wakes: mpsc::UnboundedSender<OsWake>,
}

/// One app's background work, as Android sees it. Cheap to clone.
#[derive(Clone)]
pub struct AndroidSession {
    shared: Arc<Shared>,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl AndroidSession {
    /// A scheduler on the current runtime; the app starts visible.
    pub fn new(
        params: AndroidParams,
        http2: bool,
        uplink: Option<Arc<Uplink>>,
        charging: bool,
    ) -> Result<(Self, mpsc::UnboundedReceiver<OsWake>), String> {
        let handle = Handle::try_current().map_err(|_| {
            "the Android simulator must be created inside a tokio runtime".to_owned()
        })?;
        let (never_frozen, frozen) = watch::channel(false);
        let (wakes, wakes_rx) = mpsc::unbounded_channel();
        let wire = Wire {
            client: transport::client(http2)?,
            uplink,
            chunk_bytes: params.chunk_bytes,
            idle_timeout: params.idle_timeout,
            frozen,
        };
        let now = Instant::now();
        let fresh = Allowance {
            period_start: now,
            used: Duration::ZERO,
        };
        let scheduler = Scheduler {
            jobs: BTreeMap::new(),
            next_id: 1,
            phase: AppPhase::Foreground,
            background_since: None,
            charging,
            bucket: fresh,
            expedited: fresh,
            fgs: fresh,
            accounted_until: now,
            delegate: None,
            pending: VecDeque::new(),
            pending_since: None,
            keep_alive: false,
            stats: SessionStats::default(),
        };
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            kind: Kind::parse(params.job_kind),
            params,
            wire,
            _never_frozen: never_frozen,
            handle: handle.clone(),
            scheduler: Mutex::new(scheduler),
            wake: Arc::clone(&wake),
            wakes,
        });
        handle.spawn(schedule(Arc::downgrade(&shared), wake));
        Ok((Self { shared }, wakes_rx))
    }

    fn scheduler(&self) -> MutexGuard<'_, Scheduler> {
        self.shared.scheduler()
    }

    /// The user pressed Stop on a user-initiated job (rule 15): it ends, not rescheduled.
    pub fn user_stop(&self, task: u64) {
        let mut scheduler = self.scheduler();
        self.shared.account(&mut scheduler, Instant::now());
        if let Some(job) = scheduler.jobs.remove(&task) {
            if let Some(run) = job.running {
                run.abort.abort();
            }
            let event = completed(task, job.description, TaskError::StoppedByUser, "stopped");
            self.shared.deliver(&mut scheduler, event);
        }
        drop(scheduler);
        self.shared.wake.notify_one();
    }

    /// Whether the device dozes now (rule 12).
    pub fn dozing(&self) -> bool {
        let scheduler = self.scheduler();
        self.shared.doze(&scheduler, Instant::now()).0
    }

    pub fn set_charging(&self, charging: bool) {
        self.scheduler().charging = charging;
        self.shared.wake.notify_one();
    }
}

fn completed(task: u64, description: String, error: TaskError, message: &str) -> SessionEvent {
    SessionEvent::Completed {
        task,
        description,
        outcome: TaskOutcome::Error {
            error,
            message: message.to_owned(),
        },
    }
}

impl OsSession for AndroidSession {
    fn create_task(&self, request: TaskRequest) -> Result<u64, CreateError> {
        let body_len = request.body_len()?;
        let params = &self.shared.params;
        let kind = self.shared.kind;
        let mut scheduler = self.scheduler();
        if scheduler.job_count() >= params.job_cap {
            scheduler.stats.refused += 1;
            return Err(CreateError::TooManyJobs(params.job_cap)); // rule 16
        }
        let visible = scheduler.phase == AppPhase::Foreground;
        if matches!(kind, Kind::UserInitiated | Kind::ForegroundService) && !visible {
            scheduler.stats.refused += 1;
            return Err(CreateError::NotVisible); // rules 14, 15
        }
        let id = scheduler.next_id;
        scheduler.next_id += 1;
        scheduler.stats.tasks_created += 1;
        scheduler.jobs.insert(
            id,
            Job {
                description: request.description,
                outgoing: Outgoing {
                    url: request.url,
                    method: request.method,
                    headers: request.headers,
                    body_path: request.body_path,
                    body_len,
                    download_to: request.download_to,
                },
                kind,
                not_before: Instant::now(),
                attempts: 0,
                running: None,
            },
        );
        let outstanding = scheduler.job_count();
        scheduler.stats.max_outstanding = scheduler.stats.max_outstanding.max(outstanding);
        drop(scheduler);
        self.shared.wake.notify_one();
        Ok(id)
    }

    fn cancel(&self, task: u64) {
        let mut scheduler = self.scheduler();
        self.shared.account(&mut scheduler, Instant::now());
        if let Some(job) = scheduler.jobs.remove(&task) {
            if let Some(run) = job.running {
                run.abort.abort();
            }
            let event = completed(task, job.description, TaskError::Cancelled, "cancelled");
            self.shared.deliver(&mut scheduler, event);
        }
        drop(scheduler);
        self.shared.wake.notify_one();
    }

    fn all_tasks(&self) -> Vec<(u64, String)> {
        self.scheduler()
            .jobs
            .iter()
            .map(|(id, job)| (*id, job.description.clone()))
            .collect()
    }

    fn connect(&self) -> mpsc::UnboundedReceiver<SessionEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut scheduler = self.scheduler();
        let queued: Vec<_> = scheduler.pending.drain(..).collect();
        for event in queued {
            if matches!(event, SessionEvent::Completed { .. }) {
                scheduler.stats.delivered += 1;
            }
            let _ = sender.send(event);
        }
        scheduler.pending_since = None;
        scheduler.delegate = Some(sender);
        receiver
    }

    fn to_foreground(&self) {
        let mut scheduler = self.scheduler();
        scheduler.phase = AppPhase::Foreground;
        scheduler.background_since = None;
        drop(scheduler);
        self.shared.wake.notify_one();
    }

    fn to_background(&self) {
        let mut scheduler = self.scheduler();
        scheduler.phase = AppPhase::Background;
        scheduler.background_since.get_or_insert(Instant::now());
        drop(scheduler);
        self.shared.wake.notify_one();
    }

    fn app_stopped(&self) {
        let mut scheduler = self.scheduler();
        scheduler.phase = AppPhase::NotRunning;
        scheduler.background_since.get_or_insert(Instant::now());
        scheduler.delegate = None;
        if !scheduler.pending.is_empty() {
            scheduler.pending_since = Some(Instant::now());
        }
        drop(scheduler);
        self.shared.wake.notify_one();
    }

    fn force_quit(&self) {
        let mut scheduler = self.scheduler();
        scheduler.phase = AppPhase::ForceQuit;
        scheduler.delegate = None;
        scheduler.stats.force_quits += 1;
        scheduler.keep_alive = false;
        for (_, job) in std::mem::take(&mut scheduler.jobs) {
            if let Some(run) = job.running {
                run.abort.abort();
            }
            scheduler.stats.vanished += 1; // a force-stop cancels jobs without a callback
        }
        scheduler.pending_since = None;
        drop(scheduler);
        self.shared.wake.notify_one();
    }

    fn phase(&self) -> AppPhase {
        self.scheduler().phase
    }

    fn stats(&self) -> SessionStats {
        self.scheduler().stats.clone()
    }

    fn outstanding(&self) -> usize {
        self.scheduler().jobs.len()
    }

    fn pending_events(&self) -> usize {
        self.scheduler().pending.len()
    }

    fn pending_descriptions(&self) -> Vec<String> {
        self.scheduler()
            .pending
            .iter()
            .filter_map(|event| match event {
                SessionEvent::Completed { description, .. } => Some(description.clone()),
                _ => None,
            })
            .collect()
    }

    fn background_runtime(&self) -> Duration {
        self.shared.params.background_runtime
    }

    fn keep_app_running(&self) -> Result<(), CreateError> {
        let mut scheduler = self.scheduler();
        if self.shared.kind != Kind::UserInitiated {
            return Err(CreateError::NoKeepAlive);
        }
        if scheduler.keep_alive {
            return Ok(());
        }
        if scheduler.job_count() >= self.shared.params.job_cap {
            scheduler.stats.refused += 1;
            return Err(CreateError::TooManyJobs(self.shared.params.job_cap)); // rule 16
        }
        if scheduler.phase != AppPhase::Foreground {
            scheduler.stats.refused += 1;
            return Err(CreateError::NotVisible); // rule 15
        }
        scheduler.keep_alive = true;
        scheduler.stats.keep_alives += 1;
        scheduler.stats.tasks_created += 1;
        let outstanding = scheduler.job_count();
        scheduler.stats.max_outstanding = scheduler.stats.max_outstanding.max(outstanding);
        Ok(())
    }

    fn let_app_stop(&self) {
        self.scheduler().keep_alive = false;
    }

    fn keeps_app_running(&self) -> bool {
        self.scheduler().keep_alive
    }
}

impl Shared {
    fn scheduler(&self) -> MutexGuard<'_, Scheduler> {
        self.scheduler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, scheduler: &mut Scheduler, event: SessionEvent) {
        let progress = matches!(event, SessionEvent::Progress { .. });
        let running = matches!(scheduler.phase, AppPhase::Foreground | AppPhase::Background);
        let event = match (&scheduler.delegate, running) {
            (Some(delegate), true) => match delegate.send(event) {
                Ok(()) => {
                    if !progress {
                        scheduler.stats.delivered += 1;
                    }
                    return;
                }
                Err(mpsc::error::SendError(event)) => event,
            },
            _ => event,
        };
        if progress {
            return;
        }
        scheduler.pending.push_back(event);
        if scheduler.phase == AppPhase::NotRunning && scheduler.pending_since.is_none() {
            scheduler.pending_since = Some(Instant::now());
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let p = &self.params;
        let doublings = attempts.saturating_sub(1).min(30);
        p.backoff_initial
            .saturating_mul(1 << doublings)
            .clamp(p.backoff_min, p.backoff_max.max(p.backoff_min))
    }

    /// Whether the device dozes at `now`, whether a maintenance window is open, and when
    /// that changes next.
    fn doze(&self, scheduler: &Scheduler, now: Instant) -> (bool, bool, Option<Instant>) {
        let p = &self.params;
        let Some(since) = scheduler.background_since else {
            return (false, false, None);
        };
        if !p.doze || scheduler.charging || scheduler.phase == AppPhase::Foreground {
            return (false, false, None);
        }
        let Some(start) = since.checked_add(p.doze_after) else {
            return (false, false, None);
        };
        if now < start {
            return (false, false, Some(start));
        }
        let every = p.doze_window_every.max(Duration::from_secs(1));
        let into = now.duration_since(start);
        let cycles = (into.as_secs_f64() / every.as_secs_f64()).floor() as u32;
        let cycle_start = start + every * cycles;
        let in_window = cycles >= 1 && now < cycle_start + p.doze_window_len;
        let next = if in_window {
            cycle_start + p.doze_window_len
        } else {
            cycle_start + every
        };
        (true, in_window, Some(next))
    }

    /// Whether normal work may run now, and when to look again.
    fn worker_allowed(&self, scheduler: &Scheduler, now: Instant) -> (bool, Option<Instant>) {
        let p = &self.params;
        let (dozing, window, doze_next) = self.doze(scheduler, now);
        if scheduler.charging {
            return (true, doze_next);
        }
        let (period, network) = p.bucket_rules();
        let quota_left = period.is_none() || scheduler.bucket.used < p.bucket_runtime;
        let mut next = doze_next;
        if let Some(period) = period {
            let renew = scheduler.bucket.period_start + period;
            next = Some(next.map_or(renew, |n| n.min(renew)));
        }
        (network && quota_left && (!dozing || window), next)
    }

    /// Adds the time since the last tick to the allowances in use.
    fn account(&self, scheduler: &mut Scheduler, now: Instant) {
        let elapsed = now.saturating_duration_since(scheduler.accounted_until);
        scheduler.accounted_until = now;
        let kinds: Vec<Kind> = scheduler
            .jobs
            .values()
            .filter_map(|job| job.running.as_ref().map(|run| run.as_kind))
            .collect();
        if kinds.contains(&Kind::Worker) && !scheduler.charging {
            scheduler.bucket.used += elapsed;
        }
        if kinds.contains(&Kind::Expedited) {
            scheduler.expedited.used += elapsed;
        }
        if kinds.contains(&Kind::ForegroundService) {
            scheduler.fgs.used += elapsed;
        }
        if let (Some(period), _) = self.params.bucket_rules() {
            scheduler.bucket.roll(now, period);
        }
        scheduler.expedited.roll(now, DAY);
        scheduler.fgs.roll(now, DAY);
    }

    fn tick(self: &Arc<Self>) -> Option<Instant> {
        let p = &self.params;
        let now = Instant::now();
        let mut guard = self.scheduler();
        let scheduler = &mut *guard;
        self.account(scheduler, now);
        let mut next: Option<Instant> = None;
        // Deadlines already past were handled in this tick; never spin on them.
        let mut at = |when: Instant| {
            if when > now {
                next = Some(next.map_or(when, |n: Instant| n.min(when)));
            }
        };
        let (worker_ok, worker_next) = self.worker_allowed(scheduler, now);
        if let Some(when) = worker_next {
            at(when);
        }
        let expedited_left = scheduler.expedited.used < p.expedited_quota;
        let fgs_left = scheduler.fgs.used < p.fgs_limit;

        // Stop running jobs that lost their allowance.
        let mut stops = Vec::new();
        let mut ends = Vec::new();
        for (id, job) in &scheduler.jobs {
            let Some(run) = &job.running else { continue };
            let ran = now.duration_since(run.started);
            match run.as_kind {
                Kind::Worker | Kind::Expedited => {
                    let budget_end = run.started + p.worker_budget;
                    if budget_end <= now {
                        stops.push((*id, true)); // rule 11: backoff
                        continue;
                    }
                    at(budget_end);
                    let allowed = if run.as_kind == Kind::Worker {
                        worker_ok
                    } else {
                        expedited_left || ran < p.expedited_min_runtime
                    };
                    if !allowed {
                        stops.push((*id, false));
                    } else if run.as_kind == Kind::Worker && !scheduler.charging {
                        at(now + p.bucket_runtime.saturating_sub(scheduler.bucket.used));
                    } else if run.as_kind == Kind::Expedited {
                        at(now + p.expedited_quota.saturating_sub(scheduler.expedited.used));
                        at(run.started + p.expedited_min_runtime);
                    }
                }
                Kind::ForegroundService => {
                    if fgs_left {
                        at(now + p.fgs_limit.saturating_sub(scheduler.fgs.used));
                    } else {
                        ends.push(*id); // rule 14: onTimeout
                    }
                }
                Kind::UserInitiated => {}
            }
        }
        for (id, with_backoff) in stops {
            let backoff = if with_backoff {
                scheduler
                    .jobs
                    .get(&id)
                    .map(|j| self.backoff(j.attempts + 1))
            } else {
                None
            };
            if let Some(job) = scheduler.jobs.get_mut(&id)
                && let Some(run) = job.running.take()
            {
                run.abort.abort();
                scheduler.stats.jobs_stopped += 1;
                if let Some(backoff) = backoff {
                    job.attempts += 1;
                    job.not_before = now + backoff;
                }
            }
        }
        for id in ends {
            if let Some(job) = scheduler.jobs.remove(&id) {
                if let Some(run) = job.running {
                    run.abort.abort();
                }
                let event = completed(
                    id,
                    job.description,
                    TaskError::StoppedBySystem,
                    "the foreground service's time ran out (onTimeout)",
                );
                self.deliver(scheduler, event);
            }
        }

        // Start what may run.
        let mut running = scheduler
            .jobs
            .values()
            .filter(|j| j.running.is_some())
            .count() as u64;
        let mut starts = Vec::new();
        let mut drops = Vec::new();
        for (id, job) in &scheduler.jobs {
            if running >= p.max_running {
                break;
            }
            if job.running.is_some() {
                continue;
            }
            if job.not_before > now {
                at(job.not_before);
                continue;
            }
            let as_kind = match job.kind {
                Kind::Worker if worker_ok => Kind::Worker,
                Kind::Expedited if expedited_left => Kind::Expedited,
                Kind::Expedited if p.expedited_drop_out_of_quota => {
                    drops.push(*id);
                    continue;
                }
                Kind::Expedited if worker_ok => Kind::Worker, // rule 13: run as normal work
                Kind::ForegroundService if fgs_left => Kind::ForegroundService,
                Kind::UserInitiated => Kind::UserInitiated,
                _ => continue,
            };
            starts.push((*id, as_kind));
            running += 1;
        }
        for id in drops {
            if let Some(job) = scheduler.jobs.remove(&id) {
                let event = completed(
                    id,
                    job.description,
                    TaskError::StoppedBySystem,
                    "expedited work dropped out of quota",
                );
                self.deliver(scheduler, event);
            }
        }
        if !starts.is_empty() {
            // Look again at once: the allowances of the jobs started now set deadlines.
            self.wake.notify_one();
        }
        for (id, as_kind) in starts {
            let Some(job) = scheduler.jobs.get_mut(&id) else {
                continue;
            };
            let handle = self
                .handle
                .spawn(run_job(Arc::clone(self), id, job.outgoing.clone()));
            job.running = Some(Run {
                abort: handle.abort_handle(),
                started: now,
                as_kind,
            });
            at(now + p.worker_budget);
        }
        let in_flight = scheduler
            .jobs
            .values()
            .filter(|j| j.running.is_some())
            .count() as u64;
        scheduler.stats.max_in_flight = scheduler.stats.max_in_flight.max(in_flight);

        // A pending callback starts the app's process.
        if scheduler.phase == AppPhase::NotRunning
            && let Some(since) = scheduler.pending_since
        {
            let due = since + p.relaunch_after;
            if due <= now {
                scheduler.phase = AppPhase::Background;
                scheduler.pending_since = None;
                scheduler.stats.relaunches += 1;
                let _ = self.wakes.send(OsWake::RelaunchedInBackground);
            } else {
                at(due);
            }
        }
        next
    }

    /// A job's attempt ended.
    fn finish(&self, task: u64, end: AttemptEnd) {
        let mut scheduler = self.scheduler();
        self.account(&mut scheduler, Instant::now());
        let outcome = match end {
            AttemptEnd::Response { status, headers } => TaskOutcome::Response { status, headers },
            AttemptEnd::FileChanged(message) => TaskOutcome::Error {
                error: TaskError::FileChanged,
                message,
            },
            AttemptEnd::Idle | AttemptEnd::Network(_) => {
                // The worker returns `Result.retry()`: backoff (rule 11).
                let backoff = scheduler
                    .jobs
                    .get(&task)
                    .map(|job| self.backoff(job.attempts + 1));
                if let (Some(job), Some(backoff)) = (scheduler.jobs.get_mut(&task), backoff) {
                    job.running = None;
                    job.attempts += 1;
                    job.not_before = Instant::now() + backoff;
                    scheduler.stats.daemon_retries += 1;
                }
                drop(scheduler);
                self.wake.notify_one();
                return;
            }
        };
        let Some(job) = scheduler.jobs.remove(&task) else {
            return;
        };
        let event = SessionEvent::Completed {
            task,
            description: job.description,
            outcome,
        };
        self.deliver(&mut scheduler, event);
        drop(scheduler);
        self.wake.notify_one();
    }

    fn progress(&self, task: u64, sent: u64, total: u64) {
        let mut scheduler = self.scheduler();
        let Some(description) = scheduler.jobs.get(&task).map(|j| j.description.clone()) else {
            return;
        };
        let event = SessionEvent::Progress {
            task,
            description,
            sent,
            total,
        };
        self.deliver(&mut scheduler, event);
    }
}

async fn run_job(shared: Arc<Shared>, task: u64, outgoing: Outgoing) {
    let total = outgoing.body_len;
    let weak = Arc::downgrade(&shared);
    let progress = move |sent| {
        if let Some(shared) = weak.upgrade() {
            shared.progress(task, sent, total);
        }
    };
    // A worker that fetches writes the body as it comes; stopped, it starts its segment
    // over when it runs again (WorkManager keeps no resume data).
    let end = if outgoing.download_to.is_some() {
        transport::download(&shared.wire, &outgoing, &mut None, progress).await
    } else {
        transport::attempt(&shared.wire, &outgoing, progress).await
    };
    shared.finish(task, end);
}

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
