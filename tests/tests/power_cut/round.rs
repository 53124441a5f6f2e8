//! One run of the queue process on the power-cut mount, ended by the queue itself or by a
//! power cut: the process is frozen (SIGSTOP, and waited for until it is stopped), the
//! power is cut, the process is killed (SIGKILL) and the volume boots again from what was
//! durable. Every line the process printed before it froze is a fact the queue told.
//!
//! It must never cut before the process is stopped, nor leave a process behind (a
//! frozen one holding the mount would hang the test's exit).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use ferry_testkit::power_cut::protocol::Told;
use ferry_testkit::power_cut::{CutReport, PowerCutMount, StopAt};

/// When to cut the power.
#[derive(Clone, Debug)]
pub enum Trigger {
    /// `then` after the process told this many facts (enqueued ids, successes) since it
    /// listed what it reopened; with no delay, the freeze lands right after the sync
    /// that preceded the telling, within the reading of one line from a pipe.
    AfterNews { count: u32, then: Duration },
    /// This long after it listed what it reopened.
    AfterDelay(Duration),
    /// The moment the process has done this operation on the volume (the mount's
    /// tripwire stops it before it gets the answer), counted from when it listed what it
    /// reopened; if it never does, the run ends when the queue is idle.
    AtVolumeOp(StopAt),
    /// Never: the run ends when the queue is idle.
    Never,
}

/// What one run told, and how it ended.
pub struct Round {
    pub told: Vec<Told>,
    /// What the cut dropped, if the power was cut.
    pub cut: Option<CutReport>,
    /// The exit status (`waitpid`'s), if the process ended by itself.
    pub exited: Option<i32>,
}

enum Signal {
    Listed,
    /// The process told enough: freeze it at this instant.
    Due(Instant),
    Frozen,
    Ended,
}

/// Runs `command` (its standard output piped here) until it ends or `trigger` cuts it;
/// panics if neither happens within `limit`.
pub fn run(
    command: &mut Command,
    trigger: Trigger,
    mount: &mut PowerCutMount,
    limit: Duration,
) -> Round {
    // Reaped by `Reaper` through waitpid(2), which must also see the child stop: std's
    // `Child::wait` cannot.
    #[allow(clippy::zombie_processes)]
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the queue process starts");
    let mut process = Reaper {
        pid: i32::try_from(child.id()).expect("a pid fits an i32"),
        reaped: false,
    };
    let stdout = child.stdout.take().expect("its standard output is piped");
    let (signals, signalled) = mpsc::channel();
    let pid = process.pid;
    let tripped = signals.clone();
    let (news_to_freeze, then) = match trigger {
        Trigger::AfterNews { count, then } => (Some(count), then),
        _ => (None, Duration::ZERO),
    };
    let reader = std::thread::spawn(move || {
        let (mut told, mut news) = (Vec::new(), 0);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Some(fact) = Told::parse(&line) else {
                eprintln!("queue process: {line}");
                continue;
            };
            if fact.is_news() {
                news += 1;
                if Some(news) == news_to_freeze && then.is_zero() {
                    signal(pid, libc::SIGSTOP);
                    let _ = signals.send(Signal::Frozen);
                } else if Some(news) == news_to_freeze {
                    let _ = signals.send(Signal::Due(Instant::now() + then));
                }
            }
            if let Told::Listed { .. } = fact {
                let _ = signals.send(Signal::Listed);
            }
            told.push(fact);
        }
        let _ = signals.send(Signal::Ended);
        told
    });

    let deadline = Instant::now() + limit;
    let mut freeze_at = None;
    let frozen = loop {
        let until = freeze_at.map_or(deadline, |at: Instant| at.min(deadline));
        match signalled.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Signal::Listed) => {
                match &trigger {
                    Trigger::AfterDelay(delay) => freeze_at = Some(Instant::now() + *delay),
                    // Armed once the reopened queue is listed, as the test needs it.
                    Trigger::AtVolumeOp(at) => {
                        let tripped = tripped.clone();
                        mount.stop_at(at.clone(), pid, move || {
                            let _ = tripped.send(Signal::Frozen);
                        });
                    }
                    _ => {}
                }
            }
            Ok(Signal::Due(at)) => freeze_at = Some(at),
            Ok(Signal::Frozen) => break true,
            Ok(Signal::Ended) | Err(RecvTimeoutError::Disconnected) => break false,
            Err(RecvTimeoutError::Timeout) if freeze_at.is_some_and(|at| at <= deadline) => {
                signal(pid, libc::SIGSTOP);
                break true;
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("the queue process neither finished nor was cut within {limit:?}")
            }
        }
    };

    mount.disarm();
    let mut cut = None;
    let mut exited = None;
    if frozen {
        let status = process.wait(libc::WUNTRACED);
        if libc::WIFSTOPPED(status) {
            cut = Some(mount.cut());
            signal(pid, libc::SIGKILL);
            process.wait(0);
        } else {
            exited = Some(status);
        }
    } else {
        exited = Some(process.wait(0));
    }
    let told = reader.join().expect("the reader thread ends");
    if cut.is_some() {
        mount
            .reboot()
            .unwrap_or_else(|error| panic!("the volume boots again: {error}"));
    }
    Round { told, cut, exited }
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a pid of our own child (not yet reaped, so not reused).
    unsafe { libc::kill(pid, signal) };
}

/// The child's pid until it is reaped; kills and reaps it if the test panics first.
struct Reaper {
    pid: i32,
    reaped: bool,
}

impl Reaper {
    /// `waitpid` with `flags`; the child is reaped unless it only stopped.
    fn wait(&mut self, flags: i32) -> i32 {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child, with a valid pointer to the status.
        let waited = unsafe { libc::waitpid(self.pid, &mut status, flags) };
        assert_eq!(
            waited,
            self.pid,
            "waitpid: {}",
            std::io::Error::last_os_error()
        );
        if !libc::WIFSTOPPED(status) {
            self.reaped = true;
        }
        status
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.reaped {
            signal(self.pid, libc::SIGKILL);
            let mut status = 0;
            // SAFETY: as in `wait`.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}
