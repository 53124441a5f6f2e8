//! What a server's answer to a download's GET means: `Content-Range`, the in-process
//! plan (continue, start from zero, complete, discard), an OS segment's plan, and the
//! whole-file digests (`Repr-Digest`, `Content-MD5`).
//!
//! Checks: no panic; a range parsed is never backwards; bytes are appended only after a
//! 206 whose `Content-Range` starts where the held bytes end (the segment's first byte),
//! within a length that agrees with the recorded one and, in process, runs to its end,
//! with a matching `Content-Length` and no encoding; a 416 completes only the length held.

#![no_main]

use arbitrary::Arbitrary;
use ferry::fuzzing::{
    DownloadAnswer, DownloadPlan, Recorded, SegmentDecision, content_range, digests, download_plan,
    segment_plan,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum RangeText {
    /// `bytes first-last/total`, from numbers near the offset.
    Shaped {
        first_delta: i8,
        length: u16,
        total_delta: i8,
        star_total: bool,
    },
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    status: u16,
    range: Option<RangeText>,
    content_length: Option<u32>,
    etag: Option<String>,
    recorded_etag: Option<String>,
    last_modified: Option<String>,
    encoded: bool,
    offset: u32,
    recorded_total: Option<u32>,
    ranged: bool,
    held: u32,
    repr_digest: String,
    md5: String,
}

fn shaped(offset: u64, first_delta: i8, length: u16, total_delta: i8, star: bool) -> String {
    let first = offset.saturating_add_signed(i64::from(first_delta));
    let last = first.saturating_add(u64::from(length));
    let total = last
        .saturating_add(1)
        .saturating_add_signed(i64::from(total_delta));
    if star {
        format!("bytes {first}-{last}/*")
    } else {
        format!("bytes {first}-{last}/{total}")
    }
}

fuzz_target!(|input: Input| {
    let offset = u64::from(input.offset);
    let range_text = input.range.map(|range| match range {
        RangeText::Shaped {
            first_delta,
            length,
            total_delta,
            star_total,
        } => shaped(offset, first_delta, length, total_delta, star_total),
        RangeText::Raw(text) => text,
    });
    let parsed = range_text.as_deref().and_then(content_range);
    if let Some((Some((first, last)), _)) = parsed {
        assert!(first <= last, "{range_text:?}");
    }
    let answer = DownloadAnswer {
        status: input.status,
        content_range: range_text.clone(),
        content_length: input.content_length.map(u64::from),
        etag: input.etag,
        last_modified: input.last_modified,
        encoded: input.encoded,
    };
    let recorded_total = input.recorded_total.map(u64::from);
    let recorded = Recorded {
        etag: input.recorded_etag,
        last_modified: None,
        total: recorded_total,
        offset,
    };
    match download_plan(&answer, offset, &recorded) {
        DownloadPlan::Continue { total } => {
            assert_eq!(answer.status, 206);
            assert!(!answer.encoded && offset > 0);
            let Some((Some((first, last)), told)) = parsed else {
                panic!("continued without a parsed range: {range_text:?}");
            };
            assert_eq!(first, offset, "{range_text:?}");
            assert_eq!(last.checked_add(1), Some(total), "{range_text:?}");
            assert!(told.is_none_or(|told| told == total), "{range_text:?}");
            assert!(recorded_total.is_none_or(|recorded| recorded == total));
            assert!(told.is_some() || recorded_total == Some(total));
            assert!(
                answer
                    .content_length
                    .is_none_or(|length| length == total - offset)
            );
        }
        DownloadPlan::Complete { total } => {
            assert_eq!(answer.status, 416);
            assert_eq!(total, offset);
        }
        DownloadPlan::FromZero { .. } => assert_eq!(answer.status, 200),
        DownloadPlan::Restart | DownloadPlan::Status => {}
    }
    let held = u64::from(input.held);
    if let SegmentDecision::Append { last, total } =
        segment_plan(&answer, offset, input.ranged, held, &recorded)
    {
        assert_eq!(answer.status, 206);
        assert!(input.ranged && !answer.encoded);
        assert!(last < total, "{range_text:?}");
        assert!(recorded_total.is_none_or(|recorded| recorded == total));
        let Some((Some((first, end)), _)) = parsed else {
            panic!("appended without a parsed range: {range_text:?}");
        };
        assert_eq!(end, last);
        // The OS may have resumed within the segment: never before its first byte.
        assert!(first >= offset, "{range_text:?}");
    }
    let _ = digests(&input.repr_digest, &input.md5);
});
