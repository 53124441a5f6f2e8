//! Request bodies for the OS lane, which reads bodies from files only (os-model.md rule 6).
//!
//! A raw `PUT`/`POST` sends the source file itself, after checking it is unchanged since
//! enqueue. A multipart `POST` is written once to a temporary file under
//! `<database>.bodies/`, named after the handoff key; it is removed when the task ends and,
//! after a crash, at the next open. This module must never keep a body in memory.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::classify::AttemptOutcome;
use crate::error::{FailureKind, TransferError};
use crate::upload::{SourceSnapshot, UploadMethod, inspect_source};

/// How to produce the body file of one handoff.
#[derive(Clone, Debug)]
pub(crate) struct BodyPlan {
    pub source: PathBuf,
    pub snapshot: SourceSnapshot,
    pub method: UploadMethod,
    /// Where a multipart body is written: `<bodies dir>/<handoff key>.body`.
    pub temp_path: PathBuf,
}

/// A body ready for the OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PreparedBody {
    pub path: PathBuf,
    pub size: u64,
    /// Headers the body needs, such as a multipart `Content-Type` with its boundary.
    pub headers: Vec<(String, String)>,
}

/// The directory of temporary bodies for the database at `database_path`.
pub(crate) fn bodies_dir(database_path: &Path) -> PathBuf {
    let mut name = database_path.as_os_str().to_owned();
    name.push(".bodies");
    PathBuf::from(name)
}

impl BodyPlan {
    /// Checks the source and writes the body file if one is needed. Blocking. A source
    /// that is gone or changed fails for good; a body that cannot be written is retried.
    pub(crate) fn prepare(&self) -> Result<PreparedBody, AttemptOutcome> {
        let now = inspect_source(&self.source).map_err(|error| {
            AttemptOutcome::Source(TransferError::new(
                FailureKind::SourceUnreadable,
                error.to_string(),
            ))
        })?;
        if now != self.snapshot {
            return Err(AttemptOutcome::Source(TransferError::new(
                FailureKind::SourceChanged,
                format!(
                    "{} changed after it was enqueued; enqueue it again to send the new version",
                    self.source.display()
                ),
            )));
        }
        match &self.method {
            UploadMethod::Put | UploadMethod::Post => Ok(PreparedBody {
                path: self.source.clone(),
                size: self.snapshot.size,
                headers: Vec::new(),
            }),
            UploadMethod::PostMultipart { field } => {
                self.write_multipart(field)
                    .map_err(|error| AttemptOutcome::Platform {
                        message: format!(
                            "could not write the upload body to {}: {error}; check free space",
                            self.temp_path.display()
                        ),
                    })
            }
        }
    }

    fn write_multipart(&self, field: &str) -> io::Result<PreparedBody> {
        if let Some(parent) = self.temp_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let boundary = format!("ferry-{:032x}", rand::random::<u128>());
        let file_name = self
            .source
            .file_name()
            .map(|name| name.to_string_lossy().replace(['"', '\r', '\n'], "_"))
            .unwrap_or_else(|| "file".into());
        let field = field.replace(['"', '\r', '\n'], "_");
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
             filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let mut out = io::BufWriter::new(File::create(&self.temp_path)?);
        out.write_all(head.as_bytes())?;
        let copied = io::copy(&mut File::open(&self.source)?, &mut out)?;
        out.write_all(tail.as_bytes())?;
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        if copied != self.snapshot.size {
            let _ = std::fs::remove_file(&self.temp_path);
            return Err(io::Error::other("the source changed while it was copied"));
        }
        Ok(PreparedBody {
            path: self.temp_path.clone(),
            size: (head.len() + tail.len()) as u64 + copied,
            headers: vec![(
                "Content-Type".into(),
                format!("multipart/form-data; boundary={boundary}"),
            )],
        })
    }
}

/// Removes the temporary body of a handoff, if it had one. Blocking.
pub(crate) fn remove_body(bodies: &Path, handoff_key: &str) {
    let path = bodies.join(format!("{handoff_key}.body"));
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => log::warn!("could not remove {}: {error}", path.display()),
    }
}

/// After a crash: removes every temporary body whose handoff is not `live`. Blocking.
pub(crate) fn remove_stale_bodies(bodies: &Path, live: &HashSet<String>) -> usize {
    let Ok(entries) = std::fs::read_dir(bodies) else {
        return 0; // no directory: nothing was ever written
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let key = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".body"));
        if key.is_some_and(|key| live.contains(key)) {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(dir: &Path, method: UploadMethod, contents: &[u8]) -> BodyPlan {
        let source = dir.join("photo.jpg");
        std::fs::write(&source, contents).unwrap();
        BodyPlan {
            snapshot: inspect_source(&source).unwrap(),
            source,
            method,
            temp_path: bodies_dir(&dir.join("queue.db")).join("k.1.body"),
        }
    }

    #[test]
    fn a_raw_body_is_the_source_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), UploadMethod::Put, b"hello");
        let body = plan.prepare().unwrap();
        assert_eq!(body.path, plan.source);
        assert_eq!(body.size, 5);
        assert!(body.headers.is_empty());
    }

    #[test]
    fn a_multipart_body_is_written_whole_to_a_temp_file_and_removed_later() {
        let dir = tempfile::tempdir().unwrap();
        let field = UploadMethod::PostMultipart {
            field: "file".into(),
        };
        let plan = plan(dir.path(), field, b"0123456789");
        let body = plan.prepare().unwrap();
        let written = std::fs::read(&body.path).unwrap();
        assert_eq!(written.len() as u64, body.size);
        let text = String::from_utf8(written).unwrap();
        let (_, boundary) = body.headers[0].1.split_once("boundary=").unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"file\"; filename=\"photo.jpg\""));
        assert!(text.contains("\r\n\r\n0123456789\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        let bodies = bodies_dir(&dir.path().join("queue.db"));
        remove_body(&bodies, "k.1");
        assert!(!body.path.exists());
    }

    #[test]
    fn a_source_changed_since_enqueue_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), UploadMethod::Put, b"hello");
        std::fs::write(&plan.source, b"hello, longer").unwrap();
        let Err(AttemptOutcome::Source(error)) = plan.prepare() else {
            panic!("a changed source must fail for good");
        };
        assert_eq!(error.kind, FailureKind::SourceChanged);
    }

    #[test]
    fn stale_bodies_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let bodies = bodies_dir(&dir.path().join("queue.db"));
        std::fs::create_dir_all(&bodies).unwrap();
        for key in ["a.1", "b.2", "c.1"] {
            std::fs::write(bodies.join(format!("{key}.body")), b"x").unwrap();
        }
        let live = HashSet::from(["b.2".to_owned()]);
        assert_eq!(remove_stale_bodies(&bodies, &live), 2);
        assert!(bodies.join("b.2.body").exists());
        assert!(!bodies.join("a.1.body").exists());
    }
}
