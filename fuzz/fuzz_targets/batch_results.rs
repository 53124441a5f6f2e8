//! A batch endpoint's per-part results (`docs/batching.md`), and the verdict drawn for
//! each part.
//!
//! Checks: no panic; either no part is answered for (the body is not such results, and
//! every part shares the request's outcome) or every sent part is, once, in order; a
//! part gets the status of the first result that names it, and a part no result names
//! is retried.

#![no_main]

use arbitrary::Arbitrary;
use ferry::fuzzing::{PartVerdict, batch_results};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Body {
    /// Any bytes at all.
    Raw(Vec<u8>),
    /// Results of the documented shape: each names a sent part (by index) or another id.
    Results(Vec<(Id, i64)>),
    /// Such results cut short, or with bytes after them.
    Mangled(Vec<(Id, i64)>, u16, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Id {
    Sent(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    sent: Vec<String>,
    body: Body,
}

/// The id a result names, as the JSON below carries it (control characters left out).
fn id_text(id: &Id, sent: &[String]) -> String {
    let text = match id {
        Id::Sent(index) if !sent.is_empty() => sent[usize::from(*index) % sent.len()].clone(),
        Id::Sent(index) => index.to_string(),
        Id::Other(text) => text.clone(),
    };
    text.chars().filter(|c| !c.is_control()).collect()
}

fn results_json(results: &[(Id, i64)], sent: &[String]) -> String {
    let entries: Vec<String> = results
        .iter()
        .map(|(id, status)| {
            let id = id_text(id, sent).replace('\\', "\\\\").replace('"', "\\\"");
            format!(r#"{{"id": "{id}", "status": {status}}}"#)
        })
        .collect();
    format!(r#"{{"results": [{}]}}"#, entries.join(", "))
}

fuzz_target!(|input: Input| {
    let sent = input.sent;
    let (body, expected) = match &input.body {
        Body::Raw(bytes) => (bytes.clone(), None),
        Body::Results(results) => (results_json(results, &sent).into_bytes(), Some(results)),
        Body::Mangled(results, cut, tail) => {
            let mut body = results_json(results, &sent).into_bytes();
            body.truncate(usize::from(*cut));
            body.extend_from_slice(tail);
            (body, None)
        }
    };
    let parts = batch_results(&body, &sent);
    assert!(
        parts.is_empty() || parts.len() == sent.len(),
        "{} parts answered for {} sent",
        parts.len(),
        sent.len()
    );
    for (part, id) in parts.iter().zip(&sent) {
        assert_eq!(&part.id, id, "parts out of order");
        if part.status.is_none() {
            assert_eq!(
                part.verdict,
                PartVerdict::Retry,
                "an unmentioned part is retried"
            );
        }
        if let Some(status) = part.status {
            let expected = match status {
                200..=299 => PartVerdict::Succeeded,
                401 | 403 => PartVerdict::Auth,
                408 | 429 | 500..=599 => PartVerdict::Retry,
                _ => PartVerdict::Permanent,
            };
            assert_eq!(part.verdict, expected, "status {status}");
        }
    }
    // Well-formed results with every status a valid u16 answer for every sent part, with
    // the status of the first result naming it (ids made of control characters aside,
    // which the JSON above leaves out).
    if let Some(results) = expected
        && results
            .iter()
            .all(|(_, status)| u16::try_from(*status).is_ok())
        && !sent.is_empty()
        && sent.iter().all(|id| !id.chars().any(char::is_control))
    {
        assert_eq!(parts.len(), sent.len(), "valid results were ignored");
        for (part, id) in parts.iter().zip(&sent) {
            let first = results
                .iter()
                .find(|(result, _)| id_text(result, &sent) == *id)
                .map(|(_, status)| *status as u16);
            assert_eq!(part.status, first, "part {id:?}");
        }
    }
});
