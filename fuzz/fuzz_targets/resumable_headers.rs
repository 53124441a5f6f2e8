//! The headers a resumable session reads from a server's answer: `Upload-Offset`,
//! `Upload-Limit` (a structured-field dictionary), tus' `Tus-Max-Size`, `Tus-Extension`
//! and `Tus-Checksum-Algorithm`, and `Upload-Complete` / `Upload-Incomplete`.
//!
//! Checks: no panic; each value read comes from the header it belongs to (a checksum only
//! with the tus checksum extension announced, completeness only from the header of the
//! interop version's wording, an offset only from digits).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 7] = [
    "upload-offset",
    "upload-limit",
    "tus-max-size",
    "tus-extension",
    "tus-checksum-algorithm",
    "upload-complete",
    "upload-incomplete",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<(Name, Vec<u8>)>,
    ietf_version: u8,
}

fuzz_target!(|input: Input| {
    let headers: Vec<(Vec<u8>, Vec<u8>)> = input
        .headers
        .into_iter()
        .map(|(name, value)| {
            let name = match name {
                Name::Known(index) => NAMES[usize::from(index) % NAMES.len()].as_bytes().to_vec(),
                Name::Other(bytes) => bytes,
            };
            (name, value)
        })
        .collect();
    let version = u32::from(input.ietf_version);
    let answer = ferry::fuzzing::resumable_answer(&headers, version);
    let values_of = |wanted: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(name, value)| {
                // What HTTP can carry (`HeaderValue::from_bytes`); the rest never arrives.
                let carried = value
                    .iter()
                    .all(|&byte| byte == b'\t' || (byte >= 0x20 && byte != 0x7f));
                carried && name.eq_ignore_ascii_case(wanted.as_bytes())
            })
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
            .collect()
    };
    if let Some(offset) = answer.offset {
        let first = values_of("upload-offset");
        let text = first.first().map(|value| value.trim()).unwrap_or_default();
        assert_eq!(
            text.trim_start_matches('+')
                .trim_start_matches('0')
                .parse::<u64>()
                .unwrap_or(0),
            offset,
            "Upload-Offset {text:?}"
        );
    }
    if answer.tus_checksum.is_some() {
        assert!(
            values_of("tus-extension")
                .iter()
                .any(|value| value.contains("checksum")),
            "a checksum without the extension"
        );
    }
    if answer.complete.is_some() {
        let wording = if version <= 3 {
            "upload-incomplete"
        } else {
            "upload-complete"
        };
        assert!(
            !values_of(wording).is_empty(),
            "completeness without {wording}"
        );
    }
    if answer.max_append_size.is_some() {
        assert!(
            values_of("upload-limit")
                .iter()
                .any(|value| value.contains("max-append-size")),
            "max-append-size without Upload-Limit"
        );
    }
    if answer.max_size.is_some() {
        assert!(
            !values_of("upload-limit").is_empty() || !values_of("tus-max-size").is_empty(),
            "max-size without Upload-Limit or Tus-Max-Size"
        );
    }
});
