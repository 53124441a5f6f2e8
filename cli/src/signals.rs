//! The signals that stop a command cleanly: SIGINT (Ctrl-C), SIGTERM (`kill`, service
//! managers, `docker stop`) and SIGHUP (the terminal went away).
//!
//! What it is for: one listener that says which of them came first, and the exit status
//! that goes with each (128 + the signal's number, what a shell reports for a process the
//! signal killed, so scripts see the same status whether or not ferry had time to clean
//! up). Once installed, the three no longer kill the process: the caller must act on them.
//!
//! What it must never do: end the process or touch the queue (the caller shuts the queue
//! down and reports), or report a signal that did not come. A handler that cannot be
//! installed leaves that signal's default action (the process dies, which the queue
//! survives as it survives kill -9). SIGPIPE is not among them: Rust leaves it ignored,
//! and it must stay so (`stdout.rs` says why).

use serde::Serialize;

/// A signal that asks a command to stop. Serialised as its name (`"SIGTERM"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StopSignal {
    #[serde(rename = "SIGINT")]
    Interrupt,
    #[serde(rename = "SIGTERM")]
    Terminate,
    #[serde(rename = "SIGHUP")]
    Hangup,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
            Self::Hangup => "SIGHUP",
        }
    }

    /// 128 + the signal's number: 130, 143, 129.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
            Self::Hangup => 129,
        }
    }
}

/// Listens for the stop signals from its creation on.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Installs the handlers (on tokio's runtime, which must be running).
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
                hangup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next stop signal; pending forever when none can arrive.
    pub async fn recv(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            tokio::select! {
                () = next(&mut self.interrupt) => StopSignal::Interrupt,
                () = next(&mut self.terminate) => StopSignal::Terminate,
                () = next(&mut self.hangup) => StopSignal::Hangup,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            StopSignal::Interrupt
        }
    }
}

/// Resolves when `listener` receives its signal; never when it is not installed or the
/// runtime's signal driver is gone.
#[cfg(unix)]
async fn next(listener: &mut Option<tokio::signal::unix::Signal>) {
    let received = match listener {
        Some(listener) => listener.recv().await.is_some(),
        None => false,
    };
    if !received {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_128_plus_the_signal_number_and_names_are_serialised() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 128 + 2);
        assert_eq!(StopSignal::Hangup.exit_code(), 128 + 1);
        assert_eq!(StopSignal::Terminate.exit_code(), 128 + 15);
        for signal in [
            StopSignal::Interrupt,
            StopSignal::Terminate,
            StopSignal::Hangup,
        ] {
            let json = serde_json::to_string(&signal).expect("serialises");
            assert_eq!(json, format!("\"{}\"", signal.name()));
        }
    }
}
