//! A loopback TCP proxy that counts the bytes a client sends and cuts its connections at
//! chosen totals: the measure of "bytes sent" for resumable upload tests, and the way to
//! interrupt a server we did not write (tusd). `recording` also keeps every byte clients
//! sent, to check what went on the wire.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards 127.0.0.1:<port> to `upstream`.
pub struct CountingProxy {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    cuts_done: Arc<AtomicUsize>,
    recorded: Option<Arc<Mutex<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// `cuts`: totals of client bytes (over every connection) at which the connection
    /// carrying that byte is closed, after forwarding exactly up to it. Each fires once; a
    /// cut among the bytes the client had already pushed into a connection when it was cut
    /// is done with that one.
    pub async fn start(upstream: SocketAddr, cuts: Vec<u64>) -> Self {
        Self::listen(upstream, cuts, None).await
    }

    /// Forwards without cuts and keeps every byte clients send ([`Self::client_bytes`]).
    pub async fn recording(upstream: SocketAddr) -> Self {
        Self::listen(upstream, Vec::new(), Some(Arc::default())).await
    }

    async fn listen(
        upstream: SocketAddr,
        mut cuts: Vec<u64>,
        recorded: Option<Arc<Mutex<Vec<u8>>>>,
    ) -> Self {
        cuts.sort_unstable();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address");
        let sent = Arc::new(AtomicU64::new(0));
        let cuts_done = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(cuts);
        let task = tokio::spawn({
            let (sent, cuts_done, recorded) =
                (Arc::clone(&sent), Arc::clone(&cuts_done), recorded.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let counts = Counts {
                        sent: Arc::clone(&sent),
                        cuts_done: Arc::clone(&cuts_done),
                        cuts: Arc::clone(&cuts),
                        recorded: recorded.clone(),
                    };
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(upstream).await {
                            relay(client, server, counts).await;
                        }
                    });
                }
            }
        });
        Self {
            addr,
            sent,
            cuts_done,
            recorded,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Bytes the client sent through the proxy (headers and bodies), all connections.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    pub fn cuts_done(&self) -> usize {
        self.cuts_done.load(Ordering::SeqCst)
    }

    /// Every byte clients sent, in the order each connection sent them (connections one
    /// after another as their reads arrived); empty unless started with [`Self::recording`].
    pub fn client_bytes(&self) -> Vec<u8> {
        self.recorded
            .as_ref()
            .map(|recorded| recorded.lock().expect("recording").clone())
            .unwrap_or_default()
    }
}

/// What every connection's relay adds to.
struct Counts {
    sent: Arc<AtomicU64>,
    cuts_done: Arc<AtomicUsize>,
    cuts: Arc<Vec<u64>>,
    recorded: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, mut server: TcpStream, counts: Counts) {
    let Counts {
        sent,
        cuts_done,
        cuts,
        recorded,
    } = counts;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            // Claim this read's bytes in the global count, and see if a cut falls inside.
            let before = sent.fetch_add(read as u64, Ordering::SeqCst);
            let after = before + read as u64;
            let next = cuts_done.load(Ordering::SeqCst);
            let cut = cuts
                .get(next)
                .copied()
                .filter(|c| *c > before && *c <= after);
            let forward = cut.map_or(read, |c| (c - before) as usize);
            if let Some(recorded) = &recorded {
                recorded
                    .lock()
                    .expect("recording")
                    .extend_from_slice(&buffer[..forward]);
            }
            if server_write.write_all(&buffer[..forward]).await.is_err() {
                return;
            }
            if cut.is_some() {
                // Bytes past the cut were never forwarded: they count as sent, and lost.
                // So do the bytes the client already pushed into this socket: take them
                // out of the kernel's buffer and count them before closing.
                cuts_done.fetch_add(1, Ordering::SeqCst);
                let _ = server_write.flush().await;
                while let Ok(read) = client_read.try_read(&mut buffer) {
                    if read == 0 {
                        break;
                    }
                    sent.fetch_add(read as u64, Ordering::SeqCst);
                }
                // Cuts that fell among those bytes fell on this connection: they are done
                // too, or the next cut would wait forever for a byte already counted.
                let total = sent.load(Ordering::SeqCst);
                let passed = cuts.iter().filter(|c| **c <= total).count();
                cuts_done.fetch_max(passed, Ordering::SeqCst);
                return;
            }
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    // Whichever direction ends first ends the connection (a cut closes both sides).
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
