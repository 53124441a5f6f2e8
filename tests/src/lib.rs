//! `ferry-testkit`: a loopback upload server for Ferry's tests.
//!
//! It serves HTTP/1.1 and HTTP/2 (cleartext by prior knowledge, or TLS with
//! ALPN) on 127.0.0.1, stores the length and SHA-256 of every complete body
//! (and optionally the bytes), honours `Idempotency-Key`, counts requests
//! in flight overall and per host, and injects faults deterministically from
//! a seeded [`FaultPlan`]. It can also demand credentials ([`AuthPolicy`]):
//! bearer tokens that expire after N requests or T milliseconds, and presigned
//! URLs with an HMAC signature and an expiry, and it counts requests that
//! carried `Authorization`.
//! It also speaks tus 1.0 and the IETF resumable upload draft (interop
//! versions 3 to 8), with `Upload-Limit`, tus checksums and cuts at an exact
//! byte. It serves files for downloads (`/_files/NAME`: ranges, `If-Range`, 416)
//! with per-file faults, counting the bytes served. The `ferry-testkit serve` binary runs the same
//! server for the Swift and Kotlin suites, with a JSON control API under
//! `/_testkit/`. [`nginx`] starts Debian's nginx (installed if missing) for tests and
//! benchmarks against a real server.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ferry_testkit::{ServerConfig, TestServer};
//! let server = TestServer::start(ServerConfig::default()).await?;
//! let url = format!("{}photos/1.jpg", server.base_url());
//! // ... upload to `url`, then:
//! let got = server.received("/photos/1.jpg");
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod app;
mod auth;
mod batch;
mod body;
mod config;
mod conn;
mod control;
mod faults;
mod files;
mod injector;
pub mod nginx;
pub mod power_cut;
mod refusing;
mod resumable;
pub mod scenario;
mod server;
pub mod sim;
mod state;
mod tls;
pub mod uplink;
mod upload;

pub use auth::{AuthPolicy, BasicPolicy, BearerPolicy, Presigned};
pub use config::{ResumableServerConfig, ServerConfig};
pub use faults::{
    DelayFault, Fault, FaultPlan, FaultPlanError, RetryAfter, ScriptedFault, SlowReadFault,
    StallFault, StatusFault,
};
pub use files::{DownloadFault, FileRequest};
pub use refusing::{RefusalCounts, RefusingServer};
pub use server::TestServer;
pub use state::{AuthCounts, FaultCounts, HostStats, ReceivedBody, ResumableStats, Stats};
pub use tls::{CertificatePems, ServerCertificate, generate_pems};
pub use uplink::{PACED_HEADER, Uplink};
pub use upload::STORED_COOKIE;
