//! A scripted stand-in for the OS background-transfer service, for the engine's
//! platform-lane tests: it records every call, keeps an outstanding set, and leaves it to
//! the test to deliver a handoff (really, to the loopback server) and report back.
//! The full OS simulators with os-model.md's rules live in `ferry-testkit`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry::{Handoff, PlatformError, PlatformOutcome, PlatformTransferService};
use tokio::sync::mpsc;

#[derive(Default)]
struct Calls {
    start_calls: usize,
    started: Vec<Handoff>,
    cancelled: Vec<String>,
    outstanding: HashSet<String>,
    max_outstanding: usize,
    /// `keep_app_running` calls, with their remaining bytes.
    keep_running: Vec<u64>,
    let_stop_calls: usize,
    refuse_keep_alive: bool,
    panic_in_keep_alive: bool,
}

/// Records calls; `start` blocks while `gate` holds (a process about to die).
pub struct ScriptedPlatform {
    calls: Mutex<Calls>,
    handoffs: mpsc::UnboundedSender<Handoff>,
    gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// While set, `start` waits for it (at most 60 s), then starts the task as usual.
    delay: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl ScriptedPlatform {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Handoff>) {
        let (handoffs, receiver) = mpsc::unbounded_channel();
        let platform = Self {
            calls: Mutex::default(),
            handoffs,
            gate: Mutex::new(None),
            delay: Mutex::new(None),
        };
        (Arc::new(platform), receiver)
    }

    /// Tasks the OS reports as outstanding at the next `outstanding()` call.
    pub fn with_outstanding(self: Arc<Self>, keys: &[&str]) -> Arc<Self> {
        let mut calls = self.calls.lock().unwrap();
        calls.outstanding = keys.iter().map(|key| (*key).to_owned()).collect();
        drop(calls);
        self
    }

    /// Makes every `start` block until the returned sender is dropped.
    pub fn hold_starts(&self) -> std::sync::mpsc::Sender<()> {
        let (release, gate) = std::sync::mpsc::channel();
        *self.gate.lock().unwrap() = Some(gate);
        release
    }

    /// Makes every `start` wait until the returned sender is dropped, then start the task:
    /// a slow OS.
    pub fn delay_starts(&self) -> std::sync::mpsc::Sender<()> {
        let (release, delay) = std::sync::mpsc::channel();
        *self.delay.lock().unwrap() = Some(delay);
        release
    }

    /// The OS finished (or lost) this task.
    pub fn forget(&self, key: &str) {
        self.calls.lock().unwrap().outstanding.remove(key);
    }

    /// Calls of `start`, including those still blocked.
    pub fn start_calls(&self) -> usize {
        self.calls.lock().unwrap().start_calls
    }

    pub fn started(&self) -> Vec<Handoff> {
        self.calls.lock().unwrap().started.clone()
    }

    pub fn cancelled(&self) -> Vec<String> {
        self.calls.lock().unwrap().cancelled.clone()
    }

    pub fn max_outstanding(&self) -> usize {
        self.calls.lock().unwrap().max_outstanding
    }

    /// Makes `keep_app_running` refuse (an OS that does not allow it).
    pub fn refuse_keep_alive(&self) {
        self.calls.lock().unwrap().refuse_keep_alive = true;
    }

    /// Makes `keep_app_running` panic (a service with a bug).
    pub fn panic_in_keep_alive(&self) {
        self.calls.lock().unwrap().panic_in_keep_alive = true;
    }

    /// The remaining bytes of every `keep_app_running` call, in order.
    pub fn keep_running_calls(&self) -> Vec<u64> {
        self.calls.lock().unwrap().keep_running.clone()
    }

    pub fn let_stop_calls(&self) -> usize {
        self.calls.lock().unwrap().let_stop_calls
    }
}

impl PlatformTransferService for ScriptedPlatform {
    fn start(&self, handoff: Handoff) -> Result<(), PlatformError> {
        self.calls.lock().unwrap().start_calls += 1;
        if let Some(gate) = self.gate.lock().unwrap().as_ref() {
            // Held until the test drops the sender: the process "dies" in the meantime.
            let _ = gate.recv_timeout(Duration::from_secs(60));
            return Ok(());
        }
        if let Some(delay) = self.delay.lock().unwrap().as_ref() {
            let _ = delay.recv_timeout(Duration::from_secs(60));
        }
        let mut calls = self.calls.lock().unwrap();
        calls.outstanding.insert(handoff.key.clone());
        calls.max_outstanding = calls.max_outstanding.max(calls.outstanding.len());
        calls.started.push(handoff.clone());
        drop(calls);
        let _ = self.handoffs.send(handoff);
        Ok(())
    }

    fn cancel(&self, handoff_key: &str) {
        let mut calls = self.calls.lock().unwrap();
        calls.outstanding.remove(handoff_key);
        calls.cancelled.push(handoff_key.to_owned());
    }

    fn keep_app_running(&self, remaining_bytes: u64) -> Result<(), PlatformError> {
        let mut calls = self.calls.lock().unwrap();
        calls.keep_running.push(remaining_bytes);
        if calls.panic_in_keep_alive {
            drop(calls);
            panic!("a service with a bug in keep_app_running");
        }
        if calls.refuse_keep_alive {
            return Err(PlatformError {
                message: "not visible".into(),
            });
        }
        Ok(())
    }

    fn let_app_stop(&self) {
        self.calls.lock().unwrap().let_stop_calls += 1;
    }

    fn outstanding(&self) -> Result<Vec<String>, ferry::PlatformError> {
        Ok(self
            .calls
            .lock()
            .unwrap()
            .outstanding
            .iter()
            .cloned()
            .collect())
    }
}

/// Waits, a bounded number of times, for work the platform driver does after a turn.
pub async fn eventually(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not become true");
}

/// Sends a handoff as the OS would: its method, URL, headers and body file; for a
/// download, a GET whose body is written where the segment goes (as an iOS shim moves
/// the download task's file before its delegate returns), reported without its body.
pub async fn deliver(handoff: &Handoff) -> PlatformOutcome {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(handoff.method.as_bytes()).expect("method");
    let mut request = client.request(method, &handoff.url);
    if handoff.download.is_none() {
        let body = tokio::fs::read(&handoff.body_path)
            .await
            .expect("body file");
        assert_eq!(body.len() as u64, handoff.expected_bytes, "expected bytes");
        request = request.body(body);
    } else {
        assert_eq!(handoff.method, "GET");
        assert!(
            handoff.body_path.as_os_str().is_empty(),
            "a download sends no body"
        );
    }
    for (name, value) in &handoff.headers {
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return failed(&error),
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = response.bytes().await;
    match (&handoff.download, body) {
        (Some(segment), Ok(body)) => {
            tokio::fs::write(&segment.path, &body)
                .await
                .expect("segment file");
            PlatformOutcome::Response {
                status,
                headers,
                body: Vec::new(),
                body_truncated: false,
            }
        }
        (Some(_), Err(error)) => failed(&error),
        // As a shim passes it: the whole body (the core cuts it to its limit).
        (None, body) => PlatformOutcome::Response {
            status,
            headers,
            body_truncated: body.is_err(),
            body: body.map(|body| body.to_vec()).unwrap_or_default(),
        },
    }
}

fn failed(error: &reqwest::Error) -> PlatformOutcome {
    PlatformOutcome::Failed {
        kind: ferry::PlatformFailure::Network,
        message: error.to_string(),
    }
}

/// A queue in `config` with `platform` lent as its OS service.
pub async fn open_with_platform(
    config: ferry::QueueConfig,
    platform: &Arc<ScriptedPlatform>,
) -> ferry::TransferQueue {
    let integrations = ferry::Integrations {
        platform: Some(Arc::clone(platform) as Arc<dyn PlatformTransferService>),
        ..ferry::Integrations::default()
    };
    ferry::TransferQueue::open_with(config, integrations)
        .await
        .expect("open")
}
