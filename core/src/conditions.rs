//! What the app tells Ferry about its surroundings: foreground or background, and the network.
//!
//! Plain data reported by the app or a platform shim; Ferry never probes the OS itself.

use serde::{Deserialize, Serialize};

/// Whether the app is visible to the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppState {
    /// The app is visible: small files run in-process, and an OS task that stalls may be
    /// taken back.
    #[default]
    Foreground,
    /// The app may be suspended at any moment: every transfer that starts goes to the
    /// OS's background service when the app lent one (an in-process request would freeze
    /// with the app); without one, transfers still run in-process.
    Background,
}

/// The network as the OS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// Whether any network is reachable. While offline nothing starts.
    pub online: bool,
    /// Cellular or a personal hotspot.
    pub expensive: bool,
    /// Low Data Mode or Data Saver.
    pub constrained: bool,
}

impl Default for NetworkStatus {
    fn default() -> Self {
        Self {
            online: true,
            expensive: false,
            constrained: false,
        }
    }
}
