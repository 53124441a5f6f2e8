//! What the app tells Ferry about its surroundings: foreground or background, and the network.
//!
//! Plain data reported by the app or a platform shim; Ferry never probes the OS itself.

use serde::{Deserialize, Serialize};

/// Whether the app is visible to the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppState {
    #[default]
    Foreground,
    Background,
}

/// The network as the OS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStatus {
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
