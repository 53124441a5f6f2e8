//! A failure the library recorded, told in the command line's words.
//!
//! What it is for: the library's messages speak to apps (a certificate to trust goes into
//! `extra_root_certificates_pem`); a CLI user has `--cacert FILE` instead, and a 401 when
//! no credentials were given is not a refusal of credentials but a request for them.
//!
//! What it must never do: change what a failure is (its kind, its status), or invent a
//! reason the library did not record.

use ferry::{FailureKind, TransferError};

/// What `ferry` says instead of the library's advice for an untrusted certificate.
const TRUST_WITH_CACERT: &str = "if you trust this server, pass the certificate of its CA (or \
    the server's own certificate) with --cacert FILE, or install it in the system's trust store";

/// What `ferry` says of a stall: the option that sets its bound.
const STALL_TIMEOUT_ADVICE: &str = "within --stall-timeout (raise it for a server that takes \
    longer to answer)";

/// What the library calls its request authorizer: on the command line, where the
/// credentials come from.
const CREDENTIALS_SOURCE: &str = "the source of credentials (--bearer-command, or the password \
    in BASE_URL)";

/// What `ferry push` says of a 401/403 when the request carried no credentials.
pub const CREDENTIALS_NEEDED: &str = "the server requires credentials (none were given): put a \
    user name and password in BASE_URL (https://USER:PASSWORD@host/...), or pass \
    --bearer-command CMD or -H 'Authorization: ...', and run the same command again";

/// What `ferry push` says of a 401/403 when the request carried credentials.
const CREDENTIALS_REFUSED_ADVICE: &str = "check the credentials (-H 'Authorization: ...', the \
    password in BASE_URL, or --bearer-command) and run the same command again";

/// The library's advice to an app, and what a `ferry` user does instead.
const CLI_ADVICE: [(&str, &str); 5] = [
    (
        "sign the user in, then resume",
        "fix the credentials, then run the same push again",
    ),
    (
        "enqueue it again to send the new content",
        "run the same push again to send the new content",
    ),
    ("enqueue regular files only", "push regular files only"),
    (
        "copy it to a regular file and enqueue the copy",
        "copy it to a regular file and push the copy",
    ),
    (
        "enqueue the files inside it, one by one",
        "push the directory: its files are sent one by one",
    ),
];

/// `error` as `ferry` shows it: the library's text with the CLI's options in its advice.
pub fn text(error: &TransferError) -> String {
    let mut text = error
        .to_string()
        .replace(ferry::CERTIFICATE_TRUST_ADVICE, TRUST_WITH_CACERT)
        .replace("within stall_timeout", STALL_TIMEOUT_ADVICE)
        .replace("the request authorizer", CREDENTIALS_SOURCE);
    for (library, cli) in CLI_ADVICE {
        text = text.replace(library, cli);
    }
    text
}

/// The reason of a failed or waiting transfer; `credentials_given` says whether its
/// requests carried any (a password in BASE_URL, `--bearer-command`, an `Authorization`
/// header).
pub fn of_transfer(error: &TransferError, credentials_given: bool) -> String {
    match (error.kind, error.http_status, credentials_given) {
        (FailureKind::Auth, Some(status), false) => {
            format!("auth (HTTP {status}): {CREDENTIALS_NEEDED}")
        }
        (FailureKind::Auth, None, false) => format!("auth: {CREDENTIALS_NEEDED}"),
        (FailureKind::Auth, Some(_), true) => {
            format!("{}; {CREDENTIALS_REFUSED_ADVICE}", text(error))
        }
        _ => text(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_names_the_option_and_credentials_their_source_not_library_terms() {
        let stalled = TransferError::new(
            FailureKind::Stalled,
            "nothing moved (no more bytes sent or received, and no answer from the server) within \
                      stall_timeout",
        );
        let shown = text(&stalled);
        assert!(shown.contains("--stall-timeout"), "{shown}");
        assert!(!shown.contains("stall_timeout"), "{shown}");
        let waiting = TransferError::new(
            FailureKind::Auth,
            "the request authorizer did not answer within 60 s; Ferry will ask again \
                      later",
        );
        let shown = text(&waiting);
        assert!(shown.contains("--bearer-command"), "{shown}");
        assert!(!shown.contains("request authorizer"), "{shown}");
    }

    #[test]
    fn certificate_advice_names_the_cacert_option_not_the_library_field() {
        let error = TransferError::new(
            FailureKind::Certificate,
            format!(
                "the server's TLS certificate is not trusted: it is self-signed; {}",
                ferry::CERTIFICATE_TRUST_ADVICE
            ),
        );
        let shown = text(&error);
        assert!(shown.contains("--cacert FILE"), "{shown}");
        assert!(!shown.contains("extra_root_certificates_pem"), "{shown}");
        assert!(shown.contains("it is self-signed"), "{shown}");
    }

    #[test]
    fn a_401_without_credentials_asks_for_them_and_with_them_says_they_were_refused() {
        let refused = TransferError::with_status(
            FailureKind::Auth,
            401,
            "the server refused the credentials",
        );
        let asked = of_transfer(&refused, false);
        assert!(
            asked.contains("requires credentials (none were given)"),
            "{asked}"
        );
        assert!(asked.contains("--bearer-command"), "{asked}");
        assert!(asked.contains("HTTP 401"), "{asked}");
        let refused_with = of_transfer(&refused, true);
        assert!(
            refused_with.contains("refused the credentials"),
            "{refused_with}"
        );
        assert!(
            refused_with.contains("check the credentials"),
            "{refused_with}"
        );
    }

    #[test]
    fn advice_to_an_app_becomes_advice_to_a_ferry_user() {
        for (library, cli) in CLI_ADVICE {
            let error = TransferError::new(
                FailureKind::SourceUnreadable,
                format!("something; {library}"),
            );
            let shown = text(&error);
            assert!(shown.ends_with(cli), "{shown}");
            assert!(!shown.contains("enqueue"), "{shown}");
            assert!(!shown.contains("resume"), "{shown}");
        }
    }
}
