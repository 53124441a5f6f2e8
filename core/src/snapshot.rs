//! A read-only look at a queue's database: what `ferry status` shows, and what an app or
//! a tool may read at any time, also while another process (a push, the app itself)
//! drives the queue.
//!
//! What it is for: from one read transaction of the stored rows, the files by state (each
//! file counted once, by its newest record, so a failure a later run uploaded counts as
//! uploaded), the transfers that wait and why (next try, attempts, last error), the
//! failures that still stand, and per host what waits for it.
//!
//! What it must never do: write to the database, requeue a transfer, take the
//! one-process lock, migrate a schema, or start a transfer. Host health here is inferred
//! from the errors stored with the transfers: a host's breaker lives in the memory of the
//! process that drives the queue (`TransferQueue::host_status` there).

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::clock::from_ms;
use crate::error::TransferError;
use crate::progress::StateCount;
use crate::state::StateKind;
use crate::store::{self, ReadOnlyStore, StateTotals};
use crate::{Error, Transfer};

/// What a queue's database held at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueSnapshot {
    /// The database that was read, as given to [`QueueSnapshot::read`].
    pub database: PathBuf,
    /// When it was read.
    pub taken_at: SystemTime,
    /// The group read ([`QueueSnapshot::read_group`]): every count and list below is of
    /// its transfers alone. `None` for the whole queue.
    pub group: Option<String>,
    /// Whether a process held the queue open (a push, an app) when it was read; `None`
    /// where the system cannot tell. Transfers stored as running while no process holds
    /// the queue were interrupted: the next opener queues them again.
    pub in_use: Option<bool>,
    /// Files by the state of their newest record, every state in [`StateKind::ALL`]
    /// order. A file is a source and a destination: a run that finds a file's last
    /// transfer failed or cancelled enqueues a new one, and the newest counts.
    pub files: Vec<StateCount>,
    /// Of [`files`](Self::files), the downloads (files fetched into a local path), by
    /// the state of their newest record, every state: the rest are uploads.
    pub downloads: Vec<StateCount>,
    /// Records (rows) by state, every state: older records of a file are counted too.
    pub records: Vec<StateCount>,
    /// Every host with queued or running transfers, by name.
    pub hosts: Vec<HostSummary>,
    /// Queued transfers, the soonest due first, at most [`SnapshotLimits::waiting`].
    pub waiting: Vec<Transfer>,
    /// Of [`waiting`](Self::waiting), the downloads whose partial file holds bytes
    /// durably (what their next attempt continues from), with that many bytes.
    pub held_bytes: Vec<(crate::TransferId, u64)>,
    /// Files whose newest record failed or waits for credentials, in enqueue order, at
    /// most [`SnapshotLimits::failures`] (their number is in `files`).
    pub failures: Vec<Transfer>,
}

/// What waits for one host, as the stored transfers tell it. It may gain fields.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostSummary {
    /// `host:port` of the destinations.
    pub host: String,
    /// Transfers to this host waiting to run (due now or later).
    pub queued: u64,
    /// Transfers stored as running: sent now if the queue is in use, else interrupted.
    pub running: u64,
    /// Of the queued, those whose last attempt failed: they wait for a retry.
    pub queued_after_failure: u64,
    /// The earliest retry time of its queued transfers. The driving process's breaker
    /// may hold a host back longer; it is not stored.
    pub next_attempt_at: Option<SystemTime>,
    /// The failure most recently stored with one of its queued transfers.
    pub last_error: Option<TransferError>,
    /// When that failure was stored.
    pub last_error_at: Option<SystemTime>,
}

/// How many transfers a snapshot lists (the counts always cover every one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// At most this many of the queued transfers, the soonest due first.
    pub waiting: usize,
    /// At most this many failures.
    pub failures: usize,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        Self {
            waiting: 100,
            failures: 1000,
        }
    }
}

impl QueueSnapshot {
    /// Reads the queue database at `path` without opening the queue: read-only, in one
    /// read transaction, on the blocking pool. Works while another process drives the
    /// queue. A missing file is [`crate::StoreError::NotFound`]; a database of an older
    /// schema is [`crate::StoreError::OlderVersion`] (reading never migrates: open the
    /// queue once to upgrade it).
    ///
    /// # Errors
    ///
    /// [`Error::Store`]: [`crate::StoreError::NotFound`] and
    /// [`crate::StoreError::OlderVersion`] as above, or the file is not a Ferry database,
    /// is damaged, of a newer Ferry, or cannot be read. [`Error::Closed`] when the
    /// blocking read could not run (the runtime is shutting down).
    pub async fn read(path: impl Into<PathBuf>, limits: SnapshotLimits) -> Result<Self, Error> {
        let path = path.into();
        tokio::task::spawn_blocking(move || read_blocking(path, limits, None))
            .await
            .map_err(|_| Error::Closed)?
    }

    /// As [`read`](Self::read), of the transfers enqueued in `group`
    /// ([`crate::Upload::group`]) alone: files, records, hosts, what waits and the
    /// failures. A group no transfer is in reads as an empty queue.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_group(
        path: impl Into<PathBuf>,
        group: impl Into<String>,
        limits: SnapshotLimits,
    ) -> Result<Self, Error> {
        let path = path.into();
        let group = group.into();
        tokio::task::spawn_blocking(move || read_blocking(path, limits, Some(group)))
            .await
            .map_err(|_| Error::Closed)?
    }

    /// Files whose newest record is in `state`.
    pub fn files_in(&self, state: StateKind) -> u64 {
        count_in(&self.files, state)
    }

    /// Downloads whose newest record is in `state`.
    pub fn downloads_in(&self, state: StateKind) -> u64 {
        count_in(&self.downloads, state)
    }
}

/// The files in `state` among `counts`.
fn count_in(counts: &[StateCount], state: StateKind) -> u64 {
    counts
        .iter()
        .find(|count| count.state == state)
        .map_or(0, |count| count.files)
}

fn read_blocking(
    database: PathBuf,
    limits: SnapshotLimits,
    group: Option<String>,
) -> Result<QueueSnapshot, Error> {
    let mut store = ReadOnlyStore::open(&database)?;
    let taken_at = SystemTime::now();
    let in_use = store.held_by_an_opener();
    if store.is_empty() {
        let none = StateTotals::default().counts();
        return Ok(QueueSnapshot {
            database,
            group,
            taken_at,
            in_use,
            files: none.clone(),
            downloads: none.clone(),
            records: none,
            hosts: Vec::new(),
            waiting: Vec::new(),
            held_bytes: Vec::new(),
            failures: Vec::new(),
        });
    }
    let snapshot = store.read(|conn| {
        let of_group = group.as_deref();
        let records = match of_group {
            None => store::totals(conn)?,
            Some(group) => store::records_of_group(conn, group)?,
        }
        .counts();
        let mut files = StateTotals::default();
        let mut downloads = StateTotals::default();
        let mut failures = Vec::new();
        for newest in store::newest_record_of_each_file(conn, of_group)? {
            files.add(newest.state, newest.size);
            if newest.download {
                downloads.add(newest.state, newest.size);
            }
            let stands = matches!(newest.state, StateKind::Failed | StateKind::AuthRequired);
            if stands && failures.len() < limits.failures {
                failures.extend(store::load_by_seq(conn, newest.seq)?);
            }
        }
        let hosts = store::host_backlogs(conn, of_group)?
            .into_iter()
            .map(HostSummary::from)
            .collect();
        let waiting = store::soonest_due(conn, limits.waiting, of_group)?;
        let mut held_bytes = Vec::new();
        for transfer in waiting
            .iter()
            .filter(|transfer| transfer.download.is_some())
        {
            if let Some(record) = store::load_download(conn, &transfer.id)?
                && record.offset > 0
            {
                held_bytes.push((transfer.id.clone(), record.offset));
            }
        }
        Ok(QueueSnapshot {
            database: database.clone(),
            group: group.clone(),
            taken_at,
            in_use,
            files: files.counts(),
            downloads: downloads.counts(),
            records,
            hosts,
            waiting,
            held_bytes,
            failures,
        })
    })?;
    Ok(snapshot)
}

impl From<store::HostBacklog> for HostSummary {
    fn from(backlog: store::HostBacklog) -> Self {
        Self {
            host: backlog.host,
            queued: backlog.queued,
            running: backlog.running,
            queued_after_failure: backlog.queued_after_failure,
            next_attempt_at: backlog.next_attempt_ms.map(from_ms),
            last_error: backlog.last_error,
            last_error_at: backlog.last_error_ms.map(from_ms),
        }
    }
}

#[cfg(test)]
mod tests;
