//! The platform lane: what Ferry asks of the OS's background-transfer service, and what
//! the OS reports back.
//!
//! A platform shim (iOS `URLSession` background sessions, Android WorkManager) implements
//! [`PlatformTransferService`]. Ferry decides *what* goes to the OS and *when*; the shim
//! only starts, cancels and lists OS tasks, and reports their progress and outcome through
//! [`crate::TransferQueue::platform_progress`] and
//! [`crate::TransferQueue::platform_finished`].
//!
//! The types here cross the FFI boundary (UniFFI foreign trait), so they are plain data:
//! strings, integers, vectors. This module must never hold policy: which transfer goes to
//! the OS, how many at once, and when one is taken back are decided in
//! [`crate::scheduler`] and the actor.

mod body;
mod driver;
mod outcome;
mod report;
mod service;

pub(crate) use body::{BatchPartPlan, BodyPlan, bodies_dir, remove_stale_bodies};
pub(crate) use driver::PlatformDriver;
pub(crate) use outcome::to_attempt_outcome;
pub(crate) use report::PlatformReport;
pub use service::{
    DownloadSegment, Handoff, PlatformError, PlatformFailure, PlatformOutcome,
    PlatformTransferService,
};
