//! What a server's answer to a (ranged) GET means for the partial file, decided from its
//! status and headers alone (RFC 9110 §14): continue at the offset, start again from zero,
//! the file is already complete, or the answer is discarded.
//!
//! Pure: no I/O, no clock. Must never accept a 206 that was not checked: its
//! `Content-Range` starts at the offset asked for, runs to the end, its total equals the
//! recorded one (a total of `*` is taken as the recorded one; with none recorded the
//! answer is discarded), and its `Content-Length` matches; anything else is discarded, never
//! appended.

use crate::download_record::DownloadRecord;

/// A parsed `Content-Range: bytes first-last/total` (or `bytes */total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ContentRange {
    /// `(first, last)`, inclusive; `None` for `*` (a 416's).
    pub range: Option<(u64, u64)>,
    /// The whole length; `None` for `*`.
    pub total: Option<u64>,
}

pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes ")?.trim();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        digits => Some(digits.parse().ok()?),
    };
    let range = match range.trim() {
        "*" => None,
        pair => {
            let (first, last) = pair.split_once('-')?;
            let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
            if last < first {
                return None;
            }
            Some((first, last))
        }
    };
    Some(ContentRange { range, total })
}

/// The parts of an answer this module reads.
#[derive(Clone, Debug, Default)]
pub(crate) struct Answer<'a> {
    pub status: u16,
    pub content_range: Option<&'a str>,
    pub content_length: Option<u64>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    /// A `Content-Encoding` other than `identity`.
    pub encoded: bool,
}

/// What to do with an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Write the body from byte 0 (a 200): the partial file is emptied first, never
    /// appended to. `total` is the length, if known and not encoded; `range_ignored`
    /// when a range of the same version was asked for (its validators answered): the
    /// server does not serve ranges.
    FromZero {
        total: Option<u64>,
        range_ignored: bool,
    },
    /// Append the body at the offset asked for (a checked 206) up to `total`.
    Continue { total: u64 },
    /// A 416 saying the file is exactly what we hold: it is complete.
    Complete { total: u64 },
    /// Discard the answer and fetch again from zero, for this reason.
    Restart(String),
    /// Not a 200/206/416: the ordinary outcome of a status.
    Status,
}

/// Decides what `answer` means for a request from `offset` (0: not ranged) with the
/// stored `record`.
pub(crate) fn plan(answer: &Answer<'_>, offset: u64, record: &DownloadRecord) -> Plan {
    match answer.status {
        200 => Plan::FromZero {
            total: answer.content_length.filter(|_| !answer.encoded),
            range_ignored: offset > 0 && same_version(answer, record),
        },
        206 if offset == 0 => Plan::Restart("a 206 to a request without Range".into()),
        206 => check_partial(answer, offset, record),
        416 if offset > 0 => {
            let total = answer
                .content_range
                .and_then(parse_content_range)
                .and_then(|range| range.total);
            let same = validators_agree(answer, record);
            match total {
                Some(total)
                    if total == offset && same && record.total.is_none_or(|t| t == total) =>
                {
                    Plan::Complete { total }
                }
                _ => Plan::Restart(format!(
                    "416 with length {total:?} while {offset} bytes are held: the file changed"
                )),
            }
        }
        _ => Plan::Status,
    }
}

fn check_partial(answer: &Answer<'_>, offset: u64, record: &DownloadRecord) -> Plan {
    if answer.encoded {
        return Plan::Restart("an encoded 206 (ranges of encoded bytes cannot be joined)".into());
    }
    let Some(range) = answer.content_range.and_then(parse_content_range) else {
        return Plan::Restart("a 206 without a usable Content-Range".into());
    };
    let Some((first, last)) = range.range else {
        return Plan::Restart("a 206 whose Content-Range has no range".into());
    };
    // `bytes first-last/*` (RFC 9110 §14.4: the complete length unknown to the server
    // when it answered) is checked against the recorded length; without one, where the
    // file ends is unknown and the answer cannot be vouched for.
    let Some(total) = range.total.or(record.total) else {
        return Plan::Restart(
            "a 206 whose Content-Range gives no length, for a file whose length was never told"
                .into(),
        );
    };
    if first != offset {
        return Plan::Restart(format!(
            "a 206 starting at byte {first} when byte {offset} was asked for"
        ));
    }
    if last.checked_add(1) != Some(total) {
        return Plan::Restart(format!("a 206 ending at byte {last} of {total}"));
    }
    if record.total.is_some_and(|recorded| recorded != total) {
        return Plan::Restart(format!(
            "a 206 for a file of {total} bytes where {:?} were recorded",
            record.total
        ));
    }
    if answer
        .content_length
        .is_some_and(|length| length != total - first)
    {
        return Plan::Restart("a 206 whose Content-Length does not match its range".into());
    }
    if !validators_agree(answer, record) {
        return Plan::Restart("a 206 with another ETag than the one resumed".into());
    }
    Plan::Continue { total }
}

/// What to do with the OS's answer to one segment (`segment.rs`), whose file the shim
/// already moved beside the partial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SegmentPlan {
    /// A 200: the file holds the whole representation (the server ignored `Range`, or
    /// `If-Range` no longer held): it replaces the partial, never follows it. `total` is
    /// the length, if known and not encoded.
    Whole { total: Option<u64> },
    /// A checked 206: bytes `first..=last` of `total`, appended at the offset.
    Append { last: u64, total: u64 },
    /// The held bytes no longer belong to the server's file (a 416): start from zero.
    Restart(String),
    /// The segment is discarded, for this reason; the held bytes stand.
    Discard(String),
    /// Not a 200/206/416: the ordinary outcome of a status.
    Status,
}

/// Decides what the answer to a segment asked from `first` means (`ranged`: the task
/// sent `Range`; `held`: the bytes in the OS's file), by the in-process lane's rules: a
/// 206 must start at `first`, end within its total, agree with the recorded total and
/// validators, and the file must hold exactly its range; it may end before the file does
/// (a segment). One exception: an OS that resumed the task itself (iOS resume data,
/// pinned by the OS with `If-Range` to the same validator) reports the last request's
/// answer, which starts later; it is accepted only when the file holds exactly
/// `first..=last`.
pub(crate) fn plan_segment(
    answer: &Answer<'_>,
    first: u64,
    ranged: bool,
    held: u64,
    record: &DownloadRecord,
) -> SegmentPlan {
    match answer.status {
        200 => SegmentPlan::Whole {
            total: answer.content_length.filter(|_| !answer.encoded),
        },
        206 if !ranged => SegmentPlan::Discard("a 206 to a request without Range".into()),
        206 => check_segment(answer, first, held, record),
        416 => SegmentPlan::Restart("a 416: the file is not what the held bytes came from".into()),
        _ => SegmentPlan::Status,
    }
}

fn check_segment(
    answer: &Answer<'_>,
    first: u64,
    held: u64,
    record: &DownloadRecord,
) -> SegmentPlan {
    if answer.encoded {
        return SegmentPlan::Discard(
            "an encoded 206 (ranges of encoded bytes cannot be joined)".into(),
        );
    }
    let Some(range) = answer.content_range.and_then(parse_content_range) else {
        return SegmentPlan::Discard("a 206 without a usable Content-Range".into());
    };
    let (Some((start, last)), Some(total)) = (range.range, range.total) else {
        return SegmentPlan::Discard("a 206 whose Content-Range has no range or no length".into());
    };
    let resumed_by_the_os = start > first && last.checked_sub(first).map(|n| n + 1) == Some(held);
    if start != first && !resumed_by_the_os {
        return SegmentPlan::Discard(format!(
            "a 206 starting at byte {start} when byte {first} was asked for"
        ));
    }
    if last.checked_sub(first).map(|n| n + 1) != Some(held) {
        return SegmentPlan::Discard(format!(
            "the OS's file has {held} bytes for the range {first}-{last}"
        ));
    }
    if last >= total {
        return SegmentPlan::Discard(format!("a 206 ending at byte {last} of {total}"));
    }
    if record.total.is_some_and(|recorded| recorded != total) {
        return SegmentPlan::Discard(format!(
            "a 206 for a file of {total} bytes where {:?} were recorded",
            record.total
        ));
    }
    if answer
        .content_length
        .is_some_and(|length| Some(length) != (last - start).checked_add(1))
    {
        return SegmentPlan::Discard("a 206 whose Content-Length does not match its range".into());
    }
    if !validators_agree(answer, record) {
        return SegmentPlan::Discard("a 206 with another ETag than the one resumed".into());
    }
    SegmentPlan::Append { last, total }
}

/// The answer names no other version than the record's: an ETag it sends equals ours.
/// Whether the answer names the very version the record holds: its strong validator (the
/// ETag, else Last-Modified) came back unchanged.
fn same_version(answer: &Answer<'_>, record: &DownloadRecord) -> bool {
    match (record.etag.as_deref(), record.last_modified.as_deref()) {
        (Some(ours), _) => answer.etag == Some(ours),
        (None, Some(ours)) => answer.last_modified == Some(ours),
        (None, None) => false,
    }
}

fn validators_agree(answer: &Answer<'_>, record: &DownloadRecord) -> bool {
    match (answer.etag, record.etag.as_deref()) {
        (Some(sent), Some(ours)) => sent == ours,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(total: u64) -> DownloadRecord {
        DownloadRecord {
            etag: Some("\"v1\"".into()),
            total: Some(total),
            offset: 40,
            ..DownloadRecord::default()
        }
    }

    fn partial(range: &str, length: u64) -> Answer<'_> {
        Answer {
            status: 206,
            content_range: Some(range),
            content_length: Some(length),
            etag: Some("\"v1\""),
            ..Answer::default()
        }
    }

    #[test]
    fn content_ranges_parse_and_nonsense_does_not() {
        assert_eq!(
            parse_content_range("bytes 40-99/100"),
            Some(ContentRange {
                range: Some((40, 99)),
                total: Some(100)
            })
        );
        assert_eq!(
            parse_content_range("bytes */100"),
            Some(ContentRange {
                range: None,
                total: Some(100)
            })
        );
        for bad in [
            "bytes 9-1/100",
            "items 0-1/2",
            "bytes 0-1",
            "bytes a-b/c",
            "",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_a_206_that_fits_exactly_is_appended() {
        let record = record(100);
        assert_eq!(
            plan(&partial("bytes 40-99/100", 60), 40, &record),
            Plan::Continue { total: 100 }
        );
        for (range, length) in [
            ("bytes 0-99/100", 100),
            ("bytes 41-99/100", 59),
            ("bytes 40-98/100", 59),
            ("bytes 40-119/120", 80),
            ("bytes 40-99/100", 61),
            ("bytes 40-98/*", 59),
            ("bytes 40-99/*", 61),
        ] {
            assert!(
                matches!(plan(&partial(range, length), 40, &record), Plan::Restart(_)),
                "{range} {length}"
            );
        }
        // An unknown complete length: the recorded one stands, if there is one.
        assert_eq!(
            plan(&partial("bytes 40-99/*", 60), 40, &record),
            Plan::Continue { total: 100 }
        );
        let untold = DownloadRecord {
            total: None,
            ..record.clone()
        };
        assert!(matches!(
            plan(&partial("bytes 40-99/*", 60), 40, &untold),
            Plan::Restart(_)
        ));
        let mut other_version = partial("bytes 40-99/100", 60);
        other_version.etag = Some("\"v2\"");
        assert!(matches!(
            plan(&other_version, 40, &record),
            Plan::Restart(_)
        ));
        let mut encoded = partial("bytes 40-99/100", 60);
        encoded.encoded = true;
        assert!(matches!(plan(&encoded, 40, &record), Plan::Restart(_)));
    }

    #[test]
    fn a_200_starts_from_zero_and_an_encoded_one_has_no_known_length() {
        let whole = Answer {
            status: 200,
            content_length: Some(100),
            ..Answer::default()
        };
        assert_eq!(
            plan(&whole, 40, &record(100)),
            Plan::FromZero {
                total: Some(100),
                range_ignored: false
            }
        );
        let encoded = Answer {
            encoded: true,
            ..whole
        };
        assert_eq!(
            plan(&encoded, 0, &record(100)),
            Plan::FromZero {
                total: None,
                range_ignored: false
            }
        );
    }

    #[test]
    fn a_200_of_the_same_version_to_a_range_means_ranges_are_ignored() {
        let same = Answer {
            status: 200,
            content_length: Some(100),
            etag: Some("\"v1\""),
            ..Answer::default()
        };
        let ignored = |answer: &Answer<'_>, offset, record: &DownloadRecord| {
            matches!(
                plan(answer, offset, record),
                Plan::FromZero {
                    range_ignored: true,
                    ..
                }
            )
        };
        assert!(ignored(&same, 40, &record(100)));
        assert!(!ignored(&same, 0, &record(100)), "no range was asked");
        let changed = Answer {
            etag: Some("\"v2\""),
            ..same.clone()
        };
        assert!(!ignored(&changed, 40, &record(100)), "a new version");
        let dated = DownloadRecord {
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()),
            ..record(100)
        };
        let dated_answer = Answer {
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT"),
            ..same
        };
        assert!(ignored(&dated_answer, 40, &dated));
    }

    #[test]
    fn a_416_completes_only_what_we_hold_of_the_same_file() {
        let mut record = record(40);
        let answer = |range| Answer {
            status: 416,
            content_range: Some(range),
            etag: Some("\"v1\""),
            ..Answer::default()
        };
        assert_eq!(
            plan(&answer("bytes */40"), 40, &record),
            Plan::Complete { total: 40 }
        );
        assert!(matches!(
            plan(&answer("bytes */30"), 40, &record),
            Plan::Restart(_)
        ));
        record.etag = Some("\"v0\"".into());
        assert!(matches!(
            plan(&answer("bytes */40"), 40, &record),
            Plan::Restart(_)
        ));
        assert_eq!(plan(&answer("bytes */40"), 0, &record), Plan::Status);
    }

    #[test]
    fn a_segment_may_end_before_the_file_but_must_start_at_the_offset_and_agree() {
        let answer = |range: &'static str, length| Answer {
            status: 206,
            content_range: Some(range),
            content_length: Some(length),
            ..Answer::default()
        };
        let held = record(100);
        assert_eq!(
            plan_segment(&answer("bytes 40-49/100", 10), 40, true, 10, &held),
            SegmentPlan::Append {
                last: 49,
                total: 100
            }
        );
        assert_eq!(
            plan_segment(&answer("bytes 45-49/100", 5), 40, true, 10, &held),
            SegmentPlan::Append {
                last: 49,
                total: 100
            },
            "the OS resumed the task itself and its file holds the whole segment"
        );
        assert!(
            matches!(
                plan_segment(&answer("bytes 45-49/100", 5), 40, true, 5, &held),
                SegmentPlan::Discard(_)
            ),
            "a later start whose file lacks the segment's beginning"
        );
        assert!(
            matches!(
                plan_segment(&answer("bytes 40-49/100", 10), 40, true, 9, &held),
                SegmentPlan::Discard(_)
            ),
            "a file shorter than its range"
        );
        for (wrong, file, why) in [
            (answer("bytes 41-49/100", 9), 9, "another start"),
            (answer("bytes 40-49/120", 10), 10, "another total"),
            (answer("bytes 40-49/100", 11), 10, "another length"),
            (answer("bytes 40-100/100", 61), 61, "past the end"),
        ] {
            assert!(
                matches!(
                    plan_segment(&wrong, 40, true, file, &held),
                    SegmentPlan::Discard(_)
                ),
                "{why}"
            );
        }
        assert!(
            matches!(
                plan_segment(&answer("bytes 0-9/100", 10), 0, false, 10, &held),
                SegmentPlan::Discard(_)
            ),
            "a 206 to a request without Range"
        );
        let whole = Answer {
            status: 200,
            content_length: Some(100),
            ..Answer::default()
        };
        assert_eq!(
            plan_segment(&whole, 40, true, 100, &held),
            SegmentPlan::Whole { total: Some(100) }
        );
        let gone = Answer {
            status: 416,
            ..Answer::default()
        };
        assert!(matches!(
            plan_segment(&gone, 40, true, 0, &held),
            SegmentPlan::Restart(_)
        ));
        let failed = Answer {
            status: 503,
            ..Answer::default()
        };
        assert_eq!(
            plan_segment(&failed, 40, true, 0, &held),
            SegmentPlan::Status
        );
    }
}
