//! The command line, declared with clap's derive API: every flag, its default and its help.
//!
//! What it is for: the one place a reader looks to learn what `ferry` accepts. Values that
//! clap can check on its own (numbers in range, enums, durations) are checked here, so a
//! mistake exits with status 2 before anything runs.
//!
//! What it must never do: touch the disk or the network, or parse header arguments (clap
//! would echo a rejected value, and header values may be secrets: see `headers`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_STATUS_HELP;

/// Durable transfers: push files to an HTTP server exactly once and pull files from one,
/// surviving crashes.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files and directory trees to BASE_URL, resuming whatever an earlier run left.
    #[command(after_help = PUSH_HELP)]
    Push(PushArgs),
    /// Download URLs into DIR, resuming whatever an earlier run left.
    #[command(
        after_help = PULL_HELP,
        override_usage = "ferry pull [OPTIONS] URL... DIR\n       ferry pull [OPTIONS] --list FILE DIR"
    )]
    Pull(PullArgs),
    /// Show how many transfers the queue holds in each state, and every failure's reason.
    Status(StatusArgs),
    /// Cancel queued, paused and credential-waiting transfers for good (all of them, or by
    /// --state and --prefix).
    #[command(after_help = MANAGE_HELP)]
    Cancel(SelectArgs),
    /// Queue failed, paused and credential-waiting transfers again with a fresh attempt
    /// budget, and make queued ones waiting out a backoff due now.
    #[command(after_help = MANAGE_HELP)]
    Retry(SelectArgs),
    /// Delete the records of succeeded, failed and cancelled transfers (never queued or
    /// running ones), optionally only those older than --older-than.
    #[command(after_help = MANAGE_HELP)]
    Purge(PurgeArgs),
    /// Run a self-contained demonstration against a built-in faulty loopback server.
    #[command(after_help = DEMO_HELP)]
    Demo(DemoArgs),
}

const PUSH_HELP: &str = "\
Each file goes to BASE_URL joined with its path relative to the DIR it was found in
(a FILE argument goes to BASE_URL/its-file-name); path segments are percent-encoded.
Every request carries the transfer's id as an Idempotency-Key header, so a server that
honours it stores each file once even when a request is retried or ferry is killed.

The queue lives in the --db database. Running the same command again uploads nothing
that was already uploaded and unchanged, and finishes whatever was left (also after a
crash or kill -9). `push` runs until the whole queue in --db is drained, including
transfers left by earlier runs. Network errors, stalls, 408, 429 and 5xx answers are
retried with backoff (honouring Retry-After); other 4xx answers fail the file at once.
Ctrl-C, SIGTERM and SIGHUP stop cleanly (the summary is still printed; run the same
command again to finish). The database and its companion files are never uploaded.

A user name and password in BASE_URL (https://user:pass@host/up/) are sent as HTTP Basic
authentication to that host only, and never stored or printed; a query in BASE_URL (a
presigned URL's signature) is kept on every destination and stored, but never printed.

Examples:
  ferry push ./photos https://uploads.example.com/u/42/
  ferry push a.txt b.txt http://127.0.0.1:8080/in/ --method post --concurrency 16
  ferry push ./logs https://example.com/logs/ -H 'X-Device: pixel-8' --json
  ferry push ./photos https://example.com/u/ --group holiday-2024 --meta album=7
  ferry push ./photos https://example.com/u/ --bearer-command 'gcloud auth print-access-token'

Headers given with --header are stored in the database; secrets belong in
--bearer-command, whose tokens live in memory only.";

const PULL_HELP: &str = "\
Each URL is saved in DIR under its last path segment, percent-decoded (a URL whose last
segment is empty, `.`, `..` or holds a `/` is refused: name the file in the URL). DIR is
created if missing. With --list FILE the URLs come from FILE, one per line, each
optionally followed by whitespace and the file's SHA-256 in hex (as `sha256sum` prints
it): the bytes are checked against it before the file is put in place. Blank lines and
lines starting with # are ignored.

A file is written to a hidden `.ferry-ID.partial` beside its destination and renamed into
place only when complete (and verified), so DIR never holds a half-written file under
its name. The queue lives in the --db database (the same default as `push`): running the
same command again fetches nothing that already arrived and continues each interrupted
file from the bytes recorded as durable (also after a crash or kill -9), re-checking that
the server's file has not changed (If-Range). Like `push`, `pull` drains the whole queue
in --db. Exit statuses are push's.

Examples:
  ferry pull https://example.com/a.iso https://example.com/b.iso ./downloads
  ferry pull --list urls.txt ./downloads --concurrency 4 --json
  ferry pull https://example.com/report.pdf . --on-conflict keep-both";

const MANAGE_HELP: &str = "\
With no --state, every state the command acts on is selected; a state it never changes
is refused (cancel: queued, running, paused, auth_required; retry: queued, paused,
failed, auth_required; purge: succeeded, failed, cancelled). --prefix selects by URL:
an upload's destination, a download's source URL (not the local file it is saved to); a
push's BASE_URL selects what that push enqueued, a pull's URL that download (its user
name, password and query are ignored). --group selects what pushes with `--group NAME` enqueued. Acting on every transfer needs --all, so that a forgotten filter
never empties a queue. The work is done in the database only: a retried transfer is
sent by the next `ferry push` (any BASE_URL; a push drains the whole queue). The
database must not be in use by a running push.

A purged upload is forgotten: pushing the same file again sends it again.

Examples:
  ferry retry --state failed
  ferry cancel --prefix https://uploads.example.com/u/42/
  ferry retry --group holiday-2024
  ferry purge --older-than 7d
  ferry purge --state succeeded --all --json";

const DEMO_HELP: &str = "\
The demo generates files of mixed sizes (seeded, so every run is the same) in a temporary
directory, starts an upload server on 127.0.0.1 that injects faults (connection resets,
a 503 with Retry-After, a stall in the middle of a body, a lost response), pushes every
file with the same engine as `ferry push`, and checks that each file arrived
byte-identical (SHA-256) and was stored exactly once. Everything is deleted afterwards.";

/// Which HTTP method carries the file (as the raw request body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Put,
    Post,
}

/// Where the queue database is.
#[derive(Debug, Args)]
pub struct DbArg {
    /// The queue database (SQLite). Created by `push` or `pull` if missing (its directory
    /// must exist). Keep using the same one to resume and to avoid transferring a file
    /// again; one ferry at a time may use it, whatever name (link) it is given by.
    #[arg(
        long,
        value_name = "PATH",
        env = "FERRY_DB",
        hide_env_values = true,
        default_value = "ferry.db"
    )]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Files and directories to upload (directories recursively).
    #[arg(value_name = "DIR|FILE", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,

    /// The http:// or https:// URL the files' relative paths are appended to. A user name
    /// and password in it are sent as HTTP Basic authentication, never stored or printed.
    #[arg(value_name = "BASE_URL")]
    pub base_url: String,

    /// HTTP method; the file is the raw request body.
    #[arg(long, value_enum, default_value_t = MethodArg::Put)]
    pub method: MethodArg,

    #[command(flatten)]
    pub run: TransferArgs,

    /// Send files of at least --resumable-threshold bytes with a resumable upload protocol
    /// (tus 1.0, or the IETF draft); BASE_URL is then their upload-creation endpoint (such
    /// as tusd's http://host:8080/files/). An interrupted upload continues where the
    /// server is, also after a crash.
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub resumable: Option<ResumableArg>,

    /// With --resumable: the smallest file, in bytes, sent resumably. Smaller files go to
    /// BASE_URL + their path in one request, as without --resumable.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 0,
        requires = "resumable"
    )]
    pub resumable_threshold: u64,

    /// With --resumable ietf: the draft's Upload-Draft-Interop-Version (3 is iOS 17's).
    /// Default: the latest this build knows.
    #[arg(long, value_name = "N", requires = "resumable",
          value_parser = clap::value_parser!(u32).range(3..=8))]
    pub interop_version: Option<u32>,
}

/// The options `push` and `pull` share: how the queue runs, what each transfer carries
/// besides its URL and file, and how the run reports.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Requests in flight at most, per host and overall.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    #[command(flatten)]
    pub db: DbArg,

    /// Extra request header, as 'Name: value'; repeat for more. Values are stored in the
    /// queue database so that a resumed run sends them too: do not pass long-lived secrets.
    /// They are never printed, and never sent on a redirect to another origin.
    #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,

    /// Put every file of this run in group NAME (stored, never sent): `status`,
    /// `cancel`, `retry` and `purge` select by it with --group (`push --group`, `pull --group`).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Store KEY=VALUE with every file of this run, as app metadata (never sent; shown
    /// by `status --json`); repeat for more.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,

    /// Print one JSON summary object on stdout at the end, and no progress bars.
    #[arg(long)]
    pub json: bool,

    /// Run CMD (with `sh -c`) for a fresh access token whenever one is needed: first, after
    /// the server refused one (401/403), and before a transfer that would outlive it (see
    /// --bearer-lifetime). Its first line of stdout is sent as 'Authorization: Bearer
    /// TOKEN'. The token is never stored or printed.
    #[arg(long, value_name = "CMD")]
    pub bearer_command: Option<String>,

    /// How long a token from --bearer-command stays valid; ferry runs the command again
    /// before starting a transfer that would outlast it.
    #[arg(long, value_name = "SECS", requires = "bearer_command", value_parser = parse_bearer_lifetime)]
    pub bearer_lifetime: Option<Duration>,

    /// Trust the server certificates in FILE (PEM), as well as the system's: a CA, or a
    /// server's own self-signed certificate (such as one made with `openssl req -x509`),
    /// which is then trusted as given. Repeat for more files. Without it, a server whose
    /// certificate is not trusted fails every file at once, never retried.
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,

    /// Stop waiting when nothing has moved (no byte moved, no file finished) for this many
    /// seconds: print the summary and per host why the work waits, close the queue cleanly
    /// and exit with status 4. A rerun continues. While nothing moves, the reason is
    /// printed after 10 s (after half the patience if that is shorter) and every 30 s.
    /// At least --stall-timeout: a request may wait that long for the server's answer.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_patience)]
    pub patience: Duration,

    /// Abandon and retry a request after this many seconds without any progress.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_stall_timeout)]
    pub stall_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The http:// or https:// URLs to download (none with --list), then DIR, the folder
    /// to save them in (created if missing; always the last argument, never a URL).
    #[arg(value_name = "URL|DIR", required = true, num_args = 1..)]
    pub operands: Vec<OsString>,

    /// Read the URLs from FILE: one per line, optionally followed by whitespace and the
    /// file's expected SHA-256 in hex; blank lines and lines starting with # are skipped.
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,

    /// What to do when a file already exists at a destination when its download
    /// finishes: replace it, keep both (the new one as `name (1).ext`), or fail that file.
    #[arg(long, value_enum, value_name = "RULE", default_value_t = ConflictArg::Replace)]
    pub on_conflict: ConflictArg,

    #[command(flatten)]
    pub run: TransferArgs,
}

impl PullArgs {
    /// DIR (the last operand) and the URLs before it.
    pub fn dir_and_urls(&self) -> (PathBuf, &[OsString]) {
        match self.operands.split_last() {
            Some((dir, urls)) => (PathBuf::from(dir), urls),
            None => (PathBuf::new(), &[]),
        }
    }
}

/// `pull --on-conflict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConflictArg {
    Replace,
    KeepBoth,
    Fail,
}

impl From<ConflictArg> for ferry::ConflictRule {
    fn from(rule: ConflictArg) -> Self {
        match rule {
            ConflictArg::Replace => Self::Replace,
            ConflictArg::KeepBoth => Self::KeepBoth,
            ConflictArg::Fail => Self::Fail,
        }
    }
}

/// A resumable upload protocol for `push --resumable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ResumableArg {
    Tus,
    Ietf,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbArg,

    /// Only the transfers a push put in this group (`push --group`): counts, hosts,
    /// what waits and the failures of that group alone.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which transfers `cancel`, `retry` and `purge` act on.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only transfers in this state (as `ferry status` names it); repeat for more.
    #[arg(long = "state", value_enum, value_name = "STATE")]
    pub states: Vec<StateArg>,

    /// Only transfers whose URL starts with this: an upload's destination (such as a push's
    /// BASE_URL) or a download's source URL (not its local file).
    #[arg(long, value_name = "URL")]
    pub prefix: Option<String>,

    /// Only transfers a push put in this group (`push --group`).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Act on every transfer the command can act on; needed when no other filter is given.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub db: DbArg,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Only records last changed at least this long ago: 30d, 12h, 90m, 1h 30m (0 for
    /// any age).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<Duration>,
}

/// A transfer state, named as `ferry status` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Queued,
    Running,
    Paused,
    #[value(name = "auth_required", alias = "auth-required")]
    AuthRequired,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<StateArg> for ferry::StateKind {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Queued => Self::Queued,
            StateArg::Running => Self::Running,
            StateArg::Paused => Self::Paused,
            StateArg::AuthRequired => Self::AuthRequired,
            StateArg::Succeeded => Self::Succeeded,
            StateArg::Failed => Self::Failed,
            StateArg::Cancelled => Self::Cancelled,
        }
    }
}

/// An age such as `7d`, `12h` or `1h 30m` (`humantime`'s format); `0` is any age.
fn parse_age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        format!("{text:?} is not an age ({error}); give one such as 30d, 12h, 90m or 0")
    })
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many files to generate.
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub files: u32,

    /// Seed of the file generator (sizes, names and contents).
    #[arg(long, value_name = "SEED", default_value_t = 2024)]
    pub seed: u64,

    /// Requests in flight at most.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Stall timeout for the demo's uploads, short so the injected stall is recovered fast.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = parse_stall_timeout)]
    pub stall_timeout: Duration,

    /// Print one JSON report object on stdout at the end, and no progress bars.
    #[arg(long)]
    pub json: bool,
}

/// `--stall-timeout`: see [`parse_seconds`].
fn parse_stall_timeout(text: &str) -> Result<Duration, String> {
    parse_seconds(text, "--stall-timeout", "the default is 30")
}

/// `--patience`: see [`parse_seconds`].
fn parse_patience(text: &str) -> Result<Duration, String> {
    parse_seconds(text, "--patience", "the default is 300")
}

/// `--bearer-lifetime`: see [`parse_seconds`].
fn parse_bearer_lifetime(text: &str) -> Result<Duration, String> {
    parse_seconds(
        text,
        "--bearer-lifetime",
        "give the token's lifetime, such as 3600",
    )
}

/// Seconds, possibly fractional, from 1 to a day, for `option`. Less than a second would
/// make every attempt fail: no request moves a byte, or outlives its token, in less (the
/// library refuses such a `stall_timeout` too), and no server answers in less. `hint`
/// says what to use (the option's default).
fn parse_seconds(text: &str, option: &str, hint: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{option} {text:?} is not a number of seconds (try 30 or 2.5)"))?;
    if !seconds.is_finite() || seconds > 86_400.0 {
        return Err(format!(
            "{option} {text} is out of range; use at least 1 and at most 86400 seconds ({hint})"
        ));
    }
    if seconds < 1.0 {
        return Err(format!(
            "{option} {text} is too short: no request gets a chance in less than a second; use \
             at least 1 and at most 86400 seconds ({hint})"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sources_come_before_the_base_url() {
        let cli = Cli::try_parse_from(["ferry", "push", "a", "b", "http://h/x/"]).expect("parses");
        let Command::Push(push) = cli.command else {
            panic!("not push");
        };
        assert_eq!(push.paths, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(push.base_url, "http://h/x/");
        assert_eq!(push.run.concurrency, 8);
        assert_eq!(push.run.stall_timeout, Duration::from_secs(30));
    }

    #[test]
    fn pull_takes_urls_then_a_folder_or_only_a_folder_with_a_list() {
        let cli = Cli::try_parse_from(["ferry", "pull", "http://h/a", "http://h/b", "out"])
            .expect("parses");
        let Command::Pull(pull) = cli.command else {
            panic!("not pull");
        };
        let (dir, urls) = pull.dir_and_urls();
        assert_eq!(urls, ["http://h/a", "http://h/b"]);
        assert_eq!(dir, PathBuf::from("out"));
        assert_eq!(pull.on_conflict, ConflictArg::Replace);
        let cli = Cli::try_parse_from([
            "ferry",
            "pull",
            "--list",
            "urls.txt",
            "out",
            "--on-conflict",
            "keep-both",
        ])
        .expect("parses");
        let Command::Pull(pull) = cli.command else {
            panic!("not pull");
        };
        assert_eq!(pull.dir_and_urls(), (PathBuf::from("out"), &[][..]));
        assert_eq!(pull.list, Some(PathBuf::from("urls.txt")));
        assert_eq!(pull.on_conflict, ConflictArg::KeepBoth);
        assert!(Cli::try_parse_from(["ferry", "pull"]).is_err());
    }

    #[test]
    fn ages_take_units_and_a_bare_number_says_what_to_give() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        let error = parse_age("3600").expect_err("no unit");
        assert!(error.contains("30d, 12h"), "{error}");
        let cli = Cli::try_parse_from([
            "ferry",
            "purge",
            "--state",
            "succeeded",
            "--state",
            "auth-required",
            "--older-than",
            "2h",
        ])
        .expect("parses");
        let Command::Purge(purge) = cli.command else {
            panic!("not purge");
        };
        assert_eq!(
            purge.select.states,
            [StateArg::Succeeded, StateArg::AuthRequired]
        );
        assert_eq!(purge.older_than, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn seconds_must_be_at_least_one_and_finite() {
        let parse = |text| parse_seconds(text, "--x", "");
        assert_eq!(parse("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse("1"), Ok(Duration::from_secs(1)));
        for bad in ["0", "-1", "0.5", "nan", "inf", "abc", "100000"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_that_make_every_attempt_fail_are_refused_naming_the_option_and_range() {
        for (flag, hint) in [
            ("--stall-timeout", "the default is 30"),
            ("--patience", "the default is 300"),
            ("--bearer-lifetime", "the token's lifetime"),
        ] {
            for value in ["0", "0.2"] {
                let mut args = vec!["ferry", "push", "a", "http://h/", flag, value];
                if flag == "--bearer-lifetime" {
                    args.extend(["--bearer-command", "true"]);
                }
                let error = Cli::try_parse_from(&args).expect_err("refused").to_string();
                assert!(
                    error.contains(&format!("{flag} {value} is too short")),
                    "{flag} {value}: {error}"
                );
                assert!(
                    error.contains("use at least 1 and at most 86400 seconds"),
                    "{flag} {value}: {error}"
                );
                assert!(error.contains(hint), "{flag} {value}: {error}");
                if flag != "--stall-timeout" {
                    assert!(!error.contains("default is 30)"), "{flag}: {error}");
                }
            }
        }
        let error = Cli::try_parse_from(["ferry", "demo", "--stall-timeout", "0.1"])
            .expect_err("refused")
            .to_string();
        assert!(error.contains("use at least 1"), "{error}");
    }

    #[test]
    fn resumable_flags_parse_and_the_threshold_needs_a_protocol() {
        let cli = Cli::try_parse_from([
            "ferry",
            "push",
            "a",
            "http://h/files/",
            "--resumable",
            "ietf",
            "--resumable-threshold",
            "1048576",
            "--interop-version",
            "3",
        ])
        .expect("parses");
        let Command::Push(push) = cli.command else {
            panic!("not push");
        };
        assert_eq!(push.resumable, Some(ResumableArg::Ietf));
        assert_eq!(push.resumable_threshold, 1_048_576);
        assert_eq!(push.interop_version, Some(3));
        for bad in [
            &[
                "ferry",
                "push",
                "a",
                "http://h/",
                "--resumable-threshold",
                "5",
            ][..],
            &["ferry", "push", "a", "http://h/", "--resumable", "ftp"][..],
            &[
                "ferry",
                "push",
                "a",
                "http://h/",
                "--resumable",
                "ietf",
                "--interop-version",
                "2",
            ][..],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn concurrency_zero_is_refused() {
        let result = Cli::try_parse_from(["ferry", "push", "a", "http://h/", "--concurrency", "0"]);
        assert!(result.is_err());
    }
}
