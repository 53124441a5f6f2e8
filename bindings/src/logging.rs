//! Logging through the `log` facade: the app's own [`LogSink`] when it sets one,
//! otherwise the platform's logger (`oslog` on Apple platforms, `android_logger` on
//! Android). Elsewhere, nothing is logged until a sink is set.

use std::sync::{Arc, OnceLock, RwLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
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

/// Implemented by the app to receive Ferry's log lines in its own logger.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

static SINK: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static INSTALLED: OnceLock<()> = OnceLock::new();

struct SinkLogger;

impl log::Log for SinkLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let sink = match SINK.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(sink) = sink {
            sink.log(
                record.level().into(),
                record.target().to_owned(),
                record.args().to_string(),
            );
        }
    }

    fn flush(&self) {}
}

/// Sends Ferry's logs at `max_level` and above to `sink`, instead of the platform logger.
/// Call it before opening the first queue: opening installs the platform logger, and the
/// `log` facade accepts one logger per process, so a later call changes only the level.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) {
    match SINK.write() {
        Ok(mut guard) => *guard = Some(sink),
        Err(poisoned) => *poisoned.into_inner() = Some(sink),
    }
    INSTALLED.get_or_init(|| {
        if log::set_logger(&SinkLogger).is_err() {
            // Another logger was installed first (the platform default below, or the
            // app's own `log` implementation); keep it rather than panic.
        }
    });
    log::set_max_level(match max_level {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    });
}

/// Installs the platform logger once, unless the app set a sink first.
pub(crate) fn install_platform_default() {
    INSTALLED.get_or_init(|| {
        #[cfg(target_vendor = "apple")]
        {
            let _ = oslog::OsLogger::new("dev.ferry")
                .level_filter(log::LevelFilter::Info)
                .init();
        }
        #[cfg(target_os = "android")]
        {
            android_logger::init_once(
                android_logger::Config::default()
                    .with_max_level(log::LevelFilter::Info)
                    .with_tag("Ferry"),
            );
        }
    });
}
