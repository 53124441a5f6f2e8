//! `ferry demo`: the whole story on one machine, in well under a minute.
//!
//! What it is for: generating a seeded mix of files in a temporary directory, starting
//! the test server in-process on 127.0.0.1 with a realistic fault plan (connection resets,
//! a 503 with `Retry-After`, a stall in the middle of a body, a response lost after the
//! file was stored), pushing every file through the same code path as `ferry push`, and
//! proving the result: files per second, retries, stalls recovered, duplicates the
//! server refused, and a SHA-256 comparison of every file with what the server stored.
//! Then a few of the files are pulled back as `ferry pull` would, through a cut body and
//! a 503, and compared with the originals (`demo_pull.rs`).
//!
//! What it must never do: listen on anything but loopback, leave files behind (the
//! temporary directory is removed on every path), or report success without the
//! digest comparison.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use ferry::UploadMethod;
use ferry_testkit::{Fault, FaultPlan, RetryAfter, ScriptedFault, ServerConfig, Stats, TestServer};
use indicatif::HumanBytes;
use serde::Serialize;

use crate::app_data::AppData;
use crate::args::DemoArgs;
use crate::demo_files::{self, Generated};
use crate::destination::{BaseUrl, request_path};
use crate::error::{CliError, Outcome};

/// The demo's server comes back from every fault within seconds; a minute of no movement
/// means something is wrong with the machine, and the demo says so instead of hanging.
const DEMO_PATIENCE: Duration = Duration::from_secs(60);
use crate::demo_pull::{self, PullReport};
use crate::run_options::RunOptions;
use crate::summary::Summary;
use crate::transfer_run;
use crate::verify::{self, Expected, Verification};
use crate::{push, sources, stdout};

/// Body bytes the server reads from the stalled request before it stops reading.
const STALL_AFTER_BYTES: u64 = 256 * 1024;

#[derive(Debug, Serialize)]
struct DemoReport {
    seed: u64,
    files_generated: u64,
    bytes_generated: u64,
    server_url: String,
    faults_planned: Vec<String>,
    summary: Summary,
    server: Stats,
    verification: Verification,
    /// A few of the files pulled back from the server and compared with the originals.
    pull: PullReport,
    seconds_total: f64,
    ok: bool,
}

/// `ferry demo ...`.
pub async fn run(args: DemoArgs) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let human = !args.json;
    let say = |line: String| {
        if human {
            stdout::line(&line);
        }
    };
    let workdir = tempfile::Builder::new()
        .prefix("ferry-demo-")
        .tempdir()
        .map_err(|error| CliError::io("cannot create a temporary directory for the demo", error))?;
    let files_dir = workdir.path().join("files");

    let (count, seed) = (args.files, args.seed);
    let generating = Instant::now();
    let dir = files_dir.clone();
    let generated =
        tokio::task::spawn_blocking(move || demo_files::generate(&dir, count, seed)).await??;
    let bytes_generated: u64 = generated.iter().map(|file| file.size).sum();
    say(format!(
        "generated {} files ({}) in {:.1} s under {} (seed {seed})",
        generated.len(),
        HumanBytes(bytes_generated),
        generating.elapsed().as_secs_f64(),
        files_dir.display()
    ));

    let server = TestServer::start(ServerConfig::default())
        .await
        .map_err(|error| CliError::io("cannot start the demo server on 127.0.0.1", error))?;
    let pushed = run_against(&server, &args, &files_dir, &generated, workdir.path()).await;
    let stats = server.stats();
    let received = server.received_all();
    let outcome = match pushed {
        Ok(pushed) => demo_pull::pull_back(
            &server,
            &pushed.base,
            &files_dir,
            &generated,
            &received,
            &pushed.options,
            workdir.path(),
        )
        .await
        .and_then(|pull| stopped_early(&pull.summary).map(|()| (pushed, pull))),
        Err(error) => Err(error),
    };
    let server_url = server.base_url();
    server.shutdown().await;
    let (pushed, pull) = outcome.map_err(|error| match error {
        // The demo's queue and files are temporary: there is nothing to resume.
        CliError::Interrupted { by, .. } => CliError::Interrupted {
            by,
            rerun_finishes: false,
        },
        other => other,
    })?;

    let Pushed {
        summary,
        expected,
        faults_planned,
        ..
    } = pushed;
    let verification =
        tokio::task::spawn_blocking(move || verify::verify(&expected, &received)).await?;
    let ok = summary.outcome() == Outcome::Success && verification.all_good() && pull.all_good();
    let report = DemoReport {
        seed,
        files_generated: generated.len() as u64,
        bytes_generated,
        server_url,
        faults_planned,
        summary,
        server: stats,
        verification,
        pull,
        seconds_total: started.elapsed().as_secs_f64(),
        ok,
    };
    print_report(&report, args.json)?;
    drop(workdir);
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::SomeFailed
    })
}

/// What the upload half did, and what the pull-back reuses (the server's base URL for the
/// uploads, the queue options).
struct Pushed {
    summary: Summary,
    expected: Vec<Expected>,
    faults_planned: Vec<String>,
    base: BaseUrl,
    options: RunOptions,
}

/// A demo run stopped by a signal or the patience stops the demo: its queue and files
/// are temporary, so there is nothing to resume.
fn stopped_early(summary: &Summary) -> Result<(), CliError> {
    if let Some(by) = summary.interrupted_by {
        return Err(CliError::Interrupted {
            by,
            rerun_finishes: false,
        });
    }
    if let Some(gave_up) = &summary.gave_up {
        return Err(CliError::GaveUp(gave_up.clone()));
    }
    Ok(())
}

async fn run_against(
    server: &TestServer,
    args: &DemoArgs,
    files_dir: &std::path::Path,
    generated: &[Generated],
    workdir: &std::path::Path,
) -> Result<Pushed, CliError> {
    let base = BaseUrl::parse(&format!("{}demo/", server.base_url()))?;
    let roots = vec![files_dir.to_path_buf()];
    let found = tokio::task::spawn_blocking(move || sources::collect(&roots)).await??;
    let plan = push::plan(found, &base, &UploadMethod::Put, &[], &AppData::default())?;
    let expected: Vec<Expected> = plan
        .uploads
        .iter()
        .map(|upload| Expected {
            path: upload.source.clone(),
            key: request_path(&upload.destination).unwrap_or_default(),
        })
        .collect();

    let largest = generated
        .iter()
        .max_by_key(|file| file.size)
        .map(|file| base.join(&file.segments))
        .transpose()?
        .and_then(|url| request_path(&url));
    let (faults, described) = fault_plan(
        u64::from(args.files),
        largest,
        args.stall_timeout,
        args.seed,
    );
    server.set_faults(faults).map_err(|error| {
        CliError::Internal(format!("the demo's fault plan is invalid: {error}"))
    })?;
    if !args.json {
        stdout::line(&format!("server {} injects:", server.base_url()));
        for line in &described {
            stdout::line(&format!("  - {line}"));
        }
    }

    let options = RunOptions {
        db: workdir.join("ferry-demo.db"),
        concurrency: usize::from(args.concurrency),
        stall_timeout: args.stall_timeout,
        patience: DEMO_PATIENCE,
        json: args.json,
        show_bars: !args.json && std::io::stdout().is_terminal(),
        authorizer: None,
        bearer_clock: None,
        resumable: None,
        extra_root_certificates_pem: Vec::new(),
        // A new database: nothing was left waiting.
        resume_under: Vec::new(),
        sensitive_headers: Vec::new(),
    };
    let summary = transfer_run::execute(plan, &options).await?;
    stopped_early(&summary)?;
    Ok(Pushed {
        summary,
        expected,
        faults_planned: described,
        base,
        options,
    })
}

/// The faults, placed at fixed fractions of the run so every size of demo meets them all.
fn fault_plan(
    files: u64,
    stall_path: Option<String>,
    stall_timeout: Duration,
    seed: u64,
) -> (FaultPlan, Vec<String>) {
    let at = |percent: u64| (files * percent / 100).max(1);
    let lost_for_ms = u64::try_from(stall_timeout.as_millis())
        .unwrap_or(u64::MAX / 2)
        .saturating_add(3000);
    let mut scripted = Vec::new();
    let mut described = Vec::new();
    if let Some(path) = stall_path {
        scripted.push(ScriptedFault::FirstToPath {
            path: path.clone(),
            count: 1,
            fault: Fault::Stall {
                after_bytes: STALL_AFTER_BYTES,
                hold_for_ms: 60_000,
            },
        });
        described.push(format!(
            "a stall: the server stops reading {path} after {} (the client gives up after {} s without progress and retries)",
            HumanBytes(STALL_AFTER_BYTES),
            stall_timeout.as_secs_f64()
        ));
    }
    for percent in [1, 35, 70] {
        scripted.push(ScriptedFault::Request {
            n: at(percent),
            fault: Fault::Reset,
        });
    }
    described.push(format!(
        "connection resets on requests #{}, #{} and #{}",
        at(1),
        at(35),
        at(70)
    ));
    scripted.push(ScriptedFault::Request {
        n: at(50),
        fault: Fault::Status {
            code: 503,
            retry_after: Some(RetryAfter::Seconds(1)),
        },
    });
    described.push(format!(
        "503 Service Unavailable with Retry-After: 1 on request #{}",
        at(50)
    ));
    scripted.push(ScriptedFault::Request {
        n: at(85),
        fault: Fault::Delay { ms: lost_for_ms },
    });
    described.push(format!(
        "a lost response: request #{} is stored but answered only after {:.0} s, so the client retries with the same Idempotency-Key",
        at(85),
        Duration::from_millis(lost_for_ms).as_secs_f64()
    ));
    let plan = FaultPlan {
        seed,
        scripted,
        ..FaultPlan::default()
    };
    (plan, described)
}

fn print_report(report: &DemoReport, json: bool) -> Result<(), CliError> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|error| {
            CliError::Internal(format!("the demo report cannot be serialised: {error}"))
        })?;
        stdout::write_report("demo report", |out| writeln!(out, "{text}"))
    } else {
        stdout::write_report("demo report", |mut out| write_text(report, &mut out))
    }
}

fn write_text(report: &DemoReport, out: &mut impl Write) -> std::io::Result<()> {
    report.summary.write_text(out)?;
    let stats = &report.server;
    let faults = &stats.faults;
    writeln!(
        out,
        "server saw {} requests, stored {} bodies; duplicates refused (same Idempotency-Key): {}; faults injected: resets {}, error statuses {}, stalls {}, delayed responses {}",
        stats.requests,
        stats.bodies_stored,
        stats.duplicates_refused,
        faults.reset,
        faults.status,
        faults.stall,
        faults.delay
    )?;
    let verification = &report.verification;
    writeln!(
        out,
        "verified {}/{} files byte-identical on the server (SHA-256 of the local file = SHA-256 the server computed), {} stored exactly once",
        verification.identical, verification.files, verification.stored_once
    )?;
    for problem in verification.problems.iter().take(20) {
        writeln!(out, "  PROBLEM {}: {}", problem.key, problem.problem)?;
    }
    write_pull_text(&report.pull, out)?;
    writeln!(
        out,
        "demo {} in {:.1} s",
        if report.ok { "OK" } else { "FAILED" },
        report.seconds_total
    )
}

fn write_pull_text(pull: &PullReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "pulled back {} of the files ({}) from the server, each checked against the SHA-256 \
         the server computed on upload; faults injected:",
        pull.files,
        HumanBytes(pull.bytes)
    )?;
    for fault in &pull.faults_planned {
        writeln!(out, "  - {fault}")?;
    }
    pull.summary.write_text(out)?;
    writeln!(
        out,
        "verified {}/{} pulled files byte-identical to the originals; the server handed out \
         {} for {} ({:.3}x: {})",
        pull.identical,
        pull.files,
        HumanBytes(pull.bytes_served),
        HumanBytes(pull.bytes),
        pull.bytes_served as f64 / pull.bytes.max(1) as f64,
        if pull.resumed {
            "the cut file continued where it was cut"
        } else {
            "the cut file was fetched again from the start"
        }
    )?;
    for problem in pull.problems.iter().take(20) {
        writeln!(out, "  PROBLEM {problem}")?;
    }
    Ok(())
}
