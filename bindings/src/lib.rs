//! `ferry-ffi`: Ferry as Swift and Kotlin see it, through UniFFI proc-macros.
//!
//! Everything here translates: records and enums that mirror `ferry`'s types in
//! FFI-friendly shapes (`UUID`s for ids, strings for paths, signed integers, `Duration` and
//! `SystemTime` for time), one error enum whose cases carry their fields, and foreign traits for observers, logging and the OS's
//! background-transfer service (the platform lane). It must never hold
//! business logic: a decision made here would differ between Rust and the apps.
//!
//! Every async method runs on a tokio runtime this library owns (`runtime.rs`), never on
//! the caller's thread or executor, and a panic inside it reaches the caller as
//! [`FerryError::Internal`] instead of killing the app.
//!
//! The doc comments here are what Swift's Quick Help and KDoc show (UniFFI copies them),
//! so every public item has one (`missing_docs`), written for the app developer.

#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

uniffi::setup_scaffolding!();

#[cfg(target_os = "android")]
mod android;
mod authorizer;
mod download;
mod error;
mod events;
mod logging;
mod numbers;
mod platform;
mod queue;
mod records;
mod runtime;
mod settings;
mod uuid;
mod watch;

pub use authorizer::{AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo};
pub use download::{ConflictRule, Direction, Download};
pub use error::FerryError;
pub use events::{EventSubscription, TransferEvent, TransferObserver};
pub use logging::{LogLevel, LogSink, clear_log_sink, set_log_sink};
pub use platform::{
    Handoff, HandoffDownload, PlatformError, PlatformFailure, PlatformOutcome,
    PlatformTransferService,
};
pub use queue::TransferQueue;
pub use records::*;
pub use settings::{BatchEndpoint, HttpVersion};
pub use watch::TransferWatcher;
