//! Simulated OS background-transfer services, on tokio's clock, for the scenario runner
//! and the tests: the iOS background-session daemon ([`ios`]) and Android's
//! background-work scheduler ([`android`]), both behind [`OsSession`]. Each models the
//! rules of `shared/design/os-model.md` as named parameters with their documented
//! defaults ([`knobs`]), and really uploads to the loopback testkit server over the
//! shared modelled [`crate::Uplink`].
//!
//! What it must never do: know about Ferry (the scenario's shim adapts Ferry to these),
//! block a runtime thread, or use the wall clock.

pub mod android;
pub mod android_params;
pub mod ios;
pub mod ios_params;
pub mod knobs;
pub mod rate_limiter;
pub mod session;
pub mod transport;

pub use android::AndroidSession;
pub use android_params::AndroidParams;
pub use ios::{Device, IosSession};
pub use ios_params::IosParams;
pub use knobs::{Knob, KnobError, Knobs, Overrides};
pub use session::{
    AppPhase, CreateError, OsSession, OsWake, SessionEvent, SessionStats, TaskError, TaskOutcome,
    TaskRequest,
};
