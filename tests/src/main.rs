//! `ferry-testkit serve`: the loopback upload server as a process, for test
//! suites in other languages (Swift, Kotlin).
//!
//! What it is for: starting a [`TestServer`] from command-line flags, writing
//! the CA certificate where the caller asked, printing exactly one line,
//! `listening on <base_url>`, once it accepts connections, and serving until
//! SIGTERM or SIGINT (or, with `--stop-on-stdin-eof`, until stdin closes).
//! The control API under `/_testkit/` does the rest.
//!
//! `ferry-testkit scenario [NAME|all] [--set key=value]... [--plot FILE]` runs the OS
//! scenarios (see `ferry_testkit::scenario`) under the naive and Ferry strategies on a
//! paused clock and prints one line per (scenario, strategy).
//!
//! `ferry-testkit power-cut-queue` is the queue process of the power-cut test
//! (`ferry_testkit::power_cut::child`); not meant for people.
//!
//! What it must never do: print anything else to stdout (callers parse it),
//! or listen anywhere but 127.0.0.1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_testkit::{AuthPolicy, FaultPlan, ServerConfig, TestServer};

#[derive(Parser)]
#[command(
    name = "ferry-testkit",
    version,
    about = "Loopback upload server for Ferry's tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on 127.0.0.1 until SIGTERM/SIGINT.
    Serve(ServeArgs),
    /// Run OS scenarios (virtual time) under the naive and Ferry strategies.
    Scenario(ScenarioArgs),
    /// The power-cut test's queue process (tests/tests/power_cut.rs).
    #[command(hide = true)]
    PowerCutQueue(PowerCutArgs),
}

#[derive(clap::Args)]
struct PowerCutArgs {
    #[arg(long)]
    database: PathBuf,
    #[arg(long)]
    sources: PathBuf,
    #[arg(long)]
    base_url: String,
    #[arg(long)]
    files: usize,
    #[arg(long)]
    new_from: usize,
    #[arg(long)]
    file_base_url: String,
    #[arg(long)]
    download_dir: PathBuf,
    #[arg(long)]
    downloads: usize,
    #[arg(long)]
    downloads_new_from: usize,
}

#[derive(clap::Args)]
struct ScenarioArgs {
    /// seed, photo-backup, or all.
    #[arg(default_value = "all")]
    name: String,
    /// Override a simulator parameter or scenario knob, e.g. ios.n_stall=200.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Only this strategy (naive or ferry); both by default.
    #[arg(long)]
    strategy: Option<String>,
    /// Draw files completed over virtual time for each scenario into this SVG file
    /// (with `all`, the scenario's name is added before the extension).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Print every knob with its default for the scenario and exit.
    #[arg(long)]
    list_knobs: bool,
    /// Also print the simulated OS's counters and the timeline to stderr.
    #[arg(long)]
    verbose: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CertificateArg {
    CaSigned,
    Expired,
    WrongName,
    SelfSigned,
}

impl From<CertificateArg> for ferry_testkit::ServerCertificate {
    fn from(arg: CertificateArg) -> Self {
        match arg {
            CertificateArg::CaSigned => Self::CaSigned,
            CertificateArg::Expired => Self::Expired,
            CertificateArg::WrongName => Self::WrongName,
            CertificateArg::SelfSigned => Self::SelfSigned,
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the ready line tells which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve TLS (ALPN h2 and http/1.1) with a freshly generated certificate.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA certificate (PEM) here before the ready line.
    #[arg(long, value_name = "PATH", requires = "tls")]
    ca_out: Option<PathBuf>,
    /// With --tls: which certificate to present (to try how clients fail).
    #[arg(long, value_enum, default_value = "ca-signed", requires = "tls")]
    certificate: CertificateArg,
    /// Keep received bytes as files in this directory.
    #[arg(long, value_name = "DIR")]
    store_dir: Option<PathBuf>,
    /// Initial fault plan, as JSON (same shape as POST /_testkit/faults).
    #[arg(long, value_name = "JSON")]
    faults: Option<String>,
    /// Credentials uploads need, as JSON (same shape as POST /_testkit/auth).
    #[arg(long, value_name = "JSON")]
    auth: Option<String>,
    /// Also stop when stdin reaches end of file (so the server dies with its parent).
    #[arg(long)]
    stop_on_stdin_eof: bool,
    /// Resumable upload endpoints' limits and extensions, as JSON
    /// (`{"max_size": N, "max_append_size": N, "announce_limits": bool,
    /// "tus_checksum_algorithms": ["sha1", "sha256"]}`).
    #[arg(long, value_name = "JSON")]
    resumable: Option<String>,
}

fn main() -> ExitCode {
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        Command::Scenario(args) => return scenario(args),
        Command::PowerCutQueue(args) => return power_cut_queue(args),
    };
    block_on(serve(args))
}

/// Runs `task` on a multi-threaded runtime; its error is the exit's message.
fn block_on(task: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the tokio runtime: {e}")),
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn power_cut_queue(args: PowerCutArgs) -> ExitCode {
    use ferry_testkit::power_cut::child::{self, ChildArgs};
    let args = ChildArgs {
        database: args.database,
        sources: args.sources,
        base_url: args.base_url,
        files: args.files,
        new_from: args.new_from,
        file_base_url: args.file_base_url,
        download_dir: args.download_dir,
        downloads: args.downloads,
        downloads_new_from: args.downloads_new_from,
    };
    block_on(child::run(args))
}

fn scenario(args: ScenarioArgs) -> ExitCode {
    use ferry_testkit::scenario::{self, SCENARIOS, ScenarioParams, Strategy};
    use ferry_testkit::sim::Overrides;

    let names: Vec<&str> = if args.name == "all" {
        SCENARIOS.to_vec()
    } else if SCENARIOS.contains(&args.name.as_str()) {
        vec![args.name.as_str()]
    } else {
        return fail(&format!(
            "unknown scenario {}; known: {}, all",
            args.name,
            SCENARIOS.join(", ")
        ));
    };
    let strategies = match args.strategy.as_deref() {
        None => vec![Strategy::Naive, Strategy::Ferry],
        Some("naive") => vec![Strategy::Naive],
        Some("ferry") => vec![Strategy::Ferry],
        Some("ferry-download") => vec![Strategy::FerryDownload],
        Some(other) => {
            return fail(&format!(
                "--strategy {other}: write naive, ferry or ferry-download"
            ));
        }
    };
    let overrides = match Overrides::parse(&args.set) {
        Ok(overrides) => overrides,
        Err(e) => return fail(&e.to_string()),
    };
    for name in names {
        let mut params = ScenarioParams::for_scenario(name);
        let mut used = Vec::new();
        if let Err(e) = overrides
            .apply(&mut params, &mut used)
            .and_then(|()| overrides.check_all_used(&used))
        {
            return fail(&e.to_string());
        }
        if args.list_knobs {
            for line in ferry_testkit::sim::knobs::list(&mut params) {
                if !print_line(&line) {
                    return ExitCode::FAILURE;
                }
            }
            return ExitCode::SUCCESS;
        }
        let mut outcomes = Vec::new();
        for strategy in &strategies {
            match scenario::run_blocking(name, *strategy, &params) {
                Ok(outcome) => {
                    if !print_line(&outcome.line()) {
                        return ExitCode::FAILURE;
                    }
                    if args.verbose {
                        eprintln!("{:?}", outcome.os);
                        eprintln!("ideal_secs={:.0}", outcome.ideal_secs);
                        for (secs, count) in &outcome.timeline.points {
                            eprintln!("  t={secs:.0} completed={count}");
                        }
                    }
                    outcomes.push(outcome);
                }
                Err(e) => return fail(&format!("scenario {name} ({}): {e}", strategy.name())),
            }
        }
        if let Some(plot) = &args.plot {
            let path = if args.name == "all" {
                let stem = plot
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("timeline");
                plot.with_file_name(format!("{stem}-{name}.svg"))
            } else {
                plot.clone()
            };
            if let Err(e) = scenario::write_svg(&path, &outcomes) {
                return fail(&e);
            }
        }
    }
    ExitCode::SUCCESS
}

/// One line to stdout; false when stdout is gone (a closed pipe).
fn print_line(line: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ferry-testkit: {message}");
    ExitCode::FAILURE
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let faults = match &args.faults {
        None => FaultPlan::default(),
        Some(json) => {
            serde_json::from_str(json).map_err(|e| format!("--faults is not a fault plan: {e}"))?
        }
    };
    let auth = match &args.auth {
        None => AuthPolicy::default(),
        Some(json) => {
            serde_json::from_str(json).map_err(|e| format!("--auth is not an auth policy: {e}"))?
        }
    };
    let resumable = match &args.resumable {
        None => Default::default(),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| format!("--resumable is not a resumable configuration: {e}"))?,
    };
    let config = ServerConfig {
        port: args.port,
        tls: args.tls,
        certificate: args.certificate.into(),
        store_dir: args.store_dir,
        faults,
        auth,
        resumable,
        uplink_bytes_per_sec: None,
    };
    let server = TestServer::start(config)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    if let (Some(path), Some(pem)) = (&args.ca_out, server.ca_certificate_pem()) {
        tokio::fs::write(path, pem)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    // Handlers are installed before the line goes out: a parent may signal as soon as it
    // reads it, and the default action would kill the server without a clean stop.
    let stop = StopSignals::install();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", server.base_url())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);

    wait_for_stop(stop, args.stop_on_stdin_eof).await;
    server.shutdown().await;
    Ok(())
}

/// SIGTERM and SIGINT, registered up front.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    #[cfg(unix)]
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        // Without a handler the default action (exit) still applies.
        Self {
            term: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    #[cfg(not(unix))]
    fn install() -> Self {
        Self {}
    }

    #[cfg(unix)]
    async fn received(mut self) {
        async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = next(self.term.as_mut()) => {}
            () = next(self.interrupt.as_mut()) => {}
        }
    }

    #[cfg(not(unix))]
    async fn received(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn wait_for_stop(signals: StopSignals, stop_on_stdin_eof: bool) {
    let stdin_closed = async {
        if stop_on_stdin_eof {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 256];
            loop {
                match tokio::io::AsyncReadExt::read(&mut stdin, &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        } else {
            std::future::pending::<()>().await
        }
    };
    tokio::select! {
        () = signals.received() => {}
        () = stdin_closed => {}
    }
}
