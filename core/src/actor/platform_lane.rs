//! The actor's side of the platform lane: handing transfers to the OS, applying the OS's
//! reports, taking stalled work back, and reconciling with the OS's own list of tasks.
//!
//! Like the rest of the actor, everything here changes state only inside the turn's
//! transaction, and talks to the OS only through the [`PlatformDriver`] after the commit
//! (the outbox). It must never call the platform service directly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::Connection;
use tokio::time::Instant;

use super::{Engine, FlightLane, InFlight, Outbox};
use crate::classify::AttemptOutcome;
use crate::conditions::AppState;
use crate::events::TransferEvent;
use crate::lane::AttemptProgress;
use crate::platform::{BodyPlan, Handoff, PlatformReport, to_attempt_outcome};
use crate::resumable::ResumableProtocol;
use crate::scheduler::LanePolicy;
use crate::store;
use crate::upload::{SourceSnapshot, UploadMethod};
use crate::{Transfer, TransferId};
use rand::Rng;

impl Engine {
    pub(super) fn lane_policy(&self) -> LanePolicy {
        let policy = &self.config.platform;
        LanePolicy {
            app_state: self.app_state,
            platform_available: self.platform.is_some(),
            large_file_threshold: policy.large_file_threshold,
            max_platform_tasks: policy.max_platform_tasks,
        }
    }

    /// A key for a new OS task: `<transfer id>.<attempt>.<random>`. Attempts are numbered
    /// again after a requeue without a verdict, so the random part is what keeps a late
    /// report from an older task off a newer one.
    pub(super) fn new_handoff_key(
        &mut self,
        id: &TransferId,
        attempt: u32,
        suffix: &str,
    ) -> String {
        let nonce: u32 = self.rng.random();
        format!("{id}.{attempt}.{nonce:08x}{suffix}")
    }

    /// Records an OS task for a transfer already saved as `Running{Platform{key}}`; the
    /// driver starts it after the commit.
    pub(super) fn hand_off(
        &mut self,
        transfer: Transfer,
        key: String,
        generation: u64,
        progress: Arc<AttemptProgress>,
        outbox: &mut Outbox,
    ) {
        let upload = &transfer.upload;
        let method = match upload.method {
            UploadMethod::Put => "PUT",
            UploadMethod::Post | UploadMethod::PostMultipart { .. } => "POST",
        };
        let mut headers = upload.headers.clone();
        headers.push((
            self.config.idempotency_header.clone(),
            transfer.id.to_string(),
        ));
        let ietf_interop_version = match self
            .config
            .resumable
            .protocol_for(&upload.destination, transfer.size)
        {
            Some(ResumableProtocol::Ietf { interop_version }) => {
                headers.push((
                    "Upload-Draft-Interop-Version".into(),
                    interop_version.to_string(),
                ));
                let complete = if interop_version <= 3 {
                    ("Upload-Incomplete", "?0")
                } else {
                    ("Upload-Complete", "?1")
                };
                headers.push((complete.0.into(), complete.1.into()));
                Some(interop_version)
            }
            Some(ResumableProtocol::Tus) | None => None,
        };
        let handoff = Handoff {
            key: key.clone(),
            transfer_id: transfer.id.to_string(),
            body_path: upload.source.clone(),
            url: upload.destination.clone(),
            method: method.into(),
            headers,
            expected_bytes: transfer.size,
            allow_expensive: upload.constraints.allow_expensive,
            allow_constrained: upload.constraints.allow_constrained,
            discretionary: self.app_state == AppState::Background,
            ietf_interop_version,
        };
        let bodies = self
            .platform
            .as_ref()
            .map(|driver| driver.bodies().to_path_buf())
            .unwrap_or_default();
        let body = BodyPlan::File {
            source: upload.source.clone(),
            snapshot: SourceSnapshot {
                size: transfer.size,
                mtime_ns: transfer.source_mtime_ns,
            },
            method: upload.method.clone(),
            temp_path: bodies.join(format!("{key}.body")),
        };
        outbox.handoffs.push((handoff, body));
        self.platform_keys
            .insert(key.clone(), vec![transfer.id.clone()]);
        self.in_flight.insert(
            transfer.id.clone(),
            InFlight {
                transfer,
                generation,
                progress,
                lane: FlightLane::Platform {
                    key,
                    handoff_query: self.outstanding_queries,
                    last_activity: Instant::now(),
                },
                reported_bytes: 0,
                batched: false,
            },
        );
    }

    /// Transfers found running on the OS at open: watched like any other OS task.
    /// The members of a packed batch share their key and are adopted as one batch.
    pub(super) fn adopt(&mut self, transfers: Vec<Transfer>) {
        let mut by_key: HashMap<String, Vec<Transfer>> = HashMap::new();
        for transfer in transfers {
            if let crate::TransferState::Running {
                lane: crate::Lane::Platform { handoff_key },
            } = &transfer.state
            {
                by_key
                    .entry(handoff_key.clone())
                    .or_default()
                    .push(transfer);
            }
        }
        for (key, members) in by_key {
            self.next_generation += 1;
            let batched = members.len() > 1;
            let ids = members.iter().map(|transfer| transfer.id.clone()).collect();
            self.platform_keys.insert(key.clone(), ids);
            for transfer in members {
                let progress = Arc::new(AttemptProgress::new(Arc::clone(&self.lane.bytes_moved)));
                self.in_flight.insert(
                    transfer.id.clone(),
                    InFlight {
                        transfer,
                        generation: self.next_generation,
                        progress,
                        lane: FlightLane::Platform {
                            key: key.clone(),
                            handoff_query: 0,
                            last_activity: Instant::now(),
                        },
                        reported_bytes: 0,
                        batched,
                    },
                );
            }
        }
    }

    pub(super) fn on_platform_report(
        &mut self,
        tx: &Connection,
        report: PlatformReport,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        match report {
            PlatformReport::Progress {
                key,
                bytes_sent,
                bytes_total,
            } => {
                self.on_platform_progress(&key, bytes_sent, bytes_total);
                Ok(())
            }
            PlatformReport::Finished { key, outcome } => {
                let flights = self.take_platform_flights(&key);
                if flights.is_empty() {
                    log::debug!("ignored a report for {key}: it is no longer running");
                    return Ok(());
                }
                outbox.platform_releases.push(key.clone());
                match to_attempt_outcome(&outcome, self.clock.now()) {
                    Some(outcome) => self.conclude_platform(tx, flights, &outcome, outbox),
                    None => {
                        log::info!("the OS cancelled {key} ({outcome:?}); queued again");
                        for flight in flights {
                            self.requeue_without_verdict(tx, flight, outbox)?;
                        }
                        Ok(())
                    }
                }
            }
            PlatformReport::Started { key } => {
                self.touch_platform_task(&key);
                Ok(())
            }
            PlatformReport::Rejected { key, outcome } => {
                let flights = self.take_platform_flights(&key);
                self.conclude_platform(tx, flights, &outcome, outbox)
            }
            PlatformReport::PartsLeftOut { key, parts } => {
                for (id, outcome) in parts {
                    if let Some(flight) = self.take_batch_member(&key, &id) {
                        self.conclude(tx, flight, &outcome, outbox)?;
                    }
                }
                Ok(())
            }
            PlatformReport::Outstanding { query, keys } => {
                self.on_outstanding(tx, query, keys, outbox)
            }
        }
    }

    /// Records one request's outcome on every file it carried.
    fn conclude_platform(
        &mut self,
        tx: &Connection,
        flights: Vec<InFlight>,
        outcome: &AttemptOutcome,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        if let Some(first) = flights.first() {
            let host = first.transfer.host.clone();
            self.record_health(&host, outcome);
        }
        for flight in flights {
            self.conclude(tx, flight, outcome, outbox)?;
        }
        Ok(())
    }

    /// `body_total` is the body's size, which for a multipart body or a packed batch is
    /// more than the files': each file's progress is the same fraction of its size.
    fn on_platform_progress(&mut self, key: &str, body_sent: u64, body_total: u64) {
        let Some(ids) = self.platform_keys.get(key) else {
            return;
        };
        for id in ids {
            let Some(flight) = self.in_flight.get_mut(id) else {
                continue;
            };
            let size = flight.transfer.size;
            let bytes_sent = match body_total {
                0 => body_sent.min(size),
                total => {
                    let scaled =
                        u128::from(body_sent.min(total)) * u128::from(size) / u128::from(total);
                    u64::try_from(scaled).unwrap_or(size)
                }
            };
            if bytes_sent != flight.progress.bytes_sent() {
                flight.progress.set_bytes_sent(bytes_sent);
            }
        }
        // The task moved if its body did, whatever each file's rounded share says.
        let previous = self.platform_body_sent.insert(key.to_owned(), body_sent);
        if previous != Some(body_sent) {
            self.touch_platform_task(key);
            self.stall_watch.moved(Instant::now());
        }
    }

    /// Restarts the stall timer of every file of the OS task `key`.
    fn touch_platform_task(&mut self, key: &str) {
        let Some(ids) = self.platform_keys.get(key) else {
            return;
        };
        let now = Instant::now();
        for id in ids {
            if let Some(FlightLane::Platform { last_activity, .. }) =
                self.in_flight.get_mut(id).map(|flight| &mut flight.lane)
            {
                *last_activity = now;
            }
        }
    }

    /// The keys of the OS tasks for which `matches(key, handoff_query, last_activity)`
    /// holds, each once (the files of a packed batch share one task).
    fn platform_tasks_where(&self, matches: impl Fn(&str, u64, Instant) -> bool) -> Vec<String> {
        self.platform_keys
            .iter()
            .filter_map(|(key, ids)| {
                let flight = ids.first().and_then(|id| self.in_flight.get(id))?;
                let FlightLane::Platform {
                    handoff_query,
                    last_activity,
                    ..
                } = &flight.lane
                else {
                    return None;
                };
                matches(key, *handoff_query, *last_activity).then(|| key.clone())
            })
            .collect()
    }

    /// Every file of the OS task `key`, taken out of `in_flight`.
    fn take_platform_flights(&mut self, key: &str) -> Vec<InFlight> {
        self.platform_body_sent.remove(key);
        let ids = self.platform_keys.remove(key).unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.in_flight.remove(id))
            .collect()
    }

    /// One file of the packed OS task `key`, taken out of it.
    fn take_batch_member(&mut self, key: &str, id: &str) -> Option<InFlight> {
        let ids = self.platform_keys.get_mut(key)?;
        let position = ids.iter().position(|member| member.as_str() == id)?;
        let id = ids.remove(position);
        if ids.is_empty() {
            self.platform_keys.remove(key);
        }
        self.in_flight.remove(&id)
    }

    /// Tasks the OS no longer knows went away without a report (a force-quit can do
    /// that): their transfers run again.
    fn on_outstanding(
        &mut self,
        tx: &Connection,
        query: u64,
        keys: Vec<String>,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let outstanding: HashSet<String> = keys.into_iter().collect();
        let vanished = self.platform_tasks_where(|key, handoff_query, _| {
            handoff_query < query && !outstanding.contains(key)
        });
        for key in vanished {
            let flights = self.take_platform_flights(&key);
            log::info!("the OS lost {key} without a report; queued again");
            outbox.platform_releases.push(key);
            for flight in flights {
                self.requeue_without_verdict(tx, flight, outbox)?;
            }
        }
        Ok(())
    }

    /// Back in the foreground (a "wake"): OS tasks get a fresh stall timer, since time in
    /// the background is not the OS stalling, and the OS is asked which tasks it still has.
    pub(super) fn on_foreground(&mut self, outbox: &mut Outbox) {
        let now = Instant::now();
        for flight in self.in_flight.values_mut() {
            if let FlightLane::Platform { last_activity, .. } = &mut flight.lane {
                *last_activity = now;
            }
        }
        self.stall_watch.moved(now);
        if self.platform.is_some() {
            self.outstanding_queries += 1;
            outbox.outstanding_query = Some(self.outstanding_queries);
        }
    }

    /// In the foreground, an OS task that has not moved for `platform_stall_timeout` is
    /// cancelled and its transfer taken back in-process: the seed's five-minute stall,
    /// recovered in `platform_stall_timeout`.
    pub(super) fn recover_platform_stalls(
        &mut self,
        tx: &Connection,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        if self.app_state != AppState::Foreground {
            return Ok(());
        }
        let now = Instant::now();
        let timeout = self.config.platform.platform_stall_timeout;
        let stalled = self.platform_tasks_where(|_, _, last_activity| {
            now.saturating_duration_since(last_activity) >= timeout
        });
        for key in stalled {
            let flights = self.take_platform_flights(&key);
            log::info!("the OS made no progress on {key} for {timeout:?}; taking it back");
            outbox.platform_cancels.push(key);
            for flight in flights {
                let id = flight.transfer.id.clone();
                self.taken_back.insert(id.clone());
                outbox
                    .events
                    .push(TransferEvent::TakenBackFromPlatform { id });
                self.requeue_without_verdict(tx, flight, outbox)?;
            }
        }
        Ok(())
    }

    /// Queues a transfer again after an attempt that ended without a verdict; it does not
    /// use up the retry budget.
    pub(super) fn requeue_without_verdict(
        &mut self,
        tx: &Connection,
        flight: InFlight,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let mut transfer = flight.transfer;
        if !transfer.requeue_without_verdict(self.clock.now()) {
            return Ok(());
        }
        store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)?;
        outbox
            .events
            .push(TransferEvent::Requeued { id: transfer.id });
        Ok(())
    }
}
