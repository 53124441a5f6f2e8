//! `ferry-testkit serve`: the loopback upload server as a process, for test
//! suites in other languages (Swift, Kotlin).
//!
//! What it is for: starting a [`TestServer`] from command-line flags, writing
//! the CA certificate where the caller asked, printing exactly one line,
//! `listening on <base_url>`, once it accepts connections, and serving until
//! SIGTERM or SIGINT (or, with `--stop-on-stdin-eof`, until stdin closes).
//! The control API under `/_testkit/` does the rest.
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
}

fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the tokio runtime: {e}")),
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
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
    let config = ServerConfig {
        port: args.port,
        tls: args.tls,
        store_dir: args.store_dir,
        faults,
        auth,
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
