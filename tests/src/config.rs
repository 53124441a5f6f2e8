//! How a test server is set up.
//!
//! What it is for: the few choices a test makes before starting a server:
//! port, TLS or cleartext, whether bytes are kept on disk, the initial
//! fault plan and the credentials uploads need.
//!
//! What it must never do: name an address to bind. The server binds the IPv4
//! loopback address and nothing else, whatever the configuration says.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::auth::AuthPolicy;
use crate::faults::FaultPlan;
use crate::tls::ServerCertificate;

/// The default is cleartext on a free port, digests only, no faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve TLS with a freshly generated certificate for `localhost` and
    /// `127.0.0.1` (see [`crate::TestServer::ca_certificate_pem`]).
    pub tls: bool,
    /// Which certificate the server presents with `tls` (a good one by default).
    pub certificate: ServerCertificate,
    /// Keep received bytes as files in this directory (created if missing),
    /// one file per stored key, named by percent-encoding the key. Without
    /// it only lengths and digests are kept.
    pub store_dir: Option<PathBuf>,
    /// Faults to inject from the first request on.
    pub faults: FaultPlan,
    /// Credentials uploads need (none by default).
    pub auth: AuthPolicy,
    /// How the tus / IETF resumable upload endpoints behave.
    pub resumable: ResumableServerConfig,
    /// Model one shared uplink of this many bytes per second (tokio time) that every
    /// request body crosses; see [`crate::Uplink`]. Without it, bodies cross at once.
    pub uplink_bytes_per_sec: Option<u64>,
}

/// Limits and extensions of the resumable upload endpoints (tus 1.0, IETF draft).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResumableServerConfig {
    /// Creations of larger uploads get 413 with `Upload-Limit` / `Tus-Max-Size`.
    pub max_size: Option<u64>,
    /// IETF `PATCH`es with a larger body get 413 with `Upload-Limit`.
    pub max_append_size: Option<u64>,
    /// Send `Upload-Limit` on creation and `HEAD` answers (IETF); off, a client learns
    /// the limits only from a 413.
    pub announce_limits: bool,
    /// tus checksum algorithms offered (`sha1`, `sha256`); empty turns the checksum
    /// extension off.
    pub tus_checksum_algorithms: Vec<String>,
}

impl Default for ResumableServerConfig {
    fn default() -> Self {
        Self {
            max_size: None,
            max_append_size: None,
            announce_limits: true,
            tus_checksum_algorithms: vec!["sha1".into(), "sha256".into()],
        }
    }
}
