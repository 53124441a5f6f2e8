//! What the server has seen: counters and the bodies it stored.
//!
//! What it is for: one place, behind one lock, that counts requests (by
//! status, by host, in flight and the most ever in flight), bytes and faults,
//! remembers per path what was stored and how often, and remembers which
//! `Idempotency-Key`s have been stored, so that storing twice is impossible to
//! miss and a duplicate is refused atomically.
//!
//! What it must never do: do I/O, await, or hold its lock across anything but
//! a few map updates. Handlers call in, get an answer, and go on.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::Version;
use serde::{Deserialize, Serialize};

use crate::auth::Refusal;

/// What was stored under one key (a request path, or path + `#` + part name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedBody {
    /// Length in bytes of the last stored body.
    pub len: u64,
    /// Lowercase hex SHA-256 of the last stored body.
    #[serde(rename = "sha256")]
    pub sha256_hex: String,
    /// How many times a body was stored under this key.
    pub stored_count: u64,
    /// Where the bytes are, when the server stores bytes on disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// Counters since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Upload requests received (control requests are not counted).
    pub requests: u64,
    /// Responses sent, by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests being handled now.
    pub in_flight: u64,
    /// The most requests ever handled at once.
    pub max_in_flight: u64,
    /// The same counts per `Host` header (or HTTP/2 `:authority`).
    pub per_host: BTreeMap<String, HostStats>,
    pub http1_requests: u64,
    pub http2_requests: u64,
    /// Connections accepted (TCP, before any TLS handshake).
    pub connections: u64,
    /// Request body bytes read, stored or not.
    pub bytes_received: u64,
    /// Bodies stored (a multipart request counts once per part).
    pub bodies_stored: u64,
    /// Requests with an already stored `Idempotency-Key`, drained and not stored.
    pub duplicates_refused: u64,
    /// Requests whose body ended early (the client went away or broke the stream).
    pub aborted: u64,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
    /// Credentials seen and refused.
    pub auth: AuthCounts,
    /// The tus / IETF resumable upload endpoints.
    pub resumable: ResumableStats,
}

/// Credentials seen and refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCounts {
    /// Upload requests that carried an `Authorization` header (whatever the policy).
    pub with_authorization: u64,
    /// Refused with 401: no bearer token, or one this server never issued.
    pub bearer_missing: u64,
    /// Refused with 401: the token was used up or timed out.
    pub bearer_expired: u64,
    /// Refused with 403: no or a wrong signature.
    pub presign_invalid: u64,
    /// Refused with 403: the presigned URL had expired when the request arrived.
    pub presign_expired: u64,
    /// Refused with 401: no Basic credentials, or not the configured ones.
    #[serde(default)]
    pub basic_invalid: u64,
}

/// What the resumable upload endpoints saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumableStats {
    pub uploads_created: u64,
    pub head_requests: u64,
    pub patch_requests: u64,
    /// The `Upload-Offset` of every `PATCH`, in arrival order.
    pub patch_offsets: Vec<u64>,
    /// The largest `PATCH` body announced (`Content-Length`).
    pub largest_patch: u64,
    /// Connections cut by the plan's `cut_at_offsets`.
    pub cuts: u64,
    /// Resources deleted by their client (termination).
    pub terminated: u64,
    /// Parts whose tus `Upload-Checksum` matched, by algorithm.
    pub checksums: BTreeMap<String, u64>,
    pub checksum_mismatches: u64,
}

/// Counters for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStats {
    pub requests: u64,
    pub in_flight: u64,
    pub max_in_flight: u64,
}

/// Faults injected, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    pub reset: u64,
    pub status: u64,
    pub stall: u64,
    pub delay: u64,
    pub slow_read: u64,
    pub redirect: u64,
}

/// A kind of injected fault, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Reset,
    Status,
    Stall,
    Delay,
    SlowRead,
    Redirect,
}

/// A response to replay for a repeated `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// One body ready to be recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub len: u64,
    pub sha256_hex: String,
    pub file: Option<PathBuf>,
}

/// The outcome of [`State::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    Stored,
    /// The key was stored before; nothing was recorded. Answer with this.
    Duplicate(Reply),
}

#[derive(Debug, Default)]
struct Inner {
    stats: Stats,
    received: BTreeMap<String, ReceivedBody>,
    replies: HashMap<String, Reply>,
}

/// Shared, lock-protected record of everything the server saw.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not hide what was recorded: the data stays usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new upload request; it stays in flight until the guard drops.
    pub fn begin(self: &Arc<Self>, host: String, version: Version) -> InFlight {
        let mut inner = self.lock();
        let stats = &mut inner.stats;
        stats.requests += 1;
        stats.in_flight += 1;
        stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        if version == Version::HTTP_2 {
            stats.http2_requests += 1;
        } else {
            stats.http1_requests += 1;
        }
        let per_host = stats.per_host.entry(host.clone()).or_default();
        per_host.requests += 1;
        per_host.in_flight += 1;
        per_host.max_in_flight = per_host.max_in_flight.max(per_host.in_flight);
        InFlight {
            state: Arc::clone(self),
            host,
            completed: false,
        }
    }

    pub fn connection(&self) {
        self.lock().stats.connections += 1;
    }

    pub fn responded(&self, status: u16) {
        *self.lock().stats.by_status.entry(status).or_insert(0) += 1;
    }

    pub fn record_resumable(&self, update: impl FnOnce(&mut ResumableStats)) {
        update(&mut self.lock().stats.resumable);
    }

    pub fn bytes(&self, n: u64) {
        self.lock().stats.bytes_received += n;
    }

    pub fn fault(&self, kind: FaultKind) {
        let mut inner = self.lock();
        let faults = &mut inner.stats.faults;
        match kind {
            FaultKind::Reset => faults.reset += 1,
            FaultKind::Status => faults.status += 1,
            FaultKind::Stall => faults.stall += 1,
            FaultKind::Delay => faults.delay += 1,
            FaultKind::SlowRead => faults.slow_read += 1,
            FaultKind::Redirect => faults.redirect += 1,
        }
    }

    /// An upload request carried an `Authorization` header.
    pub fn saw_authorization(&self) {
        self.lock().stats.auth.with_authorization += 1;
    }

    /// A request was refused for its credentials.
    pub fn refused(&self, refusal: Refusal) {
        let mut inner = self.lock();
        let counts = &mut inner.stats.auth;
        match refusal {
            Refusal::BearerMissing => counts.bearer_missing += 1,
            Refusal::BearerExpired => counts.bearer_expired += 1,
            Refusal::PresignInvalid => counts.presign_invalid += 1,
            Refusal::PresignExpired => counts.presign_expired += 1,
            Refusal::BasicInvalid => counts.basic_invalid += 1,
        }
    }

    /// If `key` was stored before, counts a refused duplicate and returns the
    /// first answer.
    pub fn refuse_duplicate(&self, key: &str) -> Option<Reply> {
        let mut inner = self.lock();
        let reply = inner.replies.get(key).cloned()?;
        inner.stats.duplicates_refused += 1;
        Some(reply)
    }

    /// Records complete bodies, unless `idempotency_key` was stored before
    /// (checked and recorded atomically, so two racing requests with one key
    /// store once).
    pub fn commit(&self, idempotency_key: Option<&str>, bodies: &[Stored], reply: Reply) -> Commit {
        let mut inner = self.lock();
        if let Some(key) = idempotency_key {
            if let Some(first) = inner.replies.get(key).cloned() {
                inner.stats.duplicates_refused += 1;
                return Commit::Duplicate(first);
            }
            inner.replies.insert(key.to_owned(), reply);
        }
        for body in bodies {
            let entry = inner.received.entry(body.key.clone()).or_default();
            entry.len = body.len;
            entry.sha256_hex.clone_from(&body.sha256_hex);
            entry.stored_count += 1;
            entry.file.clone_from(&body.file);
        }
        inner.stats.bodies_stored += bodies.len() as u64;
        Commit::Stored
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub fn received(&self, key: &str) -> Option<ReceivedBody> {
        self.lock().received.get(key).cloned()
    }

    pub fn received_all(&self) -> BTreeMap<String, ReceivedBody> {
        self.lock().received.clone()
    }

    /// Forgets stored bodies, idempotency keys and counters. Requests still in
    /// flight stay counted as in flight, so the gauges stay right.
    pub fn reset(&self) {
        let mut inner = self.lock();
        let old = std::mem::take(&mut inner.stats);
        inner.received.clear();
        inner.replies.clear();
        let stats = &mut inner.stats;
        stats.in_flight = old.in_flight;
        stats.max_in_flight = old.in_flight;
        for (host, h) in old.per_host.into_iter().filter(|(_, h)| h.in_flight > 0) {
            stats.per_host.insert(
                host,
                HostStats {
                    requests: 0,
                    in_flight: h.in_flight,
                    max_in_flight: h.in_flight,
                },
            );
        }
    }
}

/// Keeps one request counted as in flight until dropped (also when the
/// request's future is dropped because its connection died). A request
/// dropped without [`InFlight::complete`] is counted as aborted.
#[derive(Debug)]
pub struct InFlight {
    state: Arc<State>,
    host: String,
    completed: bool,
}

impl InFlight {
    /// The request was handled to the end (answered, or reset on purpose).
    pub fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = self.state.lock();
        let stats = &mut inner.stats;
        if !self.completed {
            stats.aborted += 1;
        }
        stats.in_flight = stats.in_flight.saturating_sub(1);
        if let Some(h) = stats.per_host.get_mut(&self.host) {
            h.in_flight = h.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(key: &str) -> Stored {
        Stored {
            key: key.into(),
            len: 3,
            sha256_hex: "abc".into(),
            file: None,
        }
    }

    fn reply() -> Reply {
        Reply {
            status: 201,
            body: "{}".into(),
        }
    }

    #[test]
    fn in_flight_gauges_per_host_and_overall() {
        let state = Arc::new(State::default());
        let a1 = state.begin("a".into(), Version::HTTP_11);
        let a2 = state.begin("a".into(), Version::HTTP_2);
        let b = state.begin("b".into(), Version::HTTP_11);
        let mut a1 = a1;
        a1.complete();
        drop(a1);
        let s = state.stats();
        assert_eq!((s.in_flight, s.max_in_flight, s.requests), (2, 3, 3));
        assert_eq!(s.per_host["a"].in_flight, 1);
        assert_eq!(s.per_host["a"].max_in_flight, 2);
        assert_eq!(s.per_host["b"].max_in_flight, 1);
        assert_eq!((s.http1_requests, s.http2_requests), (2, 1));
        drop((a2, b));
        assert_eq!(state.stats().in_flight, 0);
        // Two were dropped without completing: aborted.
        assert_eq!(state.stats().aborted, 2);
    }

    #[test]
    fn a_key_is_stored_once() {
        let state = State::default();
        assert_eq!(
            state.commit(Some("k"), &[body("/p")], reply()),
            Commit::Stored
        );
        assert_eq!(
            state.commit(Some("k"), &[body("/p")], reply()),
            Commit::Duplicate(reply())
        );
        assert_eq!(state.refuse_duplicate("k"), Some(reply()));
        assert_eq!(state.refuse_duplicate("other"), None);
        assert_eq!(state.commit(None, &[body("/p")], reply()), Commit::Stored);
        assert_eq!(state.received("/p").map(|r| r.stored_count), Some(2));
        assert_eq!(state.stats().duplicates_refused, 2);
    }

    #[test]
    fn reset_keeps_in_flight_gauges() {
        let state = Arc::new(State::default());
        let guard = state.begin("h".into(), Version::HTTP_11);
        state.commit(Some("k"), &[body("/p")], reply());
        state.reset();
        assert!(state.received_all().is_empty());
        assert_eq!(state.refuse_duplicate("k"), None);
        assert_eq!(state.stats().in_flight, 1);
        drop(guard);
        let s = state.stats();
        assert_eq!((s.in_flight, s.requests), (0, 0));
        assert_eq!(s.per_host["h"].in_flight, 0);
    }
}
