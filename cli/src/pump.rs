//! Keeps the screen and the counts current while the caller waits on the queue.
//!
//! What it is for: `drive(work)` awaits one queue call (an enqueue batch, `wait_idle`)
//! while, around it, it reads every event into the [`Tally`], polls `queue.progress()`
//! four times a second for the bars, says per host why the queue waits when nothing moves
//! ([`crate::patience`]), and watches for the stop signals (Ctrl-C, SIGTERM, SIGHUP:
//! `signals.rs`).
//!
//! What it must never do: change the queue's state or decide outcomes; it only observes.
//! On a stop signal it returns `Interrupted`, and when nothing moved for the whole
//! patience `GaveUp`; it leaves the clean shutdown to the caller.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferry::{Subscription, TransferQueue};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::bearer::CommandClock;
use crate::error::CliError;
use crate::gave_up::GaveUp;
use crate::host_report;
use crate::patience::{Patience, Verdict};
use crate::progress_ui::ProgressUi;
use crate::signals::StopSignals;
use crate::tally::Tally;

/// How often the bars are refreshed from `queue.progress()`.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// A `--bearer-command` that has run this long when the queue waits is named as a cause.
const BEARER_COMMAND_NAMED_AFTER: Duration = Duration::from_secs(5);
/// Stop signals this soon after the first are the same request, not a second one (which
/// gives up on the summary): `timeout` sends its signal to the process and then to its
/// process group, so the process gets it twice (the review saw 2 in 12 `timeout -s INT`
/// runs end without their summary).
const REPEATED_SIGNAL_WITHIN: Duration = Duration::from_secs(2);

pub struct Pump<'q> {
    queue: &'q TransferQueue,
    events: Subscription,
    events_open: bool,
    tally: Tally,
    ui: ProgressUi,
    ticker: Interval,
    signals: StopSignals,
    /// When the first stop signal came.
    stopped_at: Option<Instant>,
    patience: Patience,
    /// The patience ran out once: later refreshes (reading the records for the summary)
    /// only redraw.
    gave_up: bool,
    /// Stall reports as JSON lines (`--json`) instead of text.
    json: bool,
    /// How long the `--bearer-command` has been running, if one is used.
    bearer_clock: Option<Arc<CommandClock>>,
}

impl<'q> Pump<'q> {
    /// Subscribes to `queue` now: events from here on are counted. When nothing moves,
    /// it reports why on stderr (as JSON lines if `json`), and gives up after `patience`.
    pub fn new(queue: &'q TransferQueue, ui: ProgressUi, patience: Duration, json: bool) -> Self {
        let mut ticker = tokio::time::interval(POLL_EVERY);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Self {
            queue,
            events: queue.subscribe(),
            events_open: true,
            tally: Tally::default(),
            ui,
            ticker,
            signals: StopSignals::install(),
            stopped_at: None,
            patience: Patience::new(patience, Instant::now()),
            gave_up: false,
            json,
            bearer_clock: None,
        }
    }

    /// Names the `--bearer-command` in the waiting reports while it runs for long.
    pub fn naming_the_bearer_command(mut self, clock: Option<Arc<CommandClock>>) -> Self {
        self.bearer_clock = clock;
        self
    }

    /// How long the `--bearer-command` has run, once that is long enough to name it.
    fn bearer_command_running_for(&self) -> Option<Duration> {
        let running_for = self
            .bearer_clock
            .as_ref()?
            .running_for(std::time::Instant::now())?;
        (running_for >= BEARER_COMMAND_NAMED_AFTER).then_some(running_for)
    }

    /// Awaits `work`, keeping bars and counts current, unless a stop signal comes first.
    pub async fn drive<F: Future>(&mut self, work: F) -> Result<F::Output, CliError> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                output = &mut work => return Ok(output),
                by = self.signals.recv() => {
                    let now = Instant::now();
                    if self
                        .stopped_at
                        .is_some_and(|first| now.duration_since(first) < REPEATED_SIGNAL_WITHIN)
                    {
                        continue;
                    }
                    self.stopped_at.get_or_insert(now);
                    return Err(CliError::Interrupted { by, rerun_finishes: true });
                }
                event = self.events.next(), if self.events_open => match event {
                    Some(event) => self.tally.record(&event),
                    None => self.events_open = false,
                },
                _ = self.ticker.tick() => self.refresh().await?,
            }
        }
    }

    /// Counts every event already delivered (the engine sends a turn's events before it
    /// answers the call that the turn completed, so after `wait_idle` this catches all).
    pub fn drain(&mut self) {
        while let Some(event) = self.events.try_next() {
            self.tally.record(&event);
        }
    }

    /// Polls the queue's progress and redraws; says why the queue waits when nothing
    /// moved for a while, and gives up when nothing moved for the whole patience.
    pub async fn refresh(&mut self) -> Result<(), CliError> {
        let progress = self.queue.progress().await?;
        self.ui.update(&progress, &self.tally);
        if self.gave_up {
            return Ok(());
        }
        match self.patience.observe(&progress, Instant::now()) {
            Verdict::Wait => Ok(()),
            Verdict::Report(idle_for) => {
                let hosts = self.queue.host_status().await?;
                let now = SystemTime::now();
                if let Some(next_try_in) = no_try_within(&hosts, self.patience.limit(), now) {
                    // Waiting out the patience could not help: say so now.
                    self.gave_up = true;
                    return Err(CliError::GaveUp(GaveUp {
                        idle_secs: idle_for.as_secs(),
                        next_try_in_secs: Some(next_try_in.as_secs()),
                        waiting_for: Vec::new(),
                        hosts: host_report::lines(&hosts, now),
                    }));
                }
                self.report_stall(idle_for, &hosts);
                Ok(())
            }
            Verdict::GiveUp(idle_for) => {
                self.gave_up = true;
                let hosts = self.queue.host_status().await?;
                let bearer = self.bearer_command_running_for().map(bearer_command_line);
                Err(CliError::GaveUp(GaveUp {
                    idle_secs: idle_for.as_secs(),
                    next_try_in_secs: None,
                    waiting_for: bearer.into_iter().collect(),
                    hosts: host_report::lines(&hosts, SystemTime::now()),
                }))
            }
        }
    }

    fn report_stall(&self, idle_for: Duration, hosts: &[ferry::HostStatus]) {
        let now = SystemTime::now();
        let bearer = self.bearer_command_running_for();
        if self.json {
            let report = serde_json::json!({
                "stalled_secs": idle_for.as_secs(),
                "bearer_command_running_secs": bearer.map(|running| running.as_secs()),
                "hosts": host_report::json(hosts, now),
            });
            self.ui.println(&report.to_string());
            return;
        }
        self.ui.println(&format!(
            "waiting: nothing moved for {}s",
            idle_for.as_secs()
        ));
        if let Some(running_for) = bearer {
            self.ui
                .println(&format!("  {}", bearer_command_line(running_for)));
        }
        for line in host_report::lines(hosts, now) {
            self.ui.println(&format!("  {line}"));
        }
    }

    pub fn ui(&self) -> &ProgressUi {
        &self.ui
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }
}

/// How long until the earliest next try, when no request runs and none is due within a
/// whole `patience` from `now`: waiting could not help (a server's `Retry-After` beyond the
/// patience). A probe of a down host is due well within it (`patience.rs`).
fn no_try_within(
    hosts: &[ferry::HostStatus],
    patience: Duration,
    now: SystemTime,
) -> Option<Duration> {
    if hosts.iter().any(|host| host.running > 0) {
        return None;
    }
    let earliest = hosts
        .iter()
        .filter(|host| host.queued > 0)
        .map(|host| host.next_attempt_at)
        .min()??;
    let next_try_in = earliest.duration_since(now).unwrap_or_default();
    (next_try_in > patience).then_some(next_try_in)
}

/// What a waiting push says of a `--bearer-command` that has not answered.
fn bearer_command_line(running_for: Duration) -> String {
    format!(
        "the --bearer-command has run for {}s without printing a token: transfers that need \
         one wait for it (it gets no input: check that it does not prompt, or wait for a \
         network that is down)",
        running_for.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use ferry::{HostHealth, HostStatus};

    use super::*;

    fn host(queued: u64, running: u64, next_in: Option<u64>, now: SystemTime) -> HostStatus {
        let mut host = HostStatus::default();
        host.host = "h:1".into();
        host.health = HostHealth::Healthy;
        host.queued = queued;
        host.running = running;
        host.next_attempt_at = next_in.map(|secs| now + Duration::from_secs(secs));
        host
    }

    #[test]
    fn only_a_queue_with_nothing_running_and_nothing_due_within_the_patience_is_given_up_early() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let patience = Duration::from_secs(60);
        let later = [host(3, 0, Some(900), now), host(1, 0, Some(600), now)];
        assert_eq!(
            no_try_within(&later, patience, now),
            Some(Duration::from_secs(600)),
            "the earliest try counts"
        );
        let one_due = [host(3, 0, Some(900), now), host(1, 0, Some(30), now)];
        assert_eq!(no_try_within(&one_due, patience, now), None);
        let one_running = [host(3, 0, Some(900), now), host(0, 1, None, now)];
        assert_eq!(no_try_within(&one_running, patience, now), None);
        let nothing_queued = [host(0, 0, None, now)];
        assert_eq!(no_try_within(&nothing_queued, patience, now), None);
    }
}
