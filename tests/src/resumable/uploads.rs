//! The resumable upload resources the test server holds (tus and IETF draft alike).
//!
//! What it is for: one registry, behind one lock, of upload resources: their protocol,
//! declared length, offset and a running SHA-256 of the bytes appended so far (appends
//! are always at the current offset, so the digest of the whole upload is known when the
//! last byte arrives, without keeping any bytes).
//!
//! What it must never do: do I/O, await, hold its lock across anything but a few map
//! updates, or accept an append at any offset but the current one.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

/// Which protocol a resource speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tus,
    Ietf { interop_version: u32 },
}

/// What a handler needs to know about a resource.
#[derive(Clone, Debug)]
pub struct Info {
    pub protocol: Protocol,
    pub key: String,
    pub length: u64,
    pub offset: u64,
    pub complete: bool,
}

/// An append was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such resource (never created, terminated, or forgotten).
    Gone,
    /// The resource is at another offset (another request appended meanwhile).
    Conflict { offset: u64 },
    /// The bytes would go past the declared length.
    TooLong,
}

/// The resource's content state before a request, to restore when the request's part
/// must be dropped whole (a tus checksum mismatch or a cut part).
#[derive(Clone)]
pub struct Mark {
    offset: u64,
    hasher: Sha256,
}

struct Upload {
    info: Info,
    hasher: Sha256,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    uploads: HashMap<u64, Upload>,
    /// `Idempotency-Key` of a creation request → the resource it created.
    by_key: HashMap<String, u64>,
    /// Cut offsets that already fired (each fires once per plan).
    cuts_done: BTreeSet<u64>,
}

/// Every resource of one server.
#[derive(Default)]
pub struct Uploads {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("count", &self.lock().uploads.len())
            .finish()
    }
}

impl Uploads {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates a resource, or returns the one an earlier request with the same
    /// idempotency key created (`(id, false)`).
    pub fn create(
        &self,
        protocol: Protocol,
        key: String,
        length: u64,
        idempotency_key: Option<&str>,
    ) -> (u64, bool) {
        let mut inner = self.lock();
        if let Some(id) = idempotency_key.and_then(|k| inner.by_key.get(k).copied())
            && inner.uploads.contains_key(&id)
        {
            return (id, false);
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.uploads.insert(
            id,
            Upload {
                info: Info {
                    protocol,
                    key,
                    length,
                    offset: 0,
                    complete: false,
                },
                hasher: Sha256::new(),
            },
        );
        if let Some(k) = idempotency_key {
            inner.by_key.insert(k.to_owned(), id);
        }
        (id, true)
    }

    pub fn info(&self, id: u64) -> Option<Info> {
        self.lock().uploads.get(&id).map(|u| u.info.clone())
    }

    pub fn mark(&self, id: u64) -> Option<Mark> {
        self.lock().uploads.get(&id).map(|u| Mark {
            offset: u.info.offset,
            hasher: u.hasher.clone(),
        })
    }

    /// Drops everything appended since `mark` (if nothing else appended meanwhile).
    pub fn restore(&self, id: u64, mark: Mark, appended_to: u64) {
        if let Some(upload) = self.lock().uploads.get_mut(&id)
            && upload.info.offset == appended_to
        {
            upload.info.offset = mark.offset;
            upload.hasher = mark.hasher;
        }
    }

    /// Appends `data` at `at`, which must be the current offset.
    pub fn append(&self, id: u64, at: u64, data: &[u8]) -> Result<u64, Refusal> {
        let mut inner = self.lock();
        let upload = inner.uploads.get_mut(&id).ok_or(Refusal::Gone)?;
        if upload.info.offset != at {
            return Err(Refusal::Conflict {
                offset: upload.info.offset,
            });
        }
        if at + data.len() as u64 > upload.info.length {
            return Err(Refusal::TooLong);
        }
        upload.hasher.update(data);
        upload.info.offset += data.len() as u64;
        Ok(upload.info.offset)
    }

    /// The first of `cuts` inside `(from, to]` that has not fired yet; marks it fired.
    pub fn take_cut(&self, cuts: &[u64], from: u64, to: u64) -> Option<u64> {
        let mut inner = self.lock();
        let cut = cuts
            .iter()
            .copied()
            .filter(|c| *c > from && *c <= to && !inner.cuts_done.contains(c))
            .min()?;
        inner.cuts_done.insert(cut);
        Some(cut)
    }

    /// A new fault plan: every cut may fire again.
    pub fn rearm_cuts(&self) {
        self.lock().cuts_done.clear();
    }

    /// Marks the resource complete; returns its key, length and hex digest the first time.
    pub fn complete(&self, id: u64) -> Option<(String, u64, String)> {
        let mut inner = self.lock();
        let upload = inner.uploads.get_mut(&id)?;
        if upload.info.complete || upload.info.offset != upload.info.length {
            return None;
        }
        upload.info.complete = true;
        Some((
            upload.info.key.clone(),
            upload.info.length,
            hex::encode(upload.hasher.clone().finalize()),
        ))
    }

    /// Removes a resource; false if there was none.
    pub fn remove(&self, id: u64) -> bool {
        self.lock().uploads.remove(&id).is_some()
    }

    /// Forgets every resource (a server that lost its uploads).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.uploads.clear();
        inner.by_key.clear();
        inner.cuts_done.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_only_at_the_offset_and_digests_the_whole() {
        let uploads = Uploads::default();
        let (id, new) = uploads.create(Protocol::Tus, "/k".into(), 11, Some("key"));
        assert!(new);
        assert_eq!(
            uploads.create(Protocol::Tus, "/k".into(), 11, Some("key")),
            (id, false)
        );
        assert_eq!(uploads.append(id, 0, b"hello "), Ok(6));
        assert_eq!(
            uploads.append(id, 0, b"x"),
            Err(Refusal::Conflict { offset: 6 })
        );
        let mark = uploads.mark(id).unwrap();
        assert_eq!(uploads.append(id, 6, b"WORLD"), Ok(11));
        uploads.restore(id, mark, 11);
        assert_eq!(uploads.append(id, 6, b"world!"), Err(Refusal::TooLong));
        assert_eq!(uploads.append(id, 6, b"world"), Ok(11));
        let (key, len, digest) = uploads.complete(id).unwrap();
        assert_eq!((key.as_str(), len), ("/k", 11));
        assert_eq!(
            digest,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert!(uploads.complete(id).is_none(), "completes once");
        assert_eq!(uploads.take_cut(&[5, 3], 0, 6), Some(3));
        assert_eq!(uploads.take_cut(&[5, 3], 0, 6), Some(5));
        assert_eq!(uploads.take_cut(&[5, 3], 0, 6), None);
        uploads.rearm_cuts();
        assert_eq!(uploads.take_cut(&[5, 3], 4, 6), Some(5));
        assert!(uploads.remove(id));
        assert_eq!(uploads.append(id, 11, b""), Err(Refusal::Gone));
    }
}
