//! A test file system for power cuts: a FUSE mount that keeps every write in memory and
//! makes it durable only when it is synced, and that can drop everything unsynced on
//! command, as a power cut does. A SIGKILL cannot show a missing sync (the kernel's page
//! cache survives it); this can.
//!
//! `volume.rs` decides what a sync makes durable, `pages.rs` holds file bytes,
//! `fuse.rs` serves the volume to the kernel, `mount.rs` mounts, cuts and reboots it,
//! `tripwire.rs` stops the process under test at a chosen rename or sync;
//! `child.rs` is the queue process the power-cut test (`tests/tests/power_cut.rs`) runs
//! on it and freezes, and `protocol.rs` the lines it tells the test.
//!
//! Nothing here may be used outside tests: it loses data on purpose.

pub mod child;
mod fuse;
mod mount;
mod pages;
pub mod protocol;
mod tripwire;
mod volume;

pub use mount::{MountError, PowerCutMount};
pub use tripwire::{StopAt, VolumeOp};
pub use volume::{CutReport, Unsynced};
