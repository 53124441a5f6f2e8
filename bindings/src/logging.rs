//! Logging through the `log` facade: the app's own [`LogSink`] when it sets one, otherwise
//! the platform's logger (`oslog` on Apple platforms, `android_logger` on Android).
//! Elsewhere (the Linux host the suites run on) nothing is logged until a sink is set.
//!
//! The `log` facade accepts one logger per process, once. So this module installs one
//! forwarding logger, the first time a queue opens or a sink is set, and keeps the choice
//! of destination in a slot that [`set_log_sink`] and [`clear_log_sink`] may change at any
//! time, before or after queues are open. It must never block or panic in a log call: a
//! sink that throws loses that one line, nothing else.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock, Once, RwLock};

/// Ferry logs at `Info` and above to the platform logger when the app set no sink.
const PLATFORM_LEVEL: log::LevelFilter = log::LevelFilter::Info;

/// How important a log line is, most important first. A sink set with a level receives
/// that level and every one above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed that the app may need to act on (a database that cannot be
    /// synced, a platform service that panicked).
    Error,
    /// Something unexpected Ferry worked around (limits lowered to fit the process's open
    /// file limit, a queue that has not moved for a while).
    Warn,
    /// What happened at a glance: opens, requeues after a restart, shutdowns.
    Info,
    /// Details for debugging one transfer or host.
    Debug,
    /// Everything, for debugging Ferry itself; verbose.
    Trace,
}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => Self::Error,
            log::Level::Warn => Self::Warn,
            log::Level::Info => Self::Info,
            log::Level::Debug => Self::Debug,
            log::Level::Trace => Self::Trace,
        }
    }
}

impl From<LogLevel> for log::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Self::Error,
            LogLevel::Warn => Self::Warn,
            LogLevel::Info => Self::Info,
            LogLevel::Debug => Self::Debug,
            LogLevel::Trace => Self::Trace,
        }
    }
}

/// Implemented by the app to receive Ferry's log lines in its own logger. Called on
/// Ferry's threads: return quickly.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One log line: its `level`, the Rust module that wrote it (`target`, e.g.
    /// `ferry::actor`) and the `message`. A sink that throws loses only that line.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Sends Ferry's logs at `max_level` and above to `sink` instead of the platform logger,
/// from now on. May be called at any time, before or after opening queues; a later call
/// replaces the sink.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    install();
    replace_sink(Some(sink));
    log::set_max_level(max_level.into());
}

/// Stops sending logs to the app's sink; Ferry logs to the platform logger again.
#[uniffi::export]
pub fn clear_log_sink() {
    install();
    replace_sink(None);
    log::set_max_level(FORWARDER.platform_level());
}

/// Installs the forwarding logger (once per process) with the platform default level.
/// Called when a queue opens.
pub(crate) fn install_platform_default() {
    install();
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static FORWARDER: LazyLock<Forwarder> = LazyLock::new(Forwarder::new);
static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        if log::set_logger(&*FORWARDER).is_ok() {
            log::set_max_level(FORWARDER.platform_level());
        }
        // Otherwise the app (or another Rust library in it) installed its own `log`
        // logger first; Ferry's lines go there, and a sink is never called.
    });
}

fn replace_sink(sink: Option<Arc<dyn LogSink>>) {
    match SINK.write() {
        Ok(mut guard) => *guard = sink,
        Err(poisoned) => *poisoned.into_inner() = sink,
    }
}

fn current_sink() -> Option<Arc<dyn LogSink>> {
    match SINK.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// The one `log::Log` Ferry installs: to the sink if set, else to the platform logger.
struct Forwarder {
    platform: Option<Box<dyn log::Log>>,
}

impl Forwarder {
    fn new() -> Self {
        Self {
            platform: platform_logger(),
        }
    }

    fn platform_level(&self) -> log::LevelFilter {
        if self.platform.is_some() {
            PLATFORM_LEVEL
        } else {
            log::LevelFilter::Off
        }
    }
}

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match current_sink() {
            Some(sink) => {
                let (level, target) = (record.level().into(), record.target().to_owned());
                let message = record.args().to_string();
                // A foreign sink that throws surfaces here as a panic: drop that line.
                let _ = catch_unwind(AssertUnwindSafe(|| sink.log(level, target, message)));
            }
            None => {
                if let Some(platform) = &self.platform {
                    platform.log(record);
                }
            }
        }
    }

    fn flush(&self) {
        if let Some(platform) = &self.platform {
            platform.flush();
        }
    }
}

#[cfg(target_vendor = "apple")]
fn platform_logger() -> Option<Box<dyn log::Log>> {
    // Filtering is ours (`log::max_level`); OsLogger checks the same global level.
    Some(Box::new(oslog::OsLogger::new("dev.ferry")))
}

#[cfg(target_os = "android")]
fn platform_logger() -> Option<Box<dyn log::Log>> {
    Some(Box::new(android_logger::AndroidLogger::new(
        android_logger::Config::default()
            .with_max_level(log::LevelFilter::Trace)
            .with_tag("Ferry"),
    )))
}

#[cfg(not(any(target_vendor = "apple", target_os = "android")))]
fn platform_logger() -> Option<Box<dyn log::Log>> {
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<(LogLevel, String)>>);

    impl LogSink for Lines {
        fn log(&self, level: LogLevel, _target: String, message: String) {
            self.0.lock().unwrap().push((level, message));
        }
    }

    impl Lines {
        fn messages(&self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|(_, m)| m.clone())
                .collect()
        }
    }

    struct Throws;

    impl LogSink for Throws {
        fn log(&self, _: LogLevel, _: String, _: String) {
            panic!("a foreign sink that throws");
        }
    }

    // One test owns the process-wide logger, so the steps run in order.
    #[test]
    fn sink_can_be_set_swapped_and_cleared_after_the_platform_default_is_installed() {
        install_platform_default();
        log::info!("before any sink");

        let first = Arc::new(Lines::default());
        set_log_sink(first.clone(), LogLevel::Info);
        log::info!("to the first sink");
        log::debug!("below the first sink's level");

        let second = Arc::new(Lines::default());
        set_log_sink(second.clone(), LogLevel::Debug);
        log::debug!("to the second sink");

        set_log_sink(Arc::new(Throws), LogLevel::Info);
        log::warn!("lost in a throwing sink");

        set_log_sink(second.clone(), LogLevel::Info);
        log::info!("after the throwing sink");

        clear_log_sink();
        log::error!("after clearing");

        assert_eq!(first.messages(), ["to the first sink"]);
        assert_eq!(
            second.messages(),
            ["to the second sink", "after the throwing sink"]
        );
        assert_eq!(first.0.lock().unwrap()[0].0, LogLevel::Info);
    }
}
