//! A loopback TCP proxy for downloads from a server we did not write (nginx, Python's
//! `http.server`): it cuts a response's body at chosen positions *in the file*, runs a hook
//! at each cut (to change the file between attempts), and records every exchange: the
//! request's range, the response's status and the body bytes forwarded.
//!
//! It reads HTTP/1.1 as plain GETs use it: request heads without bodies, responses one
//! after another on a connection, each body as long as its `Content-Length` (one without
//! runs to the connection's end). The position of a `206` body in the file starts at the
//! request's `Range: bytes=N-`, any other body's at 0. It must never change a byte it
//! forwards, only stop forwarding.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// One request and its response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    /// `N` of the request's `Range: bytes=N-`, if it had one.
    pub range_start: Option<u64>,
    /// The response's status, once its head arrived.
    pub status: Option<u16>,
    /// Body bytes forwarded to the client.
    pub body_bytes: u64,
    /// Whether the proxy cut the connection in this response's body.
    pub cut: bool,
}

type CutHook = Box<dyn FnMut(usize) + Send>;

struct Shared {
    /// Positions in the file, ascending; `next` is the first not yet cut at.
    cuts: Vec<u64>,
    next: usize,
    on_cut: CutHook,
    exchanges: Vec<Exchange>,
}

/// Forwards 127.0.0.1:<port> to `upstream`, cutting bodies at file positions.
pub struct CuttingProxy {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl CuttingProxy {
    /// `cuts`: positions in the file (ascending) at which the connection carrying that
    /// byte is closed, after forwarding exactly up to it; each fires once, then
    /// `on_cut(index of the cut)` runs before the connection closes.
    pub async fn start(
        upstream: SocketAddr,
        cuts: Vec<u64>,
        on_cut: impl FnMut(usize) + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Mutex::new(Shared {
            cuts,
            next: 0,
            on_cut: Box::new(on_cut),
            exchanges: Vec::new(),
        }));
        let task = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Ok(server) = connect(upstream).await {
                            relay(client, server, shared).await;
                        }
                    });
                }
            }
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Every response whose head arrived, in that order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.lock().expect("proxy state").exchanges.clone()
    }

    /// Cuts made so far.
    pub fn cuts_done(&self) -> usize {
        self.shared.lock().expect("proxy state").next
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to the server with a small receive buffer: the proxy takes bytes from the
/// server about as fast as the client takes them from the proxy, as a direct connection
/// would, instead of letting the server push megabytes ahead into loopback buffers that a
/// cut then throws away (bytes the server counts as sent).
async fn connect(upstream: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(UPSTREAM_RECEIVE_BUFFER)?;
    socket.connect(upstream).await
}

/// The proxy's receive buffer towards the server (the kernel doubles it).
const UPSTREAM_RECEIVE_BUFFER: u32 = 128 * 1024;

/// The end of an HTTP head (after its blank line), if `bytes` holds it.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| at + 4)
}

fn range_start(head: &str) -> Option<u64> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("range") {
            return None;
        }
        let from = value.trim().strip_prefix("bytes=")?.split('-').next()?;
        from.parse().ok()
    })
}

fn status(head: &str) -> Option<u16> {
    head.split(' ').nth(1)?.parse().ok()
}

async fn relay(mut client: TcpStream, mut server: TcpStream, shared: Arc<Mutex<Shared>>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The `Range` start of each request sent and not yet answered, oldest first.
    let requests: Mutex<VecDeque<Option<u64>>> = Mutex::default();
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upstream = async {
        let mut pending = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            // Requests without bodies (GETs): one head after another.
            pending.extend_from_slice(&buffer[..read]);
            while let Some(end) = head_end(&pending) {
                let text = String::from_utf8_lossy(&pending[..end]).into_owned();
                requests
                    .lock()
                    .expect("requests")
                    .push_back(range_start(&text));
                pending.drain(..end);
            }
            if server_write.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let mut pending = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut phase = Phase::Head;
        loop {
            let read = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            pending.extend_from_slice(&buffer[..read]);
            loop {
                if matches!(phase, Phase::Head) {
                    let Some(end) = head_end(&pending) else {
                        break;
                    };
                    if client_write.write_all(&pending[..end]).await.is_err() {
                        return;
                    }
                    let text = String::from_utf8_lossy(&pending[..end]).into_owned();
                    let requested = requests.lock().expect("requests").pop_front().flatten();
                    phase = shared.lock().expect("proxy state").begin(&text, requested);
                    pending.drain(..end);
                }
                if pending.is_empty() {
                    break;
                }
                let (count, cut) = phase.forward(pending.len(), &shared);
                if client_write.write_all(&pending[..count]).await.is_err() || cut {
                    let _ = client_write.flush().await;
                    return;
                }
                pending.drain(..count);
            }
        }
    };
    // Whichever direction ends first ends the connection (a cut closes both sides).
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

/// Where a connection's downstream is.
enum Phase {
    /// Before a response's head ended.
    Head,
    /// In a response's body.
    Body {
        /// Its index in `exchanges`.
        index: usize,
        /// The position in the file of the next body byte.
        position: u64,
        /// Body bytes still to come, if the head said (`Content-Length`).
        remaining: Option<u64>,
    },
}

impl Shared {
    /// Records a response whose head is `head`, to a request for `requested` onwards.
    fn begin(&mut self, head: &str, requested: Option<u64>) -> Phase {
        let status = status(head);
        self.exchanges.push(Exchange {
            range_start: requested,
            status,
            ..Exchange::default()
        });
        Phase::Body {
            index: self.exchanges.len() - 1,
            position: if status == Some(206) {
                requested.unwrap_or(0)
            } else {
                0
            },
            remaining: content_length(head),
        }
    }
}

fn content_length(head: &str) -> Option<u64> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("content-length") {
            return None;
        }
        value.trim().parse().ok()
    })
}

impl Phase {
    /// How many of the next `len` bytes to forward, and whether the connection is cut
    /// after them (the cut's hook has then run).
    fn forward(&mut self, len: usize, shared: &Mutex<Shared>) -> (usize, bool) {
        let Self::Body {
            index,
            position,
            remaining,
        } = self
        else {
            return (0, false);
        };
        let mut state = shared.lock().expect("proxy state");
        let in_body = remaining.map_or(len as u64, |remaining| remaining.min(len as u64));
        let end = *position + in_body;
        let cut = state
            .cuts
            .get(state.next)
            .copied()
            .filter(|cut| *cut > *position && *cut <= end);
        let body = cut.map_or(in_body, |cut| cut - *position);
        *position += body;
        state.exchanges[*index].body_bytes += body;
        if let Some(remaining) = remaining.as_mut() {
            *remaining -= body;
        }
        if cut.is_some() {
            state.exchanges[*index].cut = true;
            let done = state.next;
            state.next += 1;
            (state.on_cut)(done);
            return (body as usize, true);
        }
        if *remaining == Some(0) {
            *self = Self::Head;
        }
        (body as usize, false)
    }
}
