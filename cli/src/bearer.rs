//! `--bearer-command CMD`: a request authorizer that runs a token helper.
//!
//! What it is for: wiring `ferry push` to whatever prints a fresh access token
//! (`gcloud auth print-access-token`, `vault read -field=token ...`, a script). The
//! command runs through `sh -c` when Ferry first needs a token, after the server refused
//! one (401/403), and when the token would expire before an upload finishes (with
//! `--bearer-lifetime`). Its first line of stdout is sent as `Authorization: Bearer ...`;
//! its stderr goes to ours.
//!
//! While the command runs, its [`CommandClock`] says for how long: a push that waits
//! names a command that hangs (the library stops waiting for it after a minute, but cannot
//! stop it). When the push ends (done, interrupted, or out of patience) the clock stops the
//! command: it runs in a process group of its own, which is killed, and no command starts
//! after that (an interrupted push once left a fresh `sh -c` behind, adopted by init).
//!
//! What it must never do: store the token, print it, or put the command's output in an
//! error message. The token lives in this process's memory only.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use ferry::{AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo};

/// A token from the command, and until when it is good.
struct Token {
    value: String,
    expires_at: Option<SystemTime>,
}

/// Since when the command has been running, while it runs, and the means to stop it.
#[derive(Debug, Default)]
pub struct CommandClock {
    running: Mutex<Option<RunningCommand>>,
    stopped: AtomicBool,
}

/// The command that runs now: when it started, and its process (group) id.
#[derive(Clone, Copy, Debug)]
struct RunningCommand {
    started: Instant,
    process: u32,
}

impl CommandClock {
    /// How long the running command has run by `now`; `None` when none runs.
    pub fn running_for(&self, now: Instant) -> Option<Duration> {
        let running = *self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.map(|running| now.saturating_duration_since(running.started))
    }

    /// Kills the running command's process group, and lets no command start after this.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let running = *self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = running {
            kill_group(running.process);
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn set(&self, running: Option<RunningCommand>) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = running;
    }
}

/// Sends SIGTERM to the process group `leader` leads (the command's `sh` and what it runs).
#[cfg(unix)]
fn kill_group(leader: u32) {
    if let Ok(group) = libc::pid_t::try_from(leader) {
        // SAFETY: kill(2) takes plain integers; a group that has already ended is ESRCH,
        // which changes nothing.
        unsafe {
            libc::kill(-group, libc::SIGTERM);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_leader: u32) {}

/// Marks the command as running until dropped, however `fetch` returns.
struct Running<'a>(&'a CommandClock);

impl<'a> Running<'a> {
    fn start(clock: &'a CommandClock, process: u32) -> Self {
        clock.set(Some(RunningCommand {
            started: Instant::now(),
            process,
        }));
        Self(clock)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

pub struct BearerCommand {
    command: String,
    lifetime: Option<Duration>,
    current: Mutex<Option<Token>>,
    runs: AtomicU64,
    clock: Arc<CommandClock>,
}

impl BearerCommand {
    pub fn new(command: String, lifetime: Option<Duration>) -> Self {
        Self {
            command,
            lifetime,
            current: Mutex::new(None),
            runs: AtomicU64::new(0),
            clock: Arc::default(),
        }
    }

    /// Says for how long the command has been running, while it runs.
    pub fn clock(&self) -> Arc<CommandClock> {
        Arc::clone(&self.clock)
    }

    /// How many times the command ran.
    #[cfg(test)]
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    fn fetch(&self) -> Result<Token, AuthorizerError> {
        if self.clock.is_stopped() {
            return Err(stopping());
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let obtained = SystemTime::now();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // A group of its own, so that `CommandClock::stop` ends what it started too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .map_err(|error| AuthorizerError::SignInRequired {
                message: format!("the --bearer-command could not be started with sh: {error}"),
            })?;
        let _running = Running::start(&self.clock, child.id());
        let output = child.wait_with_output();
        if self.clock.is_stopped() {
            // Ended by the push's own stop: not the command's fault, nothing to sign in to.
            return Err(stopping());
        }
        let output = output.map_err(|error| AuthorizerError::SignInRequired {
            message: format!("the --bearer-command's output could not be read: {error}"),
        })?;
        if !output.status.success() {
            let status = output
                .status
                .code()
                .map_or_else(|| "a signal".to_owned(), |code| format!("status {code}"));
            return Err(AuthorizerError::SignInRequired {
                message: format!(
                    "the --bearer-command exited with {status}; fix it (or sign in) and run \
                     the same push again"
                ),
            });
        }
        let value = parse_token(&output.stdout).ok_or_else(|| AuthorizerError::SignInRequired {
            message: "the --bearer-command printed no usable token (its first line of stdout \
                      must be the token, in visible ASCII; the output is not shown)"
                .into(),
        })?;
        Ok(Token {
            value,
            expires_at: self.lifetime.map(|lifetime| obtained + lifetime),
        })
    }
}

/// What an attempt that needs a token hears while the push stops: try again later (the
/// next run), nothing failed.
fn stopping() -> AuthorizerError {
    AuthorizerError::Temporary {
        message: "ferry stopped before the --bearer-command gave a token; the next run asks \
                  it again"
            .into(),
    }
}

/// The first line of the output, trimmed, if it can be sent in a header.
fn parse_token(stdout: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(stdout).ok()?;
    let token = text.lines().next()?.trim();
    let sendable = !token.is_empty() && token.bytes().all(|byte| (0x21..=0x7e).contains(&byte));
    sendable.then(|| token.to_owned())
}

impl RequestAuthorizer for BearerCommand {
    fn authorize(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError> {
        // One command at a time: concurrent refreshes wait for the one running.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let reuse = reason == AuthReason::First && current.is_some();
        if !reuse {
            *current = Some(self.fetch()?);
        }
        let token = current.as_ref().ok_or_else(|| AuthorizerError::Temporary {
            message: "no token is available yet".into(),
        })?;
        let mut authorization = Authorization::headers(
            request.destination,
            vec![("Authorization".into(), format!("Bearer {}", token.value))],
        );
        authorization.expires_at = token.expires_at;
        Ok(authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestInfo {
        RequestInfo::new("t", "http://h/a", "PUT", 1)
    }

    fn header(authorization: &Authorization) -> String {
        authorization.headers[0].1.clone()
    }

    #[test]
    fn the_token_is_reused_for_first_and_fetched_again_for_refreshes() {
        let dir = tempfile::tempdir().expect("dir");
        let counter = dir.path().join("n");
        let command = format!(
            "n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{0}'; echo tok$n",
            counter.display()
        );
        let bearer = BearerCommand::new(command, Some(Duration::from_secs(60)));
        let first = bearer
            .authorize(request(), AuthReason::First)
            .expect("first");
        assert_eq!(header(&first), "Bearer tok1");
        assert!(first.expires_at.is_some());
        let again = bearer
            .authorize(request(), AuthReason::First)
            .expect("again");
        assert_eq!(header(&again), "Bearer tok1");
        let refreshed = bearer
            .authorize(request(), AuthReason::RefreshAfter401)
            .expect("refresh");
        assert_eq!(header(&refreshed), "Bearer tok2");
        let renewed = bearer
            .authorize(request(), AuthReason::Expiring)
            .expect("renew");
        assert_eq!(header(&renewed), "Bearer tok3");
        assert_eq!(bearer.runs(), 3);
    }

    #[test]
    fn the_clock_runs_while_the_command_runs_and_stops_when_it_ends() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = dir.path().join("gate");
        // Prints a token once the test creates the gate file (bounded: 10 s at most).
        let command = format!(
            "i=0; while [ ! -e '{0}' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; \
             echo tok",
            gate.display()
        );
        let bearer = Arc::new(BearerCommand::new(command, None));
        let clock = bearer.clock();
        assert_eq!(clock.running_for(Instant::now()), None, "not started yet");
        let asking = Arc::clone(&bearer);
        let answer =
            std::thread::spawn(move || asking.authorize(request(), AuthReason::First).is_ok());
        let mut seen_running = false;
        for _ in 0..500 {
            if clock.running_for(Instant::now()).is_some() {
                seen_running = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(&gate, b"").expect("gate");
        assert!(answer.join().expect("joined"), "the command gave a token");
        assert!(seen_running, "the clock ran while the command ran");
        assert_eq!(
            clock.running_for(Instant::now()),
            None,
            "stopped when it ended"
        );
    }

    #[test]
    fn a_stopped_clock_kills_the_running_command_and_starts_no_other() {
        // Sleeps in a child of its shell, as a token helper that waits on a network would.
        let dir = tempfile::tempdir().expect("dir");
        let pid_file = dir.path().join("pid");
        let command = format!(
            "sleep 30 & echo $! > '{}'; wait; echo tok",
            pid_file.display()
        );
        let bearer = Arc::new(BearerCommand::new(command, None));
        let clock = bearer.clock();
        let asking = Arc::clone(&bearer);
        let answer = std::thread::spawn(move || asking.authorize(request(), AuthReason::First));
        let mut sleeper = None;
        for _ in 0..500 {
            sleeper = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok());
            if sleeper.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let sleeper = sleeper.expect("the command started its sleep");
        assert!(clock.running_for(Instant::now()).is_some(), "it runs");
        clock.stop();
        let answer = answer.join().expect("joined");
        assert!(
            matches!(answer, Err(AuthorizerError::Temporary { .. })),
            "a command the push stopped is no reason to sign in: {answer:?}"
        );
        let gone = (0..500).any(|_| {
            let alive = std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "));
            if alive {
                std::thread::sleep(Duration::from_millis(10));
            }
            !alive
        });
        assert!(gone, "the whole group ended, the shell's child too");
        assert_eq!(clock.running_for(Instant::now()), None);
        let again = bearer.authorize(request(), AuthReason::RefreshAfter401);
        assert!(
            matches!(again, Err(AuthorizerError::Temporary { .. })),
            "nothing starts after stop: {again:?}"
        );
        assert_eq!(bearer.runs(), 1);
    }

    #[test]
    fn a_failing_or_silent_command_asks_for_sign_in_without_echoing_output() {
        for command in [
            "echo SECRETOUT; exit 3",
            "printf ''",
            "echo 'two words SECRETOUT'",
        ] {
            let bearer = BearerCommand::new(command.into(), None);
            let error = bearer
                .authorize(request(), AuthReason::First)
                .expect_err(command);
            assert!(
                matches!(error, AuthorizerError::SignInRequired { .. }),
                "{command}: {error}"
            );
            assert!(!error.to_string().contains("SECRETOUT"), "{error}");
        }
    }
}
