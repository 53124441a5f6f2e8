//! [`DownloadRecord`]: how far a download got and what it is pinned to (the server's
//! validators, the total length), as attempts checkpoint it and the store keeps it. A
//! leaf, written by the in-process lane's checkpoints, persisted by the actor through
//! `store/downloads.rs`, read back for the next attempt, so that the lane never touches
//! the store.
//!
//! The rule it carries: `offset` bytes of the partial file are durable (synced) and belong
//! to the representation the validators name, before the record says so. Must never hold
//! anything secret (it is stored) or decide whether the server's file is still the same
//! (the lane asks the server with `If-Range`).

use std::path::PathBuf;

/// A download's resume state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DownloadRecord {
    /// The server's strong `ETag` for the bytes held, if it sent one.
    pub etag: Option<String>,
    /// The server's `Last-Modified` for the bytes held, if it sent one.
    pub last_modified: Option<String>,
    /// The whole file's length, once a response said it.
    pub total: Option<u64>,
    /// Bytes of the partial file that are durable and verified to belong to these
    /// validators: where the next attempt continues.
    pub offset: u64,
    /// How many times the finished bytes did not match the expected digest (fetched again
    /// once from zero, then failed).
    pub digest_failures: u32,
    /// The path a finishing attempt is renaming the file to: durable before the rename,
    /// so a crash after it finds the file there.
    pub placing: Option<PathBuf>,
}

impl DownloadRecord {
    /// Whether a resume can be pinned to these validators: a strong ETag, or a
    /// Last-Modified (RFC 9110 §13.1.5 takes it only as a strong one; the lane sends it
    /// only when no ETag is known).
    pub(crate) fn if_range(&self) -> Option<&str> {
        match (&self.etag, &self.last_modified) {
            (Some(etag), _) if !etag.starts_with("W/") => Some(etag),
            (None, Some(date)) => Some(date),
            _ => None,
        }
    }

    /// Where the next bytes come from when the OS fetches the download in ranged segments
    /// of `segment_bytes` (`platform/service.rs`'s `DownloadSegment`): see [`OsSegment`].
    pub(crate) fn os_segment(&self, segment_bytes: u64) -> OsSegment {
        let segment_bytes = segment_bytes.max(1);
        match (self.if_range(), self.total) {
            // Pinned (or nothing known yet): a bounded range, `If-Range` from a held offset.
            (Some(_), _) | (None, None) => {
                let first = self.segment_start();
                let end = first
                    .saturating_add(segment_bytes)
                    .min(self.total.unwrap_or(u64::MAX));
                OsSegment {
                    first,
                    last: Some(end.saturating_sub(1).max(first)),
                    if_range: self.if_range().filter(|_| first > 0).map(str::to_owned),
                }
            }
            // A length known but no strong validator to pin a range to: the whole file.
            (None, Some(_)) => OsSegment {
                first: 0,
                last: None,
                if_range: None,
            },
        }
    }

    /// Where the OS's next segment starts: the held offset when a strong validator pins
    /// it, else zero (as the in-process lane restarts without one).
    pub(crate) fn segment_start(&self) -> u64 {
        if self.if_range().is_some() {
            self.offset
        } else {
            0
        }
    }

    /// Whether the bytes are all held (or being placed) and only the finish is left,
    /// which needs no OS task.
    pub(crate) fn held_whole(&self) -> bool {
        self.placing.is_some()
            || (self.if_range().is_some()
                && self
                    .total
                    .is_some_and(|total| total > 0 && self.offset >= total))
    }
}

/// The bytes one OS task of a download asks for: `Range: bytes=first-last` (no `Range`
/// when `last` is `None`: the whole file), with `If-Range` when it continues held bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OsSegment {
    pub first: u64,
    pub last: Option<u64>,
    pub if_range: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_bounded_pinned_from_a_held_offset_and_whole_without_a_validator() {
        let fresh = DownloadRecord::default();
        assert_eq!(
            fresh.os_segment(10),
            OsSegment {
                first: 0,
                last: Some(9),
                if_range: None
            },
            "nothing known yet: the first segment"
        );
        let pinned = DownloadRecord {
            etag: Some("\"v1\"".into()),
            total: Some(25),
            offset: 20,
            ..DownloadRecord::default()
        };
        assert_eq!(
            pinned.os_segment(10),
            OsSegment {
                first: 20,
                last: Some(24),
                if_range: Some("\"v1\"".into())
            },
            "the last segment ends at the file's end"
        );
        let weak = DownloadRecord {
            etag: Some("W/\"v1\"".into()),
            ..pinned.clone()
        };
        assert_eq!(
            weak.os_segment(10),
            OsSegment {
                first: 0,
                last: None,
                if_range: None
            },
            "nothing to pin a range to: the whole file, from zero"
        );
        assert!(!pinned.held_whole());
        assert!(
            DownloadRecord {
                offset: 25,
                ..pinned
            }
            .held_whole()
        );
        assert!(!DownloadRecord { offset: 25, ..weak }.held_whole());
    }
}
