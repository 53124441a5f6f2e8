//! Redaction of secrets in anything Ferry shows: logs, events, `Debug` output, errors.
//!
//! `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` are always
//! sensitive; an app adds its own names in `AuthPolicy::sensitive_headers`. A URL's query
//! is dropped when shown, because a presigned URL's signature lives there, and so is its
//! user information, where a password may be (also in text that does not parse as a URL).
//! This module is pure: it must never log, store or keep what it is given.

/// What a sensitive value is replaced with.
const REDACTED: &str = "[redacted]";

/// Header names whose values are always secrets.
const BUILTIN_SENSITIVE: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

pub(crate) fn redacted_value() -> &'static str {
    REDACTED
}

/// Whether `name` is one of the header names that are always secret.
pub(crate) fn is_sensitive_builtin(name: &str) -> bool {
    BUILTIN_SENSITIVE
        .iter()
        .any(|sensitive| name.eq_ignore_ascii_case(sensitive))
}

/// Whether `name` is secret: built in, or marked by the app in `extra`.
pub fn is_sensitive_header(name: &str, extra: &[String]) -> bool {
    is_sensitive_builtin(name) || extra.iter().any(|marked| name.eq_ignore_ascii_case(marked))
}

/// The headers with every sensitive value replaced by `[redacted]`.
pub fn redact_headers(headers: &[(String, String)], extra: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_sensitive_header(name, extra) {
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The URL without its query and fragment (where presigned URLs keep their signature),
/// and without user information (where a password may be). Text that is not a URL with a
/// host is cut the same way by hand: everything from the first `?` or `#` on, and
/// everything between `://` and the last `@` before them, so a malformed URL in an error
/// message still shows its scheme, host and path, never its secrets.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.has_host() => redact_parsed(parsed),
        _ => redact_text(url),
    }
}

fn redact_parsed(mut parsed: url::Url) -> String {
    let had_query = parsed.query().is_some() || parsed.fragment().is_some();
    parsed.set_query(None);
    parsed.set_fragment(None);
    // Both succeed on a URL with a host, the only kind this is called with.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    let mut shown = parsed.to_string();
    if had_query {
        shown.push_str(REDACTED_QUERY);
    }
    shown
}

/// What replaces a query (and fragment).
const REDACTED_QUERY: &str = "?[redacted]";

fn redact_text(text: &str) -> String {
    let (before_query, had_query) = match text.find(['?', '#']) {
        Some(at) => (&text[..at], true),
        None => (text, false),
    };
    let authority_start = before_query.find("://").map_or(0, |at| at + 3);
    let mut shown = match before_query[authority_start..].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &before_query[..authority_start],
            &before_query[authority_start + at + 1..]
        ),
        None => before_query.to_owned(),
    };
    if had_query {
        shown.push_str(REDACTED_QUERY);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_app_marked_names_are_redacted_case_insensitively() {
        let headers = vec![
            ("AUTHORIZATION".to_owned(), "Bearer s1".to_owned()),
            ("cookie".to_owned(), "a=s2".to_owned()),
            ("Proxy-Authorization".to_owned(), "Basic s3".to_owned()),
            ("X-Api-Key".to_owned(), "s4".to_owned()),
            ("X-Device".to_owned(), "pixel".to_owned()),
        ];
        let shown = redact_headers(&headers, &["x-api-key".to_owned()]);
        let text = format!("{shown:?}");
        for secret in ["s1", "s2", "s3", "s4"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("pixel"), "{text}");
        assert_eq!(shown.len(), headers.len());
    }

    #[test]
    fn urls_lose_their_query_and_credentials() {
        let shown = redact_url("https://user:pw@h.example/a/b?sig=SECRET&expires=1#frag");
        assert_eq!(shown, "https://h.example/a/b?[redacted]");
        assert_eq!(redact_url("http://h/x"), "http://h/x");
        assert_eq!(redact_url("http://h/x#SECRET"), "http://h/x?[redacted]");
        let presigned = "https://bucket.s3.example/k/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                         &X-Amz-Credential=AKIDSECRET&X-Amz-Signature=SIGSECRET&sig=S2";
        assert_eq!(
            redact_url(presigned),
            "https://bucket.s3.example/k/a.jpg?[redacted]"
        );
        assert_eq!(redact_url("http://only-user@h:81/x"), "http://h:81/x");
    }

    #[test]
    fn text_that_is_no_url_loses_what_could_be_a_password_or_a_signature() {
        let cases = [
            // A space in the host: not a URL, but scheme, host and path stay readable.
            (
                "https://u:SECRET@ho st/up/?sig=SIG",
                "https://ho st/up/?[redacted]",
            ),
            // An unencoded `/` in the password ends the authority early.
            ("https://u:SE/CRET@h/up/", "https://h/up/"),
            ("u:SECRET@h/up", "h/up"),
            ("x:u:SECRET@h", "h"),
            ("nothing secret here", "nothing secret here"),
        ];
        for (text, expected) in cases {
            let shown = redact_url(text);
            assert_eq!(shown, expected, "{text}");
            for secret in ["SECRET", "SIG", "CRET"] {
                assert!(!shown.contains(secret), "{text} -> {shown}");
            }
        }
    }
}
