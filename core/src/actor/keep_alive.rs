//! Keeping the app running for Ferry's own transfers (`PlatformPolicy::keep_app_running`;
//! on Android 14+ one user-initiated data-transfer job, os-model.md rule 15).
//!
//! Such a job must be scheduled while the app is visible, is exempt from the standby
//! buckets' quotas and from Doze, and keeps the process alive until it ends. So with work
//! queued in the foreground Ferry asks for it once; while it is asked for or kept, every
//! transfer runs in-process (`LanePolicy::kept_alive`), in the background as in the
//! foreground, with Ferry's own limits, packing and retries, instead of waiting for the
//! OS's job windows. When nothing is left to do, or the queue shuts down, Ferry lets the
//! app stop. A refusal, or the OS ending it (the user's Stop, lost constraints), hands
//! work to the OS lane as without it, and Ferry does not ask again until the app next
//! comes to the foreground.
//!
//! It must never ask while the app is not in the foreground (the OS refuses, and counts
//! it), nor hold the keep-alive with nothing left to do.

use rusqlite::Connection;

use super::effects::Effects;
use super::engine::Engine;
use crate::StateKind;
use crate::conditions::AppState;
use crate::store;

/// Where the keep-alive stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum KeepAlive {
    /// Not asked for (or let go after the work was done): asked for when work is queued
    /// in the foreground.
    #[default]
    NotAsked,
    /// Asked for; the service's answer is on its way.
    Asking,
    /// Granted: the app runs until Ferry lets it stop.
    Kept,
    /// Refused, or ended by the OS: not asked for again until the app next comes to the
    /// foreground.
    Declined,
}

impl KeepAlive {
    /// Whether every transfer runs in-process now: kept, or asked for (so that the turn
    /// that asks does not hand work to the OS a moment before the answer).
    pub(super) fn keeps_transfers_in_process(self) -> bool {
        matches!(self, Self::Asking | Self::Kept)
    }
}

/// What the platform service is asked, after the turn is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeepAliveRequest {
    KeepRunning { remaining_bytes: u64 },
    LetStop,
}

impl Engine {
    /// Asks for the keep-alive or lets it go, as the queue's work and the app's state say.
    /// Runs in every turn before scheduling, so the turn's launches see the answer's lane.
    pub(super) fn keep_app_running_as_needed(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if !self.config.platform.keep_app_running || !self.platform.available() {
            return Ok(());
        }
        if self.stopping {
            self.let_app_stop(effects);
            return Ok(());
        }
        match self.keep_alive {
            KeepAlive::NotAsked if self.app_state == AppState::Foreground => {
                if let Some(remaining_bytes) = self.remaining_bytes(tx)? {
                    self.keep_alive = KeepAlive::Asking;
                    effects.keep_alive = Some(KeepAliveRequest::KeepRunning { remaining_bytes });
                    log::debug!("asking the platform to keep the app running");
                }
            }
            KeepAlive::Kept if self.in_flight.is_empty() && self.remaining_bytes(tx)?.is_none() => {
                self.let_app_stop(effects);
            }
            _ => {}
        }
        Ok(())
    }

    /// The service's answer. A grant for a keep-alive let go while it was asked for needs
    /// nothing: the driver carries the `let_app_stop` sent then after this answer.
    pub(super) fn on_keep_alive_answered(&mut self, granted: Result<(), String>) {
        if self.keep_alive != KeepAlive::Asking {
            return;
        }
        match granted {
            Ok(()) => {
                log::debug!("the platform keeps the app running");
                self.keep_alive = KeepAlive::Kept;
            }
            Err(message) => {
                log::info!("the platform will not keep the app running: {message}");
                self.keep_alive = KeepAlive::Declined;
            }
        }
    }

    /// The OS ended the keep-alive: the OS lane takes the work from now on. A late word
    /// about one Ferry already let go changes nothing.
    pub(super) fn on_keep_alive_ended(&mut self) {
        if self.keep_alive.keeps_transfers_in_process() {
            log::info!("the OS stopped keeping the app running; the OS lane takes the work");
            self.keep_alive = KeepAlive::Declined;
        }
    }

    /// The app came to the foreground: a declined keep-alive may be asked for again.
    pub(super) fn keep_alive_on_foreground(&mut self) {
        if self.keep_alive == KeepAlive::Declined {
            self.keep_alive = KeepAlive::NotAsked;
        }
    }

    /// Lets go of a keep-alive kept or asked for (the service ignores a `let_app_stop`
    /// after it refused).
    fn let_app_stop(&mut self, effects: &mut Effects) {
        if self.keep_alive.keeps_transfers_in_process() {
            effects.keep_alive = Some(KeepAliveRequest::LetStop);
            self.keep_alive = KeepAlive::NotAsked;
            log::debug!("letting the app stop");
        }
    }

    /// The bytes of queued and running transfers, this turn's changes included; `None`
    /// when there are none.
    fn remaining_bytes(&self, tx: &Connection) -> rusqlite::Result<Option<u64>> {
        let mut totals = store::totals(tx)?;
        totals.add_pending(&self.pending_totals);
        let (queued, queued_bytes) = totals.get(StateKind::Queued);
        let (running, running_bytes) = totals.get(StateKind::Running);
        Ok((queued + running > 0).then_some(queued_bytes.saturating_add(running_bytes)))
    }
}
