//! The running server: listener, accept loop, and the handle tests hold.
//!
//! What it is for: binding 127.0.0.1, accepting connections onto the current
//! tokio runtime until shut down, and answering a test's questions (address,
//! CA certificate, stats, what was received) and fault-plan changes.
//!
//! What it must never do: bind anything but loopback, block the runtime, or
//! outlive its handle: dropping a `TestServer` stops it too.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::app::{self, App};
use crate::auth::AuthPolicy;
use crate::config::ServerConfig;
use crate::conn::{self, ConnHandle};
use crate::faults::{FaultPlan, FaultPlanError};
use crate::files::{DownloadFault, FileRequest};
use crate::state::{ReceivedBody, Stats};
use crate::tls;
use crate::uplink::Uplink;

/// A loopback upload server running on the current tokio runtime.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    ca_pem: Option<String>,
    app: App,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Binds 127.0.0.1 and starts serving on the current tokio runtime
    /// (multi-thread or current-thread, real or paused clock).
    pub async fn start(config: ServerConfig) -> io::Result<TestServer> {
        config
            .faults
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if let Some(dir) = &config.store_dir {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .map_err(|e| {
                io::Error::new(e.kind(), format!("binding 127.0.0.1:{}: {e}", config.port))
            })?;
        let addr = listener.local_addr()?;
        let tls = if config.tls {
            Some(tls::generate_with(config.certificate)?)
        } else {
            None
        };
        let uplink = config
            .uplink_bytes_per_sec
            .map(|rate| std::sync::Arc::new(Uplink::new(rate)));
        let app = App::new(
            config.faults,
            config.store_dir,
            config.auth,
            config.resumable,
            uplink,
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(
            listener,
            tls.as_ref().map(|t| t.acceptor.clone()),
            app.clone(),
            stop.clone(),
        ));
        Ok(TestServer {
            addr,
            ca_pem: tls.map(|t| t.ca_pem),
            app,
            stop,
            task: Some(task),
        })
    }

    /// The bound address (always 127.0.0.1).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`, or `https://localhost:PORT/` with TLS.
    pub fn base_url(&self) -> String {
        match self.ca_pem {
            None => format!("http://127.0.0.1:{}/", self.addr.port()),
            Some(_) => format!("https://localhost:{}/", self.addr.port()),
        }
    }

    /// With TLS, the PEM clients trust: the CA that signed the server's certificate, or
    /// the certificate itself when it is self-signed.
    pub fn ca_certificate_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// The modelled link, for senders that pace themselves on it (see
    /// [`crate::uplink::PACED_HEADER`]).
    pub fn uplink(&self) -> Option<std::sync::Arc<Uplink>> {
        self.app.uplink.clone()
    }

    pub fn stats(&self) -> Stats {
        self.app.state.stats()
    }

    /// What was stored under `key`: a request path, or path + `#` + part name.
    pub fn received(&self, key: &str) -> Option<ReceivedBody> {
        self.app.state.received(key)
    }

    pub fn received_all(&self) -> BTreeMap<String, ReceivedBody> {
        self.app.state.received_all()
    }

    /// Installs a fault plan; request numbering and random draws start over.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), FaultPlanError> {
        plan.validate()?;
        self.app.set_plan(plan);
        Ok(())
    }

    /// Installs the credentials uploads need from now on.
    pub fn set_auth(&self, policy: AuthPolicy) {
        self.app.auth.set_policy(policy);
    }

    /// A fresh bearer token, valid under the policy's `bearer` limits.
    pub fn issue_token(&self) -> String {
        self.app.auth.issue_token()
    }

    /// A URL on this server for `method` on `path`, presigned to expire `ttl` from now
    /// (by tokio's clock), with when it expires; `None` without a `presign_secret`.
    pub fn presign(&self, method: &str, path: &str, ttl: Duration) -> Option<(String, SystemTime)> {
        let presigned = self.app.auth.presign(method, path, ttl)?;
        let origin = self.base_url();
        let url = format!(
            "{}{}",
            origin.trim_end_matches('/'),
            presigned.path_and_query
        );
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_millis(presigned.expires_at_ms);
        Some((url, expires_at))
    }

    /// Serves `bytes` for downloads at [`Self::file_url`]`(name)`; serving a name again
    /// makes a new version (new `ETag` and `Last-Modified`).
    pub fn serve_file(&self, name: &str, bytes: Vec<u8>) {
        self.app.files.put(name, bytes);
    }

    /// The URL the file `name` is served at.
    pub fn file_url(&self, name: &str) -> String {
        format!("{}_files/{name}", self.base_url())
    }

    /// Faults for the next requests of file `name`, one each, in order.
    pub fn add_download_faults(&self, name: &str, faults: Vec<DownloadFault>) {
        self.app.files.add_faults(name, faults);
    }

    /// Body bytes of file `name` handed to connections so far.
    pub fn bytes_served(&self, name: &str) -> u64 {
        self.app.files.served(name)
    }

    /// Every request for file `name`, in order.
    pub fn file_requests(&self, name: &str) -> Vec<FileRequest> {
        self.app.files.requests(name)
    }

    /// Forgets every resumable upload resource, like a server that lost its uploads:
    /// clients then get 404 and must create them again.
    pub fn forget_uploads(&self) {
        self.app.uploads.clear();
    }

    /// Forgets what was received, the counters and issued tokens; the plan starts over.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// Stops accepting, drops every connection, and waits for that.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            // The loop never panics; a join error could only be a cancelled runtime.
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: App,
    stop: CancellationToken,
) {
    let router = app::router(app.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    app.state.connection();
                    let handle = ConnHandle::new(&stop);
                    connections.spawn(conn::serve(tcp, tls.clone(), router.clone(), handle));
                }
                // Out of file descriptors and the like: wait a little and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Every connection's kill token is a child of `stop`: they all end now.
    while connections.join_next().await.is_some() {}
}
