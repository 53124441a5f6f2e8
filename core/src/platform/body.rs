//! Request bodies for the OS lane, which reads bodies from files only (os-model.md rule 6).
//!
//! A raw `PUT`/`POST` sends the source file itself, after checking it is still the regular
//! file enqueued (opened without waiting, so a FIFO put in its place cannot hold the
//! driver's thread). A multipart `POST` is written once to a temporary file under
//! `<database>.bodies/`, named after the handoff key; it is removed when the task ends and,
//! after a crash, at the next open. This module must never keep a body in memory.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::descriptors::source_outcome;
use crate::error::{FailureKind, TransferError};
use crate::http::open_for_reading;
use crate::outcome::AttemptOutcome;
use crate::upload::{SourceSnapshot, UploadMethod};

/// How to produce the body file of one handoff.
#[derive(Clone, Debug)]
pub(crate) enum BodyPlan {
    /// One file: the source itself for `PUT`/`POST`, a multipart body for a multipart
    /// `POST`.
    File {
        source: PathBuf,
        snapshot: SourceSnapshot,
        method: UploadMethod,
        /// Where a multipart body is written: `<bodies dir>/<handoff key>.body`.
        temp_path: PathBuf,
    },
    /// A packed batch (`docs/batching.md`): one multipart body of every part whose source
    /// is unchanged.
    Batch {
        parts: Vec<BatchPartPlan>,
        idempotency_header: String,
        temp_path: PathBuf,
    },
    /// A download's segment: nothing to send; the OS expects `expected_bytes`.
    Download { expected_bytes: u64 },
}

/// One file of a packed batch body.
#[derive(Clone, Debug)]
pub(crate) struct BatchPartPlan {
    pub id: String,
    pub source: PathBuf,
    pub snapshot: SourceSnapshot,
    pub destination: String,
}

/// A body ready for the OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PreparedBody {
    pub path: PathBuf,
    pub size: u64,
    /// Headers the body needs, such as a multipart `Content-Type` with its boundary.
    pub headers: Vec<(String, String)>,
}

/// What preparing a body produced: the body, unless nothing was left to send, and the
/// parts of a batch that were left out, with why (by transfer id).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub body: Result<PreparedBody, AttemptOutcome>,
    pub left_out: Vec<(String, AttemptOutcome)>,
}

/// The directory of temporary bodies for the database at `database_path`.
pub(crate) fn bodies_dir(database_path: &Path) -> PathBuf {
    let mut name = database_path.as_os_str().to_owned();
    name.push(".bodies");
    PathBuf::from(name)
}

/// One part of a multipart body to write.
struct PartSpec<'a> {
    name: &'a str,
    source: &'a Path,
    /// The source, opened and checked.
    file: File,
    size: u64,
    headers: Vec<(String, String)>,
}

impl BodyPlan {
    /// Checks the sources and writes the body file if one is needed. Blocking. A source
    /// that is gone or changed fails for good; a body that cannot be written is retried.
    pub(crate) fn prepare(&self) -> Prepared {
        match self {
            Self::File {
                source,
                snapshot,
                method,
                temp_path,
            } => Prepared {
                body: prepare_file(source, *snapshot, method, temp_path),
                left_out: Vec::new(),
            },
            Self::Batch {
                parts,
                idempotency_header,
                temp_path,
            } => prepare_batch(parts, idempotency_header, temp_path),
            Self::Download { expected_bytes } => Prepared {
                body: Ok(PreparedBody {
                    path: PathBuf::new(),
                    size: *expected_bytes,
                    headers: Vec::new(),
                }),
                left_out: Vec::new(),
            },
        }
    }
}

fn prepare_file(
    source: &Path,
    snapshot: SourceSnapshot,
    method: &UploadMethod,
    temp_path: &Path,
) -> Result<PreparedBody, AttemptOutcome> {
    let file = open_unchanged(source, snapshot)?;
    match method {
        UploadMethod::Put | UploadMethod::Post => Ok(PreparedBody {
            path: source.to_path_buf(),
            size: snapshot.size,
            headers: Vec::new(),
        }),
        UploadMethod::PostMultipart { field } => {
            let part = PartSpec {
                name: field,
                source,
                file,
                size: snapshot.size,
                headers: Vec::new(),
            };
            write_multipart(temp_path, vec![part]).map_err(|error| unwritable(temp_path, &error))
        }
    }
}

fn prepare_batch(parts: &[BatchPartPlan], idempotency_header: &str, temp_path: &Path) -> Prepared {
    let mut left_out = Vec::new();
    let mut specs = Vec::new();
    for part in parts {
        let file = match open_unchanged(&part.source, part.snapshot) {
            Ok(file) => file,
            Err(outcome) => {
                left_out.push((part.id.clone(), outcome));
                continue;
            }
        };
        specs.push(PartSpec {
            name: &part.id,
            source: &part.source,
            file,
            size: part.snapshot.size,
            headers: vec![
                ("Ferry-Destination".into(), part.destination.clone()),
                (idempotency_header.to_owned(), part.id.clone()),
            ],
        });
    }
    let body = if specs.is_empty() {
        Err(AttemptOutcome::Platform {
            message: "every file of the batch was left out".into(),
        })
    } else {
        write_multipart(temp_path, specs)
            .map(|mut body| {
                body.headers.push(("Ferry-Batch".into(), "1".into()));
                body
            })
            .map_err(|error| unwritable(temp_path, &error))
    };
    Prepared { body, left_out }
}

/// Opens `source` without waiting, if it is still the regular file enqueued as `snapshot`.
/// A multipart body is copied from this very file, never from a second open of the path.
fn open_unchanged(source: &Path, snapshot: SourceSnapshot) -> Result<File, AttemptOutcome> {
    let opened = open_for_reading(source)
        .map_err(|problem| source_outcome(problem.into_transfer_error()))?;
    if SourceSnapshot::of(&opened.metadata) != snapshot {
        return Err(AttemptOutcome::Source(TransferError::new(
            FailureKind::SourceChanged,
            format!(
                "{} changed after it was enqueued; enqueue it again to send the new version",
                source.display()
            ),
        )));
    }
    Ok(opened.file)
}

fn unwritable(temp_path: &Path, error: &io::Error) -> AttemptOutcome {
    AttemptOutcome::Platform {
        message: format!(
            "could not write the upload body to {}: {error}; check free space",
            temp_path.display()
        ),
    }
}

/// Writes a `multipart/form-data` body of `parts`, streaming each file. Blocking.
fn write_multipart(temp_path: &Path, parts: Vec<PartSpec<'_>>) -> io::Result<PreparedBody> {
    if let Some(parent) = temp_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let boundary = format!("ferry-{:032x}", rand::random::<u128>());
    let mut out = io::BufWriter::new(File::create(temp_path)?);
    let mut size = 0u64;
    for part in parts {
        let file_name = part
            .source
            .file_name()
            .map(|name| name.to_string_lossy().replace(['"', '\r', '\n'], "_"))
            .unwrap_or_else(|| "file".into());
        let name = part.name.replace(['"', '\r', '\n'], "_");
        let mut head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
             filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n"
        );
        for (header, value) in &part.headers {
            head.push_str(&format!("{header}: {value}\r\n"));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        let mut file = part.file;
        let copied = io::copy(&mut file, &mut out)?;
        if copied != part.size {
            drop(out);
            let _ = std::fs::remove_file(temp_path);
            return Err(io::Error::other("a source changed while it was copied"));
        }
        out.write_all(b"\r\n")?;
        size += head.len() as u64 + copied + 2;
    }
    let tail = format!("--{boundary}--\r\n");
    out.write_all(tail.as_bytes())?;
    size += tail.len() as u64;
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    Ok(PreparedBody {
        path: temp_path.to_path_buf(),
        size,
        headers: vec![(
            "Content-Type".into(),
            format!("multipart/form-data; boundary={boundary}"),
        )],
    })
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
    use crate::source_check::make_fifo;
    use crate::upload::inspect_source;

    fn plan(dir: &Path, method: UploadMethod, contents: &[u8]) -> (BodyPlan, PathBuf) {
        let source = dir.join("photo.jpg");
        std::fs::write(&source, contents).unwrap();
        let plan = BodyPlan::File {
            snapshot: inspect_source(&source).unwrap(),
            source: source.clone(),
            method,
            temp_path: bodies_dir(&dir.join("queue.db")).join("k.1.body"),
        };
        (plan, source)
    }

    fn multipart() -> UploadMethod {
        UploadMethod::PostMultipart {
            field: "file".into(),
        }
    }

    #[test]
    fn a_raw_body_is_the_source_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, source) = plan(dir.path(), UploadMethod::Put, b"hello");
        let body = plan.prepare().body.unwrap();
        assert_eq!(body.path, source);
        assert_eq!(body.size, 5);
        assert!(body.headers.is_empty());
    }

    #[test]
    fn a_multipart_body_is_written_whole_to_a_temp_file_and_removed_later() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan(dir.path(), multipart(), b"0123456789");
        let body = plan.prepare().body.unwrap();
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
        let (plan, source) = plan(dir.path(), UploadMethod::Put, b"hello");
        std::fs::write(&source, b"hello, longer").unwrap();
        let Err(AttemptOutcome::Source(error)) = plan.prepare().body else {
            panic!("a changed source must fail for good");
        };
        assert_eq!(error.kind, FailureKind::SourceChanged);
    }

    #[test]
    fn a_source_replaced_by_a_fifo_fails_for_good_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, source) = plan(dir.path(), multipart(), b"hello");
        std::fs::remove_file(&source).unwrap();
        make_fifo(&source);
        // On a thread of its own, so that an open that waits fails the test, not hangs it.
        let (done, prepared) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(plan.prepare().body);
        });
        let body = prepared
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("preparing the body waited on the FIFO");
        let Err(AttemptOutcome::Source(error)) = body else {
            panic!("a FIFO must fail for good: {body:?}");
        };
        assert_eq!(error.kind, FailureKind::SourceNotAFile, "{error}");
    }

    #[test]
    fn a_batch_body_leaves_out_changed_sources_and_names_each_part_by_transfer_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Vec::new();
        for (id, contents) in [("t1", b"one".as_slice()), ("t2", b"two"), ("t3", b"three")] {
            let source = dir.path().join(format!("{id}.jpg"));
            std::fs::write(&source, contents).unwrap();
            parts.push(BatchPartPlan {
                id: id.into(),
                snapshot: inspect_source(&source).unwrap(),
                source,
                destination: format!("http://x/{id}.jpg"),
            });
        }
        std::fs::write(&parts[1].source, b"changed!").unwrap();
        let plan = BodyPlan::Batch {
            parts,
            idempotency_header: "Idempotency-Key".into(),
            temp_path: dir.path().join("b.body"),
        };
        let prepared = plan.prepare();
        assert_eq!(prepared.left_out.len(), 1);
        assert_eq!(prepared.left_out[0].0, "t2");
        let body = prepared.body.unwrap();
        let text = std::fs::read_to_string(&body.path).unwrap();
        assert_eq!(text.len() as u64, body.size);
        assert!(text.contains("name=\"t1\"; filename=\"t1.jpg\""));
        assert!(text.contains(
            "Ferry-Destination: http://x/t3.jpg\r\nIdempotency-Key: t3\r\n\r\nthree\r\n"
        ));
        assert!(!text.contains("t2.jpg"));
        assert!(body.headers.contains(&("Ferry-Batch".into(), "1".into())));
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
