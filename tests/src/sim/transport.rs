//! How a simulated OS task puts its bytes on the wire: a real HTTP request to the loopback
//! testkit server, its body read from the file in chunks, each chunk crossing the shared
//! modelled [`Uplink`] first (the request then carries [`PACED_HEADER`] so the server does
//! not pace it twice), held while the daemon is frozen, and watched for idleness.
//!
//! What it is for: one attempt of one task, for both simulated OSes. What it must never do:
//! decide anything about tasks (retries, events, limits are the daemon's), or sleep with
//! anything but tokio's clock.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::uplink::{PACED_HEADER, Uplink};

/// What to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body_path: PathBuf,
    /// The file's length when the task was created (rule 6: it must not change).
    pub body_len: u64,
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// The body file is gone or changed since the task was created.
    FileChanged(String),
    /// The connection failed.
    Network(String),
    /// Nothing moved for the idle timeout (waiting for the link, a connection, an HTTP/2
    /// stream or a frozen daemon does not count: that is queueing, not idleness).
    Idle,
}

/// The parts of a daemon an attempt needs.
#[derive(Clone)]
pub struct Wire {
    pub client: reqwest::Client,
    pub uplink: Option<Arc<Uplink>>,
    pub chunk_bytes: u64,
    pub idle_timeout: Duration,
    /// `true` while the daemon is frozen (iOS rule 5).
    pub frozen: watch::Receiver<bool>,
}

#[derive(Clone, Copy)]
struct Activity {
    last: Instant,
    waiting: bool,
}

/// An HTTP client for simulated OS tasks: HTTP/2 by prior knowledge or HTTP/1.1 only.
pub fn client(http2: bool) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true);
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder
        .build()
        .map_err(|e| format!("cannot build the simulator's HTTP client: {e}"))
}

/// Sends `outgoing` once. `progress(bytes_sent)` is called after each chunk.
pub async fn attempt(
    wire: &Wire,
    outgoing: &Outgoing,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> AttemptEnd {
    match tokio::fs::metadata(&outgoing.body_path).await {
        Ok(meta) if meta.len() == outgoing.body_len => {}
        Ok(meta) => {
            return AttemptEnd::FileChanged(format!(
                "{} is {} bytes, was {}",
                outgoing.body_path.display(),
                meta.len(),
                outgoing.body_len
            ));
        }
        Err(e) => {
            return AttemptEnd::FileChanged(format!("{}: {e}", outgoing.body_path.display()));
        }
    }
    let file = match tokio::fs::File::open(&outgoing.body_path).await {
        Ok(file) => file,
        Err(e) => return AttemptEnd::FileChanged(format!("{}: {e}", outgoing.body_path.display())),
    };
    // Until the client first asks for body bytes the request waits for a connection or an
    // HTTP/2 stream: queued, not idle.
    let activity = Arc::new(Mutex::new(Activity {
        last: Instant::now(),
        waiting: true,
    }));
    let body = paced_body(wire, file, Arc::clone(&activity), progress);
    let Ok(method) = reqwest::Method::from_bytes(outgoing.method.as_bytes()) else {
        return AttemptEnd::Network(format!("bad method {}", outgoing.method));
    };
    let mut request = wire
        .client
        .request(method, &outgoing.url)
        .header(PACED_HEADER, "1")
        .header(reqwest::header::CONTENT_LENGTH, outgoing.body_len)
        .body(body);
    for (name, value) in &outgoing.headers {
        request = request.header(name, value);
    }
    let send = async {
        match request.send().await {
            Ok(response) => AttemptEnd::Response {
                status: response.status().as_u16(),
                headers: response
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect(),
            },
            Err(e) => AttemptEnd::Network(e.to_string()),
        }
    };
    tokio::select! {
        end = send => end,
        () = idle(wire.idle_timeout, &activity) => AttemptEnd::Idle,
    }
}

fn paced_body(
    wire: &Wire,
    file: tokio::fs::File,
    activity: Arc<Mutex<Activity>>,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> reqwest::Body {
    let chunk = usize::try_from(wire.chunk_bytes.max(1)).unwrap_or(64 * 1024);
    let uplink = wire.uplink.clone();
    let frozen = wire.frozen.clone();
    let progress = Arc::new(progress);
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stream = tokio_util::io::ReaderStream::with_capacity(file, chunk).then(move |item| {
        let uplink = uplink.clone();
        let mut frozen = frozen.clone();
        let activity = Arc::clone(&activity);
        let progress = Arc::clone(&progress);
        let sent = Arc::clone(&sent);
        async move {
            let bytes = item?;
            set_waiting(&activity, true);
            wait_thawed(&mut frozen).await;
            if let Some(uplink) = &uplink {
                uplink.carry(bytes.len() as u64).await;
            }
            // A daemon that froze meanwhile stops writing at once.
            wait_thawed(&mut frozen).await;
            set_waiting(&activity, false);
            let total = sent.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::SeqCst)
                + bytes.len() as u64;
            progress(total);
            Ok::<_, std::io::Error>(bytes)
        }
    });
    reqwest::Body::wrap_stream(stream)
}

async fn wait_thawed(frozen: &mut watch::Receiver<bool>) {
    while *frozen.borrow_and_update() {
        if frozen.changed().await.is_err() {
            break;
        }
    }
}

fn set_waiting(activity: &Mutex<Activity>, waiting: bool) {
    let mut a = activity.lock().unwrap_or_else(PoisonError::into_inner);
    a.waiting = waiting;
    a.last = Instant::now();
}

/// Completes once nothing moved for `timeout` while not waiting for the link.
async fn idle(timeout: Duration, activity: &Mutex<Activity>) {
    loop {
        let now = Instant::now();
        let a = *activity.lock().unwrap_or_else(PoisonError::into_inner);
        if a.waiting {
            tokio::time::sleep(timeout).await;
            continue;
        }
        let deadline = a.last.checked_add(timeout).unwrap_or(now);
        if deadline <= now {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}
