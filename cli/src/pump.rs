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
use std::time::{Duration, SystemTime};

use ferry::{Subscription, TransferQueue};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::error::CliError;
use crate::host_report;
use crate::patience::{Patience, Verdict};
use crate::progress_ui::ProgressUi;
use crate::signals::StopSignals;
use crate::tally::Tally;

/// How often the bars are refreshed from `queue.progress()`.
const POLL_EVERY: Duration = Duration::from_millis(250);

pub struct Pump<'q> {
    queue: &'q TransferQueue,
    events: Subscription,
    events_open: bool,
    tally: Tally,
    ui: ProgressUi,
    ticker: Interval,
    signals: StopSignals,
    patience: Patience,
    /// The patience ran out once: later refreshes (reading the records for the summary)
    /// only redraw.
    gave_up: bool,
    /// Stall reports as JSON lines (`--json`) instead of text.
    json: bool,
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
            patience: Patience::new(patience, Instant::now()),
            gave_up: false,
            json,
        }
    }

    /// Awaits `work`, keeping bars and counts current, unless a stop signal comes first.
    pub async fn drive<F: Future>(&mut self, work: F) -> Result<F::Output, CliError> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                output = &mut work => return Ok(output),
                by = self.signals.recv() => return Err(CliError::Interrupted { by, rerun_finishes: true }),
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
                self.report_stall(idle_for, &hosts);
                Ok(())
            }
            Verdict::GiveUp(idle_for) => {
                self.gave_up = true;
                let hosts = self.queue.host_status().await?;
                Err(CliError::GaveUp {
                    idle_for,
                    hosts: host_report::lines(&hosts, SystemTime::now()),
                })
            }
        }
    }

    fn report_stall(&self, idle_for: Duration, hosts: &[ferry::HostStatus]) {
        let now = SystemTime::now();
        if self.json {
            let report = serde_json::json!({
                "stalled_secs": idle_for.as_secs(),
                "hosts": host_report::json(hosts, now),
            });
            self.ui.println(&report.to_string());
            return;
        }
        self.ui.println(&format!(
            "waiting: nothing moved for {}s",
            idle_for.as_secs()
        ));
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
