//! What the app tells Ferry about its surroundings: foreground or background, and the network.
//!
//! Plain data reported by the app or a platform shim; Ferry never probes the OS itself,
//! and never assumes what it was not told: until the app says, the app may be suspended at
//! any moment ([`AppState::Unknown`]) and the network may be metered and constrained
//! ([`NetworkStatus::NOT_REPORTED`]).

use serde::{Deserialize, Serialize};

/// Whether the app is visible to the user.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppState {
    /// Not told yet (the default until the app passes its state at open or calls
    /// `set_app_state`). With an OS background-transfer service attached, Ferry then acts
    /// as in the background: every transfer goes to the OS, whose tasks survive
    /// suspension, and no OS task is taken back. Without one (a desktop process, which is
    /// not suspended), transfers run in-process as always.
    #[default]
    Unknown,
    /// Visible: small files run in-process, where they are fastest, and an OS task that
    /// stalls is taken back.
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

impl NetworkStatus {
    /// What Ferry assumes until the app reports the network: online (so attempts are
    /// made), but expensive and constrained, so a transfer that may not use such a network
    /// waits until the app says the network allows it.
    pub const NOT_REPORTED: Self = Self {
        online: true,
        expensive: true,
        constrained: true,
    };
}

/// Online, neither expensive nor constrained: what a desktop on a wired or home network
/// reports.
impl Default for NetworkStatus {
    fn default() -> Self {
        Self {
            online: true,
            expensive: false,
            constrained: false,
        }
    }
}
