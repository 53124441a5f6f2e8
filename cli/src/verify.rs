//! Did every file arrive intact, exactly once? Local SHA-256 against the server's.
//!
//! What it is for: hashing each local file (in parallel, streaming) and comparing length
//! and digest with what the test server computed for the body it stored under the
//! file's request path, and checking that it stored that path exactly once.
//!
//! What it must never do: trust sizes or the client's own counts instead of digests, or
//! hold a whole file in memory. Blocking: run it on the blocking pool.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ferry_testkit::ReceivedBody;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A local file and the key the server should have stored it under.
#[derive(Clone, Debug)]
pub struct Expected {
    pub path: PathBuf,
    pub key: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Verification {
    pub files: u64,
    /// Same length and SHA-256 on both sides.
    pub identical: u64,
    /// Stored by the server exactly once.
    pub stored_once: u64,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn all_good(&self) -> bool {
        self.problems.is_empty() && self.identical == self.files && self.stored_once == self.files
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub key: String,
    pub problem: String,
}

/// Compares every expected file with what the server received.
pub fn verify(expected: &[Expected], received: &BTreeMap<String, ReceivedBody>) -> Verification {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let chunk = expected.len().div_ceil(threads).max(1);
    let parts: Vec<Verification> = std::thread::scope(|scope| {
        let workers: Vec<_> = expected
            .chunks(chunk)
            .map(|files| scope.spawn(move || verify_part(files, received)))
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker.join().unwrap_or_else(|_| Verification {
                    problems: vec![Problem {
                        path: PathBuf::new(),
                        key: String::new(),
                        problem: "a verification thread panicked".into(),
                    }],
                    ..Verification::default()
                })
            })
            .collect()
    });
    let mut total = Verification::default();
    for part in parts {
        total.files += part.files;
        total.identical += part.identical;
        total.stored_once += part.stored_once;
        total.problems.extend(part.problems);
    }
    total
}

fn verify_part(files: &[Expected], received: &BTreeMap<String, ReceivedBody>) -> Verification {
    let mut result = Verification::default();
    for file in files {
        result.files += 1;
        let mut problem = |text: String| {
            result.problems.push(Problem {
                path: file.path.clone(),
                key: file.key.clone(),
                problem: text,
            });
        };
        let Some(body) = received.get(&file.key) else {
            problem("the server never stored it".into());
            continue;
        };
        match digest(&file.path) {
            Ok((len, sha256)) if len == body.len && sha256 == body.sha256_hex => {
                result.identical += 1;
            }
            Ok((len, _)) => problem(format!(
                "content differs: local {len} bytes, server {} bytes, SHA-256 mismatch",
                body.len
            )),
            Err(error) => problem(format!("the local file cannot be read: {error}")),
        }
        if body.stored_count == 1 {
            result.stored_once += 1;
        } else {
            problem(format!("stored {} times", body.stored_count));
        }
    }
    result
}

/// Length and lowercase hex SHA-256 of a file, streamed.
pub fn digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        len += read as u64;
    }
    Ok((len, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_body_stored_once_is_good_and_anything_else_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").expect("write");
        let (len, sha) = digest(&path).expect("digest");
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let expected = [Expected {
            path: path.clone(),
            key: "/f".into(),
        }];
        let mut received = BTreeMap::new();
        received.insert(
            "/f".to_owned(),
            ReceivedBody {
                len,
                sha256_hex: sha,
                stored_count: 1,
                file: None,
            },
        );
        assert!(verify(&expected, &received).all_good());
        if let Some(body) = received.get_mut("/f") {
            body.stored_count = 2;
        }
        assert!(!verify(&expected, &received).all_good());
        assert!(!verify(&expected, &BTreeMap::new()).all_good());
    }
}
