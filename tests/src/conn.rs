//! One accepted connection: TLS (optional), HTTP/1.1 or HTTP/2, and the
//! ability to kill it.
//!
//! What it is for: serving a TCP connection with hyper-util's auto builder
//! (HTTP/1.1, or HTTP/2 by prior knowledge or ALPN), handing every request a
//! [`ConnHandle`] through which a handler can reset the whole connection
//! (dropped with `SO_LINGER` 0, so the client sees a TCP RST) or learn that it
//! is gone.
//!
//! What it must never do: decide to reset on its own, time anything out (a
//! paused tokio clock would fire such timeouts at once), or look into requests.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// A request's view of its connection.
#[derive(Clone, Debug)]
pub struct ConnHandle {
    /// Cancelled to make the connection stop (a reset, or the server shutting down).
    kill: CancellationToken,
    /// Cancelled once the connection has been dropped.
    gone: CancellationToken,
    reset: Arc<AtomicBool>,
}

impl ConnHandle {
    /// A handle for a connection that is killed when `server` is cancelled.
    pub fn new(server: &CancellationToken) -> Self {
        ConnHandle {
            kill: server.child_token(),
            gone: CancellationToken::new(),
            reset: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Kills the connection: no response, and a TCP RST to the client.
    /// Every request on it (all HTTP/2 streams) dies with it.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.kill.cancel();
    }

    /// Completes once the connection has been dropped (closed by either side,
    /// reset, or the server shut down): nothing sent after that reaches anyone.
    pub async fn gone(&self) {
        self.gone.cancelled().await
    }
}

/// A TCP stream that, when told to, closes with a reset instead of a FIN.
struct ResettingStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettingStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // Best effort: if this fails the client sees a plain close instead.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves one connection until the client leaves, a handler resets it, or
/// the server shuts down.
pub async fn serve(
    tcp: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    conn: ConnHandle,
) {
    // Declared first, dropped last: after the stream itself is gone, requests
    // still waiting (HTTP/2 streams run as their own tasks) learn it.
    let _gone = conn.gone.clone().drop_guard();
    let _ = tcp.set_nodelay(true);
    let io = ResettingStream {
        inner: tcp,
        reset: Arc::clone(&conn.reset),
    };
    match tls {
        None => drive(TokioIo::new(io), router, conn).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                r = acceptor.accept(io) => r,
                _ = conn.kill.cancelled() => return,
            };
            // A failed handshake is the client's business; the connection just ends.
            if let Ok(stream) = handshake {
                drive(TokioIo::new(stream), router, conn).await;
            }
        }
    }
}

async fn drive<I>(io: I, router: Router, conn: ConnHandle)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let handle = conn.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        router.clone().call(req)
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(io, service);
    tokio::select! {
        // Checked first, so that once a handler asked for a reset, not one more
        // byte (such as a response queued since) is written.
        biased;
        _ = conn.kill.cancelled() => {}
        // Protocol errors and clients that leave end the connection, nothing more.
        _ = connection => {}
    }
}
