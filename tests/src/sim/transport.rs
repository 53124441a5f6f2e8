//! How a simulated OS task puts its bytes on the wire: a real HTTP request to the loopback
//! testkit server, its body read from the file in chunks, each chunk crossing the shared
//! modelled [`Uplink`] first (the request then carries [`PACED_HEADER`] so the server does
//! not pace it twice), held while the daemon is frozen, and watched for idleness.
//!
//! A download task's attempt ([`download`]) pulls the body the other way, across the
//! same link, into the daemon's temporary file, continuing from resume data when given.
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
    /// A download task: where the downloaded file goes once complete (see [`download`]).
    pub download_to: Option<PathBuf>,
}

/// What the OS keeps of a download task cut short (iOS resume data): the bytes its own
/// temporary file holds and the validator they came with.
#[derive(Clone, Debug)]
pub struct ResumeData {
    /// Bytes of the task's body held in the daemon's temporary file.
    pub held: u64,
    /// The `ETag` of the answer they came from; resuming asks `If-Range` on it.
    pub etag: Option<String>,
    /// When the data was made (it expires).
    pub made: Instant,
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

/// The daemon's temporary file of a download task whose file goes to `to`.
pub fn download_temp(to: &std::path::Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(".osdownload");
    PathBuf::from(name)
}

/// One attempt of a download task: a GET of `outgoing` (its headers as the app gave
/// them), the body written to the daemon's temporary file as it crosses the link. With
/// `resume` (the daemon decided to use its resume data) the request continues after the
/// held bytes (`Range` moved on, `If-Range` on the ETag); a 206 from there is appended,
/// anything else starts the file over (the resume failed on the server's side). On a cut
/// or idleness `resume` is left holding what arrived; on an answer the file is moved to
/// `download_to` and `resume` is cleared.
pub async fn download(
    wire: &Wire,
    outgoing: &Outgoing,
    resume: &mut Option<ResumeData>,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> AttemptEnd {
    let Some(to) = outgoing.download_to.clone() else {
        return AttemptEnd::Network("not a download task".into());
    };
    let temp = download_temp(&to);
    let (first, last) = asked_range(&outgoing.headers);
    let mut request = wire.client.get(&outgoing.url).header(PACED_HEADER, "1");
    for (name, value) in &outgoing.headers {
        if resume.is_some()
            && (name.eq_ignore_ascii_case("range") || name.eq_ignore_ascii_case("if-range"))
        {
            continue;
        }
        request = request.header(name, value);
    }
    if let Some(data) = resume.as_ref() {
        let from = first + data.held;
        let range = match last {
            Some(last) => format!("bytes={from}-{last}"),
            None => format!("bytes={from}-"),
        };
        request = request.header(reqwest::header::RANGE, range);
        if let Some(etag) = &data.etag {
            request = request.header(reqwest::header::IF_RANGE, etag);
        }
    }
    let activity = Arc::new(Mutex::new(Activity {
        last: Instant::now(),
        waiting: true,
    }));
    let fetch = fetch_into(
        wire,
        request,
        &temp,
        resume,
        first,
        Arc::clone(&activity),
        progress,
    );
    let end = tokio::select! {
        end = fetch => end,
        () = idle(wire.idle_timeout, &activity) => AttemptEnd::Idle,
    };
    if let AttemptEnd::Response { .. } = &end {
        *resume = None;
        if let Err(e) = tokio::fs::rename(&temp, &to).await {
            return AttemptEnd::Network(format!(
                "cannot move the download to {}: {e}",
                to.display()
            ));
        }
    }
    end
}

/// `Range: bytes=a-b` of a handoff's headers: `(a, Some(b))`, `(a, None)` for `a-`, and
/// `(0, None)` without one.
fn asked_range(headers: &[(String, String)]) -> (u64, Option<u64>) {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("range"))
        .and_then(|(_, value)| value.strip_prefix("bytes="))
        .and_then(|range| range.split_once('-'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok())))
        .unwrap_or((0, None))
}

/// Sends `request` and writes its body to `temp`: after `resume`'s bytes when the answer
/// continues them, from zero otherwise. Keeps `resume` up to date as bytes arrive.
async fn fetch_into(
    wire: &Wire,
    request: reqwest::RequestBuilder,
    temp: &std::path::Path,
    resume: &mut Option<ResumeData>,
    first: u64,
    activity: Arc<Mutex<Activity>>,
    progress: impl Fn(u64),
) -> AttemptEnd {
    use tokio::io::AsyncWriteExt;
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return AttemptEnd::Network(e.to_string()),
    };
    set_waiting(&activity, false);
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let etag = response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let continues = resume.as_ref().is_some_and(|data| {
        status == 206
            && response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split_once('-'))
                .and_then(|(start, _)| start.parse::<u64>().ok())
                == Some(first + data.held)
    });
    let held = if continues {
        resume.as_ref().map_or(0, |data| data.held)
    } else {
        0
    };
    let opened = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(continues)
        .truncate(!continues)
        .open(temp)
        .await;
    let mut file = match opened {
        Ok(file) => file,
        Err(e) => return AttemptEnd::Network(format!("{}: {e}", temp.display())),
    };
    let successful = (200..300).contains(&status);
    *resume = successful.then(|| ResumeData {
        held,
        etag: etag.clone(),
        made: Instant::now(),
    });
    let mut frozen = wire.frozen.clone();
    let mut written = held;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let _ = file.flush().await;
                return AttemptEnd::Network(e.to_string());
            }
        };
        set_waiting(&activity, true);
        wait_thawed(&mut frozen).await;
        if let Some(uplink) = &wire.uplink {
            uplink.carry(chunk.len() as u64).await;
        }
        wait_thawed(&mut frozen).await;
        set_waiting(&activity, false);
        if let Err(e) = file.write_all(&chunk).await {
            return AttemptEnd::Network(format!("{}: {e}", temp.display()));
        }
        written += chunk.len() as u64;
        if let Some(data) = resume.as_mut() {
            data.held = written;
        }
        progress(written);
    }
    if let Err(e) = file.flush().await {
        return AttemptEnd::Network(format!("{}: {e}", temp.display()));
    }
    AttemptEnd::Response { status, headers }
}
