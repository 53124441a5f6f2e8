//! The OS lane's state and decisions, as the actor sees them: the driver lent by the app,
//! what each OS task last reported, the transfers taken back from the OS, the numbering of
//! outstanding-task queries, and what each handoff asks of the OS.
//!
//! It answers questions (which lane policy holds? did this report move the task? which
//! tasks did the OS lose, which stalled?) and builds handoffs; the engine takes the
//! flights, records the verdicts and hands the OS operations to the group commit. It must
//! never touch the store, call the platform service or the driver (the group commit
//! does, after the turn is durable), nor take flights itself.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::in_flight::Flights;
use crate::conditions::AppState;
use crate::config::QueueConfig;
use crate::download::segment_path;
use crate::download_record::DownloadRecord;
use crate::platform::{BatchPartPlan, BodyPlan, DownloadSegment, Handoff, PlatformDriver};
use crate::resumable::ResumableProtocol;
use crate::scheduler::LanePolicy;
use crate::upload::UploadMethod;
use crate::{Transfer, TransferId};

pub(super) struct PlatformLane {
    /// The OS lane, when the app lent one.
    driver: Option<PlatformDriver>,
    /// The body bytes each OS task last reported, to tell progress from repetition.
    body_sent: HashMap<String, u64>,
    /// Transfers the OS stalled on while the app was in the foreground; they stay
    /// in-process for as long as this queue is open.
    taken_back: HashSet<TransferId>,
    /// Numbers outstanding-task queries, so a late answer is not applied to newer tasks.
    queries_sent: u64,
}

impl PlatformLane {
    pub(super) fn new(driver: Option<PlatformDriver>) -> Self {
        Self {
            driver,
            body_sent: HashMap::new(),
            taken_back: HashSet::new(),
            queries_sent: 0,
        }
    }

    /// Whether the app lent Ferry an OS background-transfer service.
    pub(super) fn available(&self) -> bool {
        self.driver.is_some()
    }

    /// The lane rules now; `kept_alive`: the app is kept running (`keep_alive.rs`).
    pub(super) fn policy(
        &self,
        config: &QueueConfig,
        app_state: AppState,
        kept_alive: bool,
    ) -> LanePolicy {
        LanePolicy {
            app_state,
            kept_alive,
            platform_available: self.available(),
            large_file_threshold: config.platform.large_file_threshold,
            max_platform_tasks: config.platform.max_platform_tasks,
            refill_when_drained: config.platform.refill_when_drained,
        }
    }

    /// The last outstanding-task query sent: a task handed over now is newer than it.
    pub(super) fn queries_sent(&self) -> u64 {
        self.queries_sent
    }

    /// What the OS task `key` for `members` sends: the file itself, or with `packed_for`
    /// a packed batch for that endpoint. The driver starts it after the turn is durable.
    pub(super) fn handoff(
        &self,
        config: &QueueConfig,
        discretionary: bool,
        key: &str,
        members: &[Transfer],
        packed_for: Option<&str>,
    ) -> (Handoff, BodyPlan) {
        let bodies = self
            .driver
            .as_ref()
            .map(|driver| driver.bodies().to_path_buf())
            .unwrap_or_default();
        handoff(config, &bodies, discretionary, key, members, packed_for)
    }

    /// The OS task `key` for the next segment of download `transfer`, whose stored resume
    /// state is `record`: a `GET` of at most `download_segment_bytes` from where the
    /// partial file is durable (`DownloadRecord::os_segment`), into its segment file.
    pub(super) fn download_handoff(
        config: &QueueConfig,
        discretionary: bool,
        key: &str,
        transfer: &Transfer,
        record: &DownloadRecord,
    ) -> (Handoff, BodyPlan) {
        let segment = record.os_segment(config.platform.download_segment_bytes);
        let mut headers = transfer.upload.headers.clone();
        headers.push(("Accept-Encoding".into(), "identity".into()));
        if let Some(last) = segment.last {
            headers.push(("Range".into(), format!("bytes={}-{last}", segment.first)));
        }
        if let Some(validator) = &segment.if_range {
            headers.push(("If-Range".into(), validator.clone()));
        }
        let expected_bytes = segment.last.map_or(0, |last| {
            last.saturating_sub(segment.first).saturating_add(1)
        });
        let constraints = transfer.upload.constraints;
        let handoff = Handoff {
            key: key.to_owned(),
            transfer_id: transfer.id.to_string(),
            body_path: PathBuf::new(),
            url: transfer.upload.destination.clone(),
            method: "GET".into(),
            headers,
            expected_bytes,
            allow_expensive: constraints.allow_expensive,
            allow_constrained: constraints.allow_constrained,
            discretionary,
            ietf_interop_version: None,
            download: Some(DownloadSegment {
                first: segment.first,
                last: segment.last,
                path: segment_path(&transfer.upload.source, &transfer.id, segment.first),
            }),
        };
        (handoff, BodyPlan::Download { expected_bytes })
    }

    /// Whether the OS stalled on `id` while the app was in the foreground.
    pub(super) fn took_back(&self, id: &TransferId) -> bool {
        self.taken_back.contains(id)
    }

    /// `id` stays in-process from now on.
    pub(super) fn take_back(&mut self, id: TransferId) {
        self.taken_back.insert(id);
    }

    /// `id` ended (or its record went): nothing of it is kept.
    pub(super) fn forget(&mut self, id: &TransferId) {
        self.taken_back.remove(id);
    }

    /// The OS task `key` ended or was cancelled.
    pub(super) fn forget_task(&mut self, key: &str) {
        self.body_sent.remove(key);
    }

    /// Every OS task was forgotten (a failed commit).
    pub(super) fn forget_every_task(&mut self) {
        self.body_sent.clear();
    }

    /// Applies an OS task's progress to its files; `body_total` is the body's size, which
    /// for a multipart body or a packed batch is more than the files': each file's
    /// progress is the same fraction of its size. Whether the task moved (its body did,
    /// whatever each file's rounded share says); if so, its stall timer starts over.
    pub(super) fn on_progress(
        &mut self,
        flights: &mut Flights,
        key: &str,
        body_sent: u64,
        body_total: u64,
        now: Instant,
    ) -> bool {
        let files = flights.platform_task_mut(key);
        if files.is_empty() {
            return false;
        }
        for flight in files {
            if flight.transfer.direction == crate::Direction::Download {
                // A segment's bytes count once they are appended (`segment.rs`).
                continue;
            }
            let bytes_sent = share(body_sent, body_total, flight.transfer.size);
            if bytes_sent != flight.progress.bytes_sent() {
                flight.progress.set_bytes_sent(bytes_sent);
            }
        }
        let previous = self.body_sent.insert(key.to_owned(), body_sent);
        let moved = previous != Some(body_sent);
        if moved {
            flights.touch_platform_task(key, now);
        }
        moved
    }

    /// Back in the foreground (a "wake"): OS tasks get a fresh stall timer, since time in
    /// the background is not the OS stalling. Returns the number of the query to send,
    /// asking the OS which tasks it still has, if there is an OS lane.
    pub(super) fn on_foreground(&mut self, flights: &mut Flights, now: Instant) -> Option<u64> {
        flights.touch_every_platform_task(now);
        self.driver.as_ref()?;
        self.queries_sent += 1;
        Some(self.queries_sent)
    }

    /// The OS tasks the answer to query `query` does not list although they were handed
    /// over before it was sent: the OS lost them without a report (a force-quit can).
    pub(super) fn vanished(
        &self,
        flights: &Flights,
        query: u64,
        listed: Vec<String>,
    ) -> Vec<String> {
        let listed: HashSet<String> = listed.into_iter().collect();
        flights.platform_tasks_where(|key, handoff_query, _| {
            handoff_query < query && !listed.contains(key)
        })
    }

    /// The OS tasks that have not moved for `timeout`.
    pub(super) fn stalled(flights: &Flights, now: Instant, timeout: Duration) -> Vec<String> {
        flights.platform_tasks_where(|_, _, last_activity| {
            now.saturating_duration_since(last_activity) >= timeout
        })
    }
}

/// A file's share of an OS task's progress: `body_sent` of `body_total`, scaled to `size`.
fn share(body_sent: u64, body_total: u64, size: u64) -> u64 {
    match body_total {
        0 => body_sent.min(size),
        total => {
            let scaled = u128::from(body_sent.min(total)) * u128::from(size) / u128::from(total);
            u64::try_from(scaled).unwrap_or(size)
        }
    }
}

/// A key for a new OS task: `<transfer id>.<attempt>.<nonce as 8 hex digits><suffix>`.
/// Attempts are numbered again after a requeue without a verdict, so the random nonce is
/// what keeps a late report from an older task off a newer one. Stored keys keep this
/// format; shims and reconciling read it back.
pub(super) fn handoff_key(id: &TransferId, attempt: u32, nonce: u32, suffix: &str) -> String {
    format!("{id}.{attempt}.{nonce:08x}{suffix}")
}

fn handoff(
    config: &QueueConfig,
    bodies: &Path,
    discretionary: bool,
    key: &str,
    members: &[Transfer],
    packed_for: Option<&str>,
) -> (Handoff, BodyPlan) {
    let (allow_expensive, allow_constrained) =
        members
            .iter()
            .fold((true, true), |(expensive, constrained), transfer| {
                let constraints = transfer.upload.constraints;
                (
                    expensive && constraints.allow_expensive,
                    constrained && constraints.allow_constrained,
                )
            });
    let leader = members
        .first()
        .map(|transfer| transfer.id.to_string())
        .unwrap_or_default();
    let temp_path = bodies.join(format!("{key}.body"));
    let mut handoff = Handoff {
        key: key.to_owned(),
        transfer_id: leader,
        body_path: PathBuf::new(),
        url: String::new(),
        method: "POST".into(),
        headers: Vec::new(),
        expected_bytes: members.iter().map(|transfer| transfer.size).sum(),
        allow_expensive,
        allow_constrained,
        discretionary,
        ietf_interop_version: None,
        download: None,
    };
    let body = match (packed_for, members) {
        (None, [transfer]) => {
            let upload = &transfer.upload;
            handoff.body_path = upload.source.clone();
            handoff.url = upload.destination.clone();
            handoff.method = match upload.method {
                UploadMethod::Put => "PUT",
                UploadMethod::Post | UploadMethod::PostMultipart { .. } => "POST",
            }
            .into();
            handoff.headers = upload.headers.clone();
            handoff
                .headers
                .push((config.idempotency_header.clone(), transfer.id.to_string()));
            handoff.ietf_interop_version = ietf_headers(config, transfer, &mut handoff.headers);
            BodyPlan::File {
                source: upload.source.clone(),
                snapshot: transfer.snapshot(),
                method: upload.method.clone(),
                temp_path,
            }
        }
        (endpoint, _) => {
            handoff.url = endpoint.unwrap_or_default().to_owned();
            // Each part carries its own idempotency key; the request as a whole has none,
            // since a later batch may hold other files. `Ferry-Batch-Atomic` asks the
            // server to answer non-2xx unless every part is stored: the OS reports only
            // the status.
            handoff.headers = vec![("Ferry-Batch-Atomic".into(), "1".into())];
            BodyPlan::Batch {
                parts: members
                    .iter()
                    .map(|transfer| BatchPartPlan {
                        id: transfer.id.to_string(),
                        source: transfer.upload.source.clone(),
                        snapshot: transfer.snapshot(),
                        destination: transfer.upload.destination.clone(),
                    })
                    .collect(),
                idempotency_header: config.idempotency_header.clone(),
                temp_path,
            }
        }
    };
    (handoff, body)
}

/// For a destination that speaks the IETF resumable draft, the headers that let the OS
/// resume the task itself; returns the interop version.
fn ietf_headers(
    config: &QueueConfig,
    transfer: &Transfer,
    headers: &mut Vec<(String, String)>,
) -> Option<u32> {
    let protocol = config
        .resumable
        .protocol_for(&transfer.upload.destination, transfer.size);
    let Some(ResumableProtocol::Ietf { interop_version }) = protocol else {
        return None;
    };
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::actor::in_flight::{FlightLane, InFlight};
    use crate::http::AttemptProgress;
    use crate::resumable::ResumableConfig;
    use crate::upload::Upload;

    fn config() -> QueueConfig {
        QueueConfig::new("/db/queue.db")
    }

    fn transfer(name: &str, size: u64) -> Transfer {
        let mut transfer = crate::transfer::tests::queued(1);
        transfer.upload = Upload::put(format!("/src/{name}"), format!("http://h/{name}"));
        transfer.size = size;
        transfer
    }

    /// `flights` with one OS task `key` per (key, handoff query, files' sizes).
    fn on_os(tasks: &[(&str, u64, &[u64])], now: Instant) -> Flights {
        let mut flights = Flights::default();
        for (key, query, sizes) in tasks {
            let generation = flights.new_generation();
            flights.insert(
                sizes
                    .iter()
                    .map(|size| InFlight {
                        transfer: transfer(key, *size),
                        generation,
                        progress: Arc::new(AttemptProgress::new(Arc::new(AtomicU64::new(0)))),
                        lane: FlightLane::Platform {
                            key: (*key).into(),
                            handoff_query: *query,
                            last_activity: now,
                        },
                        reported_bytes: 0,
                        batched: sizes.len() > 1,
                        space: None,
                        applying_segment: false,
                    })
                    .collect(),
            );
        }
        flights
    }

    #[test]
    fn a_handoff_key_is_the_id_the_attempt_and_a_nonce() {
        let id = TransferId::generate();
        assert_eq!(handoff_key(&id, 3, 0xab, ""), format!("{id}.3.000000ab"));
        assert_eq!(
            handoff_key(&id, 1, u32::MAX, ".batch"),
            format!("{id}.1.ffffffff.batch")
        );
    }

    #[test]
    fn a_file_s_handoff_carries_its_own_request_and_idempotency_key() {
        let lane = PlatformLane::new(None);
        let mut file = transfer("a", 500);
        file.upload.headers = vec![("X-Own".into(), "1".into())];
        file.upload.constraints.allow_expensive = false;
        let (handoff, body) = lane.handoff(&config(), true, "k.1.0", &[file.clone()], None);
        assert_eq!(handoff.url, "http://h/a");
        assert_eq!(handoff.method, "PUT");
        assert_eq!(handoff.transfer_id, file.id.to_string());
        assert_eq!(
            handoff.headers,
            vec![
                ("X-Own".into(), "1".into()),
                ("Idempotency-Key".into(), file.id.to_string())
            ]
        );
        assert_eq!(handoff.expected_bytes, 500);
        assert!(!handoff.allow_expensive && handoff.allow_constrained);
        assert!(handoff.discretionary);
        assert_eq!(handoff.ietf_interop_version, None);
        let BodyPlan::File { temp_path, .. } = body else {
            panic!("a file's body is the file");
        };
        assert_eq!(temp_path, Path::new("k.1.0.body"));
    }

    #[test]
    fn an_ietf_destination_lets_the_os_resume_the_task() {
        let mut config = config();
        config.resumable = ResumableConfig {
            threshold: 0,
            destinations: Vec::new(),
        }
        .with_destination("http://h/", ResumableProtocol::Ietf { interop_version: 6 });
        let (handoff, _) =
            PlatformLane::new(None).handoff(&config, false, "k", &[transfer("a", 500)], None);
        assert_eq!(handoff.ietf_interop_version, Some(6));
        assert!(
            handoff
                .headers
                .contains(&("Upload-Complete".into(), "?1".into()))
        );
    }

    #[test]
    fn a_packed_handoff_is_one_atomic_post_of_every_member() {
        let members = [transfer("a", 100), transfer("b", 200)];
        let mut members = members.to_vec();
        members[1].upload.constraints.allow_constrained = false;
        let (handoff, body) = PlatformLane::new(None).handoff(
            &config(),
            false,
            "k.batch",
            &members,
            Some("http://h/batch"),
        );
        assert_eq!(
            (handoff.url.as_str(), handoff.method.as_str()),
            ("http://h/batch", "POST")
        );
        assert_eq!(handoff.transfer_id, members[0].id.to_string());
        assert_eq!(
            handoff.headers,
            vec![("Ferry-Batch-Atomic".into(), "1".into())]
        );
        assert_eq!(handoff.expected_bytes, 300);
        assert!(handoff.allow_expensive && !handoff.allow_constrained);
        let BodyPlan::Batch { parts, .. } = body else {
            panic!("a packed body");
        };
        let ids: Vec<&str> = parts.iter().map(|part| part.id.as_str()).collect();
        assert_eq!(ids, [members[0].id.as_str(), members[1].id.as_str()]);
    }

    #[test]
    fn progress_of_a_packed_task_is_shared_by_size_and_only_new_bytes_move_it() {
        let start = Instant::now();
        let mut flights = on_os(&[("kb", 0, &[100, 300])], start);
        let mut lane = PlatformLane::new(None);
        let later = start + Duration::from_secs(5);
        assert!(lane.on_progress(&mut flights, "kb", 200, 800, later));
        let mut shares: Vec<u64> = flights.iter().map(|f| f.progress.bytes_sent()).collect();
        shares.sort();
        assert_eq!(shares, vec![25, 75], "a quarter of each file");
        assert!(PlatformLane::stalled(&flights, later, Duration::from_secs(1)).is_empty());
        assert!(
            !lane.on_progress(&mut flights, "kb", 200, 800, later),
            "a repetition"
        );
        assert!(!lane.on_progress(&mut flights, "unknown", 1, 1, later));
        assert_eq!(
            share(50, 0, 10),
            10,
            "no total known: bytes, up to the size"
        );
    }

    #[test]
    fn tasks_handed_over_before_a_query_and_not_listed_vanished() {
        let now = Instant::now();
        let flights = on_os(
            &[("old", 0, &[1]), ("listed", 0, &[1]), ("new", 2, &[1])],
            now,
        );
        let lane = PlatformLane::new(None);
        let vanished = lane.vanished(&flights, 1, vec!["listed".into()]);
        assert_eq!(
            vanished,
            vec!["old".to_owned()],
            "`new` was handed over after the query"
        );
    }

    #[test]
    fn tasks_that_did_not_move_for_the_timeout_stalled() {
        let start = Instant::now();
        let mut flights = on_os(&[("a", 0, &[1]), ("b", 0, &[1])], start);
        let timeout = Duration::from_secs(30);
        flights.touch_platform_task("b", start + Duration::from_secs(20));
        let stalled = PlatformLane::stalled(&flights, start + timeout, timeout);
        assert_eq!(stalled, vec!["a".to_owned()]);
    }

    #[test]
    fn the_foreground_restarts_stall_timers_and_asks_only_a_lane_that_exists() {
        let start = Instant::now();
        let mut flights = on_os(&[("a", 0, &[1])], start);
        let mut lane = PlatformLane::new(None);
        let later = start + Duration::from_secs(60);
        assert_eq!(
            lane.on_foreground(&mut flights, later),
            None,
            "no OS lane to ask"
        );
        assert_eq!(lane.queries_sent(), 0);
        assert!(PlatformLane::stalled(&flights, later, Duration::from_secs(1)).is_empty());
        let policy = lane.policy(&config(), AppState::Foreground, false);
        assert!(!policy.platform_available);
    }

    #[test]
    fn transfers_taken_back_stay_until_forgotten() {
        let mut lane = PlatformLane::new(None);
        let id = TransferId::generate();
        lane.take_back(id.clone());
        assert!(lane.took_back(&id));
        lane.forget(&id);
        assert!(!lane.took_back(&id));
    }

    #[test]
    fn a_download_s_handoff_asks_one_pinned_segment_into_its_segment_file() {
        let mut config = config();
        config.platform.download_segment_bytes = 10;
        let mut file = transfer("a", 0);
        file.upload.headers = vec![("X-Own".into(), "1".into())];
        let record = DownloadRecord {
            etag: Some("\"v\"".into()),
            total: Some(25),
            offset: 10,
            ..DownloadRecord::default()
        };
        let (handoff, body) = PlatformLane::download_handoff(&config, true, "k", &file, &record);
        assert_eq!(handoff.method, "GET");
        assert_eq!(handoff.url, "http://h/a");
        assert!(handoff.body_path.as_os_str().is_empty());
        assert_eq!(
            handoff.headers,
            vec![
                ("X-Own".into(), "1".into()),
                ("Accept-Encoding".into(), "identity".into()),
                ("Range".into(), "bytes=10-19".into()),
                ("If-Range".into(), "\"v\"".into()),
            ]
        );
        assert_eq!(handoff.expected_bytes, 10);
        let segment = handoff.download.expect("a download segment");
        assert_eq!((segment.first, segment.last), (10, Some(19)));
        assert_eq!(
            segment.path,
            Path::new("/src").join(format!(".ferry-{}.seg-10", file.id))
        );
        assert!(matches!(body, BodyPlan::Download { expected_bytes: 10 }));
    }
}
