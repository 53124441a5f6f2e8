//! `--header 'Name: value'` arguments, parsed and checked before anything runs.
//!
//! What it is for: turning the raw arguments into (name, value) pairs that the engine will
//! accept, and refusing bad ones with a usage error that says how to write them.
//!
//! What it must never do: put a header *value* (or a whole argument, which may be a
//! mistyped secret such as `Authorization Bearer abc`) into a message. Only names that
//! are valid header names are ever shown.

use crate::error::CliError;

/// Headers the engine or HTTP itself sets; a user value would be ignored or break framing.
const RESERVED: [&str; 4] = [
    "idempotency-key",
    "content-length",
    "transfer-encoding",
    "host",
];

/// Parses every `--header` argument, in order.
pub fn parse_all(raw: &[String]) -> Result<Vec<(String, String)>, CliError> {
    raw.iter()
        .enumerate()
        .map(|(index, text)| parse(index + 1, text))
        .collect()
}

/// `position` counts from 1 and names the argument in errors instead of its text.
fn parse(position: usize, text: &str) -> Result<(String, String), CliError> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(CliError::usage(format!(
            "--header argument #{position} has no ':'; write it as --header 'Name: value' \
             (the argument is not shown because it may hold a secret)"
        )));
    };
    let name = name.trim();
    let value = value.trim();
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(CliError::usage(format!(
            "the name in --header argument #{position} is not a valid HTTP header name; use \
             letters, digits and -_.!#$%&'*+^`|~ only (the argument is not shown because it \
             may hold a secret)"
        )));
    }
    if !value
        .bytes()
        .all(|byte| byte == b'\t' || (0x20..=0x7e).contains(&byte))
    {
        return Err(CliError::usage(format!(
            "the value of header {name:?} contains characters a header cannot carry (a line \
             break, a control character or non-ASCII text); the value is not shown"
        )));
    }
    if RESERVED
        .iter()
        .any(|reserved| name.eq_ignore_ascii_case(reserved))
    {
        return Err(CliError::usage(format!(
            "header {name:?} is set by ferry itself and cannot be given with --header"
        )));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// RFC 9110 `tchar`.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_value_are_trimmed() {
        let parsed = parse_all(&[
            "X-Device:  pixel 8 ".into(),
            "Authorization: Bearer a:b".into(),
        ])
        .expect("valid");
        assert_eq!(
            parsed,
            [
                ("X-Device".to_owned(), "pixel 8".to_owned()),
                ("Authorization".to_owned(), "Bearer a:b".to_owned())
            ]
        );
    }

    #[test]
    fn malformed_arguments_are_refused_without_echoing_them() {
        for bad in [
            "Authorization Bearer sekrit",
            "Bad Name sekrit: v",
            ": sekrit",
            "X-Token: sekrit\nInjected: 1",
            "X-Token: sekrit\u{e9}",
        ] {
            let error = parse_all(&[bad.to_owned()]).expect_err(bad);
            assert!(matches!(error, CliError::Usage(_)), "{bad}");
            assert!(!error.to_string().contains("sekrit"), "{error}");
        }
    }

    #[test]
    fn headers_ferry_sets_itself_are_refused() {
        let error = parse_all(&["idempotency-key: 1".into()]).expect_err("reserved");
        assert!(error.to_string().contains("set by ferry"), "{error}");
    }
}
