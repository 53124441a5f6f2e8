//! An HTTP/2 upload server that refuses some streams unprocessed, as servers do when they
//! end a connection (nginx at `keepalive_requests` and at every reload) or are over their
//! stream limit.
//!
//! What it is for: showing that a client treats a request the server never processed as
//! unsent. Every `refuse_every`-th stream of a connection is reset with `RST_STREAM`
//! `REFUSED_STREAM`, which tells the client the request was never processed (RFC 9113
//! §8.7); the others are answered `201 Created` once their whole body arrived. With
//! `refuse_every` 1 it processes nothing. It counts connections, refusals and answers, per
//! `Idempotency-Key`.
//!
//! What it must never do: answer a stream it refused, bind anything but loopback, or speak
//! anything but HTTP/2 by prior knowledge over cleartext.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct RefusingServer {
    addr: SocketAddr,
    counts: Arc<Mutex<RefusalCounts>>,
    task: JoinHandle<()>,
}

/// What a [`RefusingServer`] saw.
#[derive(Clone, Debug, Default)]
pub struct RefusalCounts {
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests answered `201`, by their `Idempotency-Key` (empty without one).
    pub answered: HashMap<String, u64>,
    /// Body bytes received in answered requests.
    pub bytes: u64,
    /// Streams refused with `REFUSED_STREAM`.
    pub refused: u64,
}

impl RefusingServer {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime, refusing
    /// every `refuse_every`-th stream of each connection (1: all of them).
    pub async fn start(refuse_every: u64) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(RefusalCounts::default()));
        let task = tokio::spawn(accept_loop(
            listener,
            refuse_every.max(1),
            Arc::clone(&counts),
        ));
        Ok(Self { addr, counts, task })
    }

    /// `http://127.0.0.1:PORT/{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// A copy of the counts so far.
    pub fn counts(&self) -> RefusalCounts {
        self.counts
            .lock()
            .map(|counts| counts.clone())
            .unwrap_or_default()
    }
}

impl Drop for RefusingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, refuse_every: u64, counts: Arc<Mutex<RefusalCounts>>) {
    let mut connections = JoinSet::new();
    while let Ok((socket, _)) = listener.accept().await {
        if let Ok(mut counts) = counts.lock() {
            counts.connections += 1;
        }
        connections.spawn(serve(socket, refuse_every, Arc::clone(&counts)));
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(socket: TcpStream, refuse_every: u64, counts: Arc<Mutex<RefusalCounts>>) {
    let Ok(mut connection) = h2::server::handshake(socket).await else {
        return;
    };
    let mut streams = 0u64;
    // `accept` also drives the connection (answers, frames) until the client closes it.
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        streams += 1;
        if streams.is_multiple_of(refuse_every) {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            if let Ok(mut counts) = counts.lock() {
                counts.refused += 1;
            }
            continue;
        }
        tokio::spawn(answer(request, respond, Arc::clone(&counts)));
    }
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    counts: Arc<Mutex<RefusalCounts>>,
) {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = request.into_body();
    let mut bytes = 0u64;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            return;
        };
        bytes += chunk.len() as u64;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let Ok(response) = http::Response::builder().status(201).body(()) else {
        return;
    };
    if respond.send_response(response, true).is_ok()
        && let Ok(mut counts) = counts.lock()
    {
        *counts.answered.entry(key).or_default() += 1;
        counts.bytes += bytes;
    }
}
