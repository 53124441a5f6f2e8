//! `ferry pull`: plan one download per URL into DIR and run them through the queue
//! (`transfer_run.rs`), then print the summary.
//!
//! What it is for: the URLs (from the command line or `--list`, `pull_targets.rs`) turned
//! into `Download`s to DIR/NAME with the run's headers, group, metadata, conflict rule
//! and expected SHA-256; DIR created if missing and made absolute; a name that would
//! overwrite the queue's own database refused. Everything after that (enqueue, bars,
//! signals, patience, the summary and exit status) is `push`'s. Running the same pull again
//! enqueues the same downloads, which the engine answers with their existing ids: what
//! arrived stays, what was interrupted continues from its recorded offset.
//!
//! What it must never do: write a file in DIR itself (the engine writes a partial and
//! renames it into place), or send anything before every argument was checked.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ferry::{ConflictRule, Download};

use crate::app_data::AppData;
use crate::args::PullArgs;
use crate::error::{CliError, Outcome};
use crate::pull_targets::{self, Target};
use crate::run_options::{self, RunOptions};
use crate::sources::{self, Unsent};
use crate::summary::Way;
use crate::transfer_run::{self, TransferPlan};
use crate::{escape, headers, name_limit};

/// `ferry pull ...`.
pub async fn run(args: PullArgs) -> Result<Outcome, CliError> {
    let common = &args.run;
    run_options::check_patience(common)?;
    let headers = headers::parse_all(&common.headers)?;
    let app_data = AppData::parse(&common.meta, common.group.clone())?;
    let chosen = run_options::choose_authorizer(None, common, &headers)?;
    let (dir, urls) = args.dir_and_urls();
    check_dir_is_no_url(&dir)?;
    let targets = targets(&args, urls).await?;
    let options = RunOptions::new(common, chosen, origins(&targets))?;
    let db = common.db.db.clone();
    let (dir, made, database_files, name_max) = tokio::task::spawn_blocking(move || {
        let made = FoldersMade::of(&dir);
        let dir = prepare_dir(&dir)?;
        let name_max = name_limit::name_max(&dir);
        Ok::<_, CliError>((dir, made, sources::database_files(&db), name_max))
    })
    .await??;
    let plan = plan(
        &targets,
        &Folder {
            dir: &dir,
            database_files: &database_files,
            name_max,
        },
        args.on_conflict.into(),
        &headers,
        &app_data,
    )?;
    let mut summary = match transfer_run::execute(plan, &options).await {
        Ok(summary) => summary,
        Err(error) => {
            // Refused before anything was fetched (the database cannot be opened, or is
            // in use): the folders made for it go again.
            tokio::task::spawn_blocking(move || made.remove_if_empty())
                .await
                .ok();
            return Err(error);
        }
    };
    summary.way = Way::Pull;
    run_options::report(&summary, common.json)
}

/// Refuses a DIR that looks like a URL (`http://` or `https://`, in any case): DIR was
/// forgotten, and the last URL would become a folder named after it.
fn check_dir_is_no_url(dir: &Path) -> Result<(), CliError> {
    let text = dir.to_string_lossy();
    let looks_like_url = ["http://", "https://"].iter().any(|scheme| {
        text.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if !looks_like_url {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "DIR is missing: the last argument must be the folder to save into; it looks like a \
         URL: {}. Give the URLs, then a folder (ferry pull URL... DIR, or ferry pull \
         --list FILE DIR)",
        escape::for_terminal(&ferry::redact_url(&text))
    )))
}

/// The URLs given, from the command line (`urls`) or the `--list` file (one of the two).
async fn targets(args: &PullArgs, urls: &[OsString]) -> Result<Vec<Target>, CliError> {
    let Some(list) = &args.list else {
        if urls.is_empty() {
            return Err(CliError::usage(
                "no URL to pull: give URLs before DIR, or --list FILE",
            ));
        }
        let urls = urls
            .iter()
            .map(|url| {
                url.to_str().map(str::to_owned).ok_or_else(|| {
                    CliError::usage(format!(
                        "{} is not a URL (it is not even UTF-8); give http:// or https:// URLs",
                        escape::for_terminal(&url.to_string_lossy())
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        return pull_targets::from_args(&urls);
    };
    if !urls.is_empty() {
        return Err(CliError::usage(
            "URLs were given both on the command line and with --list; give them one way",
        ));
    }
    let shown = escape::path_for_terminal(list);
    let path = list.clone();
    let text = tokio::task::spawn_blocking(move || std::fs::read(path)).await?;
    let text =
        text.map_err(|error| CliError::usage(format!("--list {shown}: cannot read it ({error})")))?;
    let text = String::from_utf8(text).map_err(|_| {
        CliError::usage(format!(
            "--list {shown}: it is not UTF-8 text; give one URL per line"
        ))
    })?;
    pull_targets::from_list(&text, &shown)
}

/// DIR, created if missing, as an absolute path with links resolved.
///
/// # Errors
///
/// Bad usage when DIR is a file, has a file in its path, or cannot be created (no
/// permission, a read-only file system): the message names it and says what to do.
/// The folders `prepare_dir` is about to make (DIR and its missing parents), deepest first.
struct FoldersMade(Vec<PathBuf>);

impl FoldersMade {
    /// The missing folders on the way to `dir`. Blocking.
    fn of(dir: &Path) -> Self {
        Self(
            dir.ancestors()
                .take_while(|folder| {
                    !folder.as_os_str().is_empty() && std::fs::symlink_metadata(folder).is_err()
                })
                .map(Path::to_owned)
                .collect(),
        )
    }

    /// Removes each of them that is still empty (one that holds anything stays). Blocking.
    fn remove_if_empty(&self) {
        for folder in &self.0 {
            if std::fs::remove_dir(folder).is_err() {
                return;
            }
        }
    }
}

fn prepare_dir(dir: &Path) -> Result<PathBuf, CliError> {
    let shown = escape::path_for_terminal(dir);
    let not_a_folder = |what: &str| {
        CliError::usage(format!(
            "{shown} {what}, so no file can be saved in it; give as the last argument a \
             folder to save the files in (an existing folder, or a new path that ferry creates)"
        ))
    };
    if std::fs::metadata(dir).is_ok_and(|metadata| !metadata.is_dir()) {
        return Err(not_a_folder("is a file, not a folder"));
    }
    std::fs::create_dir_all(dir).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotADirectory | std::io::ErrorKind::AlreadyExists => {
            not_a_folder("cannot be a folder: a file stands in its path")
        }
        _ => CliError::usage(format!(
            "cannot create the folder {shown} ({error}), so nothing was pulled; give as the \
             last argument a folder you may write in, or create {shown} yourself with the \
             rights to write in it and run the same command again"
        )),
    })?;
    let absolute = std::fs::canonicalize(dir)
        .map_err(|error| CliError::io(format!("cannot resolve the folder {shown}"), error))?;
    if !absolute.is_dir() {
        return Err(not_a_folder("is not a folder"));
    }
    if let Err(error) = writable(&absolute) {
        return Err(CliError::usage(format!(
            "cannot write in the folder {shown} ({error}), so nothing was pulled; give as the \
             last argument a folder you may write in, or give yourself the rights to write \
             in {shown} and run the same command again"
        )));
    }
    Ok(absolute)
}

/// Whether this process may create files in the folder `dir` (`access(2)` with `W_OK`:
/// permissions, a read-only mount, an immutable folder); an existing folder that refuses
/// is told up front, as one that cannot be created is, not as a failure of every file.
#[cfg(unix)]
fn writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the path holds a NUL byte"))?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; `access` only
    // reads it.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn writable(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The folder a pull saves into, and what limits the names in it.
struct Folder<'a> {
    dir: &'a Path,
    /// The queue's database files, which no download may be saved over.
    database_files: &'a [PathBuf],
    /// The longest file name its file system takes, in bytes.
    name_max: usize,
}

/// One download per target into `folder`, refusing a name that is the queue's database;
/// a name too long for the folder's file system is a failure of that file alone.
fn plan(
    targets: &[Target],
    folder: &Folder<'_>,
    on_conflict: ConflictRule,
    headers: &[(String, String)],
    app_data: &AppData,
) -> Result<TransferPlan, CliError> {
    let mut downloads = Vec::with_capacity(targets.len());
    let mut unreadable = Vec::new();
    for target in targets {
        let destination = folder.dir.join(&target.name);
        let name_len = target.name.as_encoded_bytes().len();
        if name_len > folder.name_max {
            unreadable.push(Unsent {
                path: destination,
                reason: name_limit::too_long(name_len, folder.name_max),
                url: Some(target.url.clone()),
            });
            continue;
        }
        if folder.database_files.contains(&destination) {
            return Err(CliError::usage(format!(
                "{} would be saved over ferry's own queue database (--db); pull into another \
                 folder or use another --db",
                ferry::redact_url(&target.url)
            )));
        }
        let mut download = Download::new(target.url.clone(), destination).on_conflict(on_conflict);
        download.expected_sha256.clone_from(&target.sha256);
        for (name, value) in headers {
            download = download.with_header(name.clone(), value.clone());
        }
        downloads.push(app_data.apply_download(download));
    }
    Ok(TransferPlan {
        downloads,
        unreadable,
        ..TransferPlan::default()
    })
}

/// Each target's origin (`scheme://host:port/`), once: what an earlier run left waiting
/// there is taken up at once.
fn origins(targets: &[Target]) -> Vec<String> {
    let mut origins: Vec<String> = targets
        .iter()
        .filter_map(|target| url::Url::parse(&target.url).ok())
        .map(|url| format!("{}/", url.origin().ascii_serialization()))
        .collect();
    origins.sort_unstable();
    origins.dedup();
    origins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(database_files: &[PathBuf]) -> Folder<'_> {
        Folder {
            dir: Path::new("/out"),
            database_files,
            name_max: 255,
        }
    }

    #[test]
    fn a_name_too_long_for_the_folder_fails_alone_before_anything_is_fetched() {
        let long = "n".repeat(256);
        let urls = [format!("http://h/{long}"), "http://h/short".to_owned()];
        let targets = pull_targets::from_args(&urls).expect("valid");
        let plan = plan(
            &targets,
            &folder(&[]),
            ConflictRule::Replace,
            &[],
            &AppData::default(),
        )
        .expect("plan");
        assert_eq!(plan.downloads.len(), 1);
        assert_eq!(plan.downloads[0].destination, Path::new("/out/short"));
        assert_eq!(plan.unreadable.len(), 1);
        assert_eq!(plan.unreadable[0].path, Path::new("/out").join(&long));
        assert!(
            plan.unreadable[0].reason.contains("256 bytes long"),
            "{}",
            plan.unreadable[0].reason
        );
    }

    #[test]
    fn each_download_carries_the_name_digest_rule_headers_and_app_data() {
        let digest = "ab".repeat(32);
        let targets =
            pull_targets::from_list(&format!("http://h:8/d/a%20b {digest}\nhttps://g/c\n"), "l")
                .expect("valid");
        let headers = [("X-A".to_owned(), "1".to_owned())];
        let app_data = AppData::parse(&["k=v".to_owned()], Some("g".into())).expect("valid");
        let plan = plan(
            &targets,
            &folder(&[]),
            ConflictRule::KeepBoth,
            &headers,
            &app_data,
        )
        .expect("plan");
        assert!(plan.uploads.is_empty());
        let first = &plan.downloads[0];
        assert_eq!(first.destination, Path::new("/out/a b"));
        assert_eq!(first.expected_sha256.as_deref(), Some(digest.as_str()));
        assert_eq!(first.on_conflict, ConflictRule::KeepBoth);
        assert_eq!(first.headers, headers);
        assert_eq!(first.group.as_deref(), Some("g"));
        assert_eq!(plan.downloads[1].expected_sha256, None);
        assert_eq!(origins(&targets), ["http://h:8/", "https://g/"]);
    }

    #[test]
    fn a_name_that_is_the_database_is_refused() {
        let targets = pull_targets::from_args(&["http://h/q.db-wal".to_owned()]).expect("valid");
        let database = [PathBuf::from("/out/q.db"), PathBuf::from("/out/q.db-wal")];
        let error = plan(
            &targets,
            &folder(&database),
            ConflictRule::Replace,
            &[],
            &AppData::default(),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("queue database"), "{error}");
    }
}
