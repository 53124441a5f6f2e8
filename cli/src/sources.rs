//! The files a push sends: every regular file under each DIR argument, recursively, plus
//! each FILE argument, with the path segments its destination is built from.
//!
//! What it is for: a deterministic list (sorted by name, depth first) of absolute source
//! paths, so that a rerun from any working directory matches the queue's earlier records,
//! and an honest account of what was not sent and why.
//!
//! What it must never do: follow a symbolic link to a directory (that is how walks loop
//! forever), read file contents, or stop the whole push over one unreadable entry: those
//! are reported per path and the rest goes on. Blocking: run it on the blocking pool.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// One file to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Its path relative to the directory it was found in (or just its name), as the file
    /// system names it: any bytes but `/` and NUL, not necessarily UTF-8.
    pub segments: Vec<OsString>,
}

/// A path that was not sent (or for a pull, not fetched), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsent {
    pub path: PathBuf,
    pub reason: String,
    /// For a download, the URL it was to come from; `None` for a push's file.
    pub url: Option<String>,
}

#[derive(Debug, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
    /// Could not be read or named: these count as failures of the push.
    pub unreadable: Vec<Unsent>,
    /// Not regular files (links to directories, sockets, ...): skipped on purpose.
    pub skipped: Vec<Unsent>,
}

/// Walks every argument. A missing or unreadable *argument* is a usage error; anything
/// wrong further down is recorded and the walk goes on.
pub fn collect(arguments: &[PathBuf]) -> Result<Sources, CliError> {
    let mut sources = Sources::default();
    for argument in arguments {
        let metadata = fs::metadata(argument).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                CliError::usage(format!(
                    "{} does not exist; pass files or directories that exist, then BASE_URL last",
                    argument.display()
                ))
            } else {
                CliError::usage(format!(
                    "{} cannot be read ({error}); check its permissions",
                    argument.display()
                ))
            }
        })?;
        let absolute = fs::canonicalize(argument).map_err(|error| {
            CliError::usage(format!(
                "{} cannot be resolved ({error}); check the path",
                argument.display()
            ))
        })?;
        if metadata.is_dir() {
            walk(&absolute, &mut sources);
        } else if metadata.is_file() {
            // The name the user gave, not the target of a symbolic link.
            match argument.file_name() {
                Some(name) => sources.files.push(SourceFile {
                    path: absolute,
                    segments: vec![name.to_owned()],
                }),
                None => sources.unreadable.push(Unsent {
                    path: argument.clone(),
                    reason: "the path has no file name; pass the file by its name".into(),
                    url: None,
                }),
            }
        } else {
            return Err(CliError::usage(format!(
                "{} is neither a regular file nor a directory; pass files or directories",
                argument.display()
            )));
        }
    }
    Ok(sources)
}

/// The queue database `db` and its companion files (`-wal`, `-shm`, `-journal`,
/// `.lock`), with `db`'s folder resolved (links followed); none when that folder does not
/// exist (then nothing found is inside it).
pub fn database_files(db: &Path) -> Vec<PathBuf> {
    let Some(name) = db.file_name() else {
        return Vec::new();
    };
    let directory = match db.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(directory) = fs::canonicalize(directory) else {
        return Vec::new();
    };
    let database = directory.join(name);
    ["", "-wal", "-shm", "-journal", ".lock"]
        .iter()
        .map(|suffix| {
            let mut path = database.clone().into_os_string();
            path.push(suffix);
            PathBuf::from(path)
        })
        .collect()
}

/// Moves the queue database `db` and its companion files (`-wal`, `-shm`, `-journal`,
/// `.lock`) from `files` to `skipped`: pushing a directory that holds the database would
/// otherwise upload a file that changes under its own upload.
pub fn exclude_database(sources: &mut Sources, db: &Path) {
    let companions = database_files(db);
    let files = std::mem::take(&mut sources.files);
    for file in files {
        if companions.contains(&file.path) {
            sources.skipped.push(Unsent {
                path: file.path,
                reason: "ferry's own queue database (--db)".into(),
                url: None,
            });
        } else {
            sources.files.push(file);
        }
    }
}

fn walk(root: &Path, sources: &mut Sources) {
    // Depth first; a directory's files before its subdirectories', each sorted by name.
    let mut pending: Vec<(PathBuf, Vec<OsString>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((directory, prefix)) = pending.pop() {
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) => {
                sources.unreadable.push(Unsent {
                    path: directory,
                    reason: format!(
                        "the directory cannot be listed ({error}); check its permissions"
                    ),
                    url: None,
                });
                continue;
            }
        };
        let mut listed = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => listed.push(entry),
                Err(error) => sources.unreadable.push(Unsent {
                    path: directory.clone(),
                    reason: format!("listing the directory failed part-way ({error})"),
                    url: None,
                }),
            }
        }
        listed.sort_by_key(fs::DirEntry::file_name);
        let mut subdirectories = Vec::new();
        for entry in listed {
            let path = entry.path();
            let name = entry.file_name();
            let mut segments = prefix.clone();
            segments.push(name);
            match classify(&entry) {
                Kind::Directory => subdirectories.push((path, segments)),
                Kind::File => sources.files.push(SourceFile { path, segments }),
                Kind::Skip(reason) => sources.skipped.push(Unsent {
                    path,
                    reason,
                    url: None,
                }),
                Kind::Unreadable(reason) => sources.unreadable.push(Unsent {
                    path,
                    reason,
                    url: None,
                }),
            }
        }
        pending.extend(subdirectories.into_iter().rev());
    }
}

enum Kind {
    Directory,
    File,
    Skip(String),
    Unreadable(String),
}

fn classify(entry: &fs::DirEntry) -> Kind {
    let file_type = match entry.file_type() {
        Ok(file_type) => file_type,
        Err(error) => return Kind::Unreadable(format!("cannot tell what it is ({error})")),
    };
    if file_type.is_dir() {
        return Kind::Directory;
    }
    if file_type.is_file() {
        return Kind::File;
    }
    if file_type.is_symlink() {
        return match fs::metadata(entry.path()) {
            Ok(target) if target.is_file() => Kind::File,
            Ok(target) if target.is_dir() => {
                Kind::Skip("a symbolic link to a directory (not followed)".into())
            }
            Ok(_) => Kind::Skip("a symbolic link to something that is not a file".into()),
            Err(error) => Kind::Unreadable(format!("a broken symbolic link ({error})")),
        };
    }
    Kind::Skip("not a regular file (a socket, pipe or device)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, b"x").expect("write");
    }

    /// A file's relative path, for comparing with `/`-joined names.
    fn relative(file: &SourceFile) -> String {
        let parts: Vec<_> = file.segments.iter().map(|s| s.to_string_lossy()).collect();
        parts.join("/")
    }

    #[test]
    fn names_with_control_characters_or_not_utf8_are_kept_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;

        let dir = tempfile::tempdir().expect("tempdir");
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        for name in [
            std::ffi::OsStr::new("new\nline.txt"),
            std::ffi::OsStr::new("tab\t.txt"),
            odd,
        ] {
            touch(&dir.path().join("d").join(name));
        }
        let sources = collect(&[dir.path().to_path_buf()]).expect("collects");
        let names: Vec<&[u8]> = sources
            .files
            .iter()
            .map(|file| file.segments[1].as_bytes())
            .collect();
        assert_eq!(
            names,
            [b"caf\xe9.txt".as_slice(), b"new\nline.txt", b"tab\t.txt"]
        );
        assert!(sources.unreadable.is_empty(), "{:?}", sources.unreadable);
        let single = collect(&[dir.path().join("d").join(odd)]).expect("collects");
        assert_eq!(single.files[0].segments, [odd]);
    }

    #[test]
    fn a_tree_is_walked_sorted_and_depth_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.txt", "a/z.txt", "a/b/c.txt", "a.txt", "c/d.txt"] {
            touch(&dir.path().join(name));
        }
        let sources = collect(&[dir.path().to_path_buf()]).expect("collects");
        let relative: Vec<String> = sources.files.iter().map(relative).collect();
        assert_eq!(
            relative,
            ["a.txt", "b.txt", "a/z.txt", "a/b/c.txt", "c/d.txt"]
        );
        assert!(sources.files.iter().all(|file| file.path.is_absolute()));
        assert!(sources.unreadable.is_empty() && sources.skipped.is_empty());
    }

    #[test]
    fn a_file_argument_goes_under_its_own_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("deep").join("photo.jpg");
        touch(&file);
        let sources = collect(&[file]).expect("collects");
        assert_eq!(sources.files.len(), 1);
        assert_eq!(sources.files[0].segments, ["photo.jpg"]);
    }

    #[test]
    fn the_queue_database_is_never_pushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["q.db", "q.db-wal", "q.db.lock", "photo.jpg"] {
            touch(&dir.path().join(name));
        }
        let mut sources = collect(&[dir.path().to_path_buf()]).expect("collects");
        exclude_database(&mut sources, &dir.path().join("q.db"));
        let names: Vec<&str> = sources
            .files
            .iter()
            .map(|f| f.segments[0].to_str().expect("UTF-8 here"))
            .collect();
        assert_eq!(names, ["photo.jpg"]);
        assert_eq!(sources.skipped.len(), 3);
    }

    #[test]
    fn a_missing_argument_is_a_usage_error() {
        let error = collect(&[PathBuf::from("/nonexistent/ferry/input")]).expect_err("missing");
        assert!(matches!(error, CliError::Usage(_)), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn links_to_directories_are_skipped_and_links_to_files_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(&dir.path().join("real/f.txt"));
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("loop"))
            .expect("symlink");
        std::os::unix::fs::symlink(dir.path().join("real/f.txt"), dir.path().join("link.txt"))
            .expect("symlink");
        std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("broken"))
            .expect("symlink");
        let sources = collect(&[dir.path().to_path_buf()]).expect("collects");
        let relative: Vec<String> = sources.files.iter().map(relative).collect();
        assert_eq!(relative, ["link.txt", "real/f.txt"]);
        assert_eq!(sources.skipped.len(), 1);
        assert_eq!(sources.unreadable.len(), 1);
    }
}
