//! `ferry`: the command-line face of the Ferry transfer queue (uploads and downloads).
//!
//! What it is for: parsing the command line (clap derive, see `args`), running the one
//! command asked for on a tokio runtime, and turning its outcome into the exit status
//! (0 all transferred, 1 some failed, 2 bad usage, 3 could not run, 4 gave up waiting,
//! 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP; `error.rs` has the list).
//!
//! What it must never do: do a command's work itself, or end the process with
//! `std::process::exit` (that would skip the queue's clean shutdown and flushing).

mod app_data;
mod args;
mod bearer;
mod demo;
mod demo_files;
mod demo_pull;
mod destination;
mod error;
mod escape;
mod gave_up;
mod grouped;
mod headers;
mod host_report;
mod manage;
mod name_limit;
mod patience;
mod plural;
mod progress_ui;
mod pull;
mod pull_targets;
mod pump;
mod push;
mod reason;
mod records;
mod resumable;
mod run_options;
mod signals;
mod sources;
mod stale_downloads;
mod status;
mod stdout;
mod summary;
mod tally;
mod transfer_run;
mod url_credentials;
mod verify;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::EXIT_CANNOT_RUN;
use crate::manage::Action;

/// How long blocking work still running when the command is done may take to finish.
const BLOCKING_WORK_GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    // Usage errors exit with status 2 here; --help and --version with 0.
    let cli = Cli::parse();
    // One worker, as in the bindings (`bindings/src/runtime.rs` says why).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            stdout::note(&format!("cannot start the async runtime: {error}"));
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Push(args) => push::run(args).await,
            Command::Pull(args) => pull::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Cancel(args) => manage::run(Action::Cancel, args, None).await,
            Command::Retry(args) => manage::run(Action::Retry, args, None).await,
            Command::Purge(args) => manage::run(Action::Purge, args.select, args.older_than).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    // The queue is closed by now (its WAL synced). Whatever still runs on the blocking pool
    // (a read from a file system that stopped answering) would keep a dropped runtime, and
    // with it the process, waiting: it is left behind instead.
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            // Messages name files, whose names may hold control characters.
            stdout::note(&escape::for_terminal(&error.to_string()));
            for line in error.detail_lines() {
                stdout::note(&format!("  {}", escape::for_terminal(line)));
            }
            ExitCode::from(error.exit_code())
        }
    }
}
