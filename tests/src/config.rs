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

/// The default is cleartext on a free port, digests only, no faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve TLS with a freshly generated certificate for `localhost` and
    /// `127.0.0.1` (see [`crate::TestServer::ca_certificate_pem`]).
    pub tls: bool,
    /// Keep received bytes as files in this directory (created if missing),
    /// one file per stored key, named by percent-encoding the key. Without
    /// it only lengths and digests are kept.
    pub store_dir: Option<PathBuf>,
    /// Faults to inject from the first request on.
    pub faults: FaultPlan,
    /// Credentials uploads need (none by default).
    pub auth: AuthPolicy,
}
