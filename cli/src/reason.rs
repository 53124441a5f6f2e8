//! A failure the library recorded, told in the command line's words.
//!
//! What it is for: the library's messages speak to apps (a certificate to trust goes into
//! `extra_root_certificates_pem`); a CLI user has `--cacert FILE` instead, and a 401 when
//! no credentials were given is not a refusal of credentials but a request for them.
//!
//! What it must never do: change what a failure is (its kind, its status), or invent a
//! reason the library did not record.

use ferry::{Direction, FailureKind, TransferError};

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

/// What `ferry pull` says of a 401/403 when the request carried no credentials (a pull
/// takes no user name or password in its URLs).
const CREDENTIALS_NEEDED_TO_PULL: &str = "the server requires credentials (none were \
    given): pass --bearer-command CMD or -H 'Authorization: ...', and run the same pull again";

/// What `ferry pull` says of a 401/403 when the request carried credentials.
const CREDENTIALS_REFUSED_TO_PULL: &str = "check the credentials (-H 'Authorization: ...' or \
    --bearer-command) and run the same pull again";

/// Where a pull's credentials come from.
const CREDENTIALS_SOURCE_OF_A_PULL: &str = "the source of credentials (--bearer-command)";

/// The library's advice to an app about a download, and what a `ferry pull` user does
/// instead.
const PULL_ADVICE: [(&str, &str); 3] = [
    (
        "the download's conflict rule is Fail; remove it, or enqueue the download with \
         ConflictRule::Replace or KeepBoth",
        "--on-conflict is fail; remove or move it, or pull with --on-conflict replace \
         (overwrite it) or --on-conflict keep-both (save the new file beside it)",
    ),
    (
        "sign the user in, then resume",
        "fix the credentials, then run the same pull again",
    ),
    ("enqueue it with an http", "give an http"),
];

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

/// `error` as `ferry` shows it: the library's text with the CLI's options in its advice
/// (a push's: a host's last error, which may be either way's).
pub fn text(error: &TransferError) -> String {
    text_for(error, Direction::Upload)
}

/// `error` of a transfer going `direction` as `ferry` shows it: a push's advice speaks of
/// pushes and BASE_URL, a pull's of pulls, URLs and `--on-conflict`.
pub fn text_for(error: &TransferError, direction: Direction) -> String {
    let (source, advice): (_, &[(&str, &str)]) = match direction {
        Direction::Download => (CREDENTIALS_SOURCE_OF_A_PULL, &PULL_ADVICE),
        _ => (CREDENTIALS_SOURCE, &CLI_ADVICE),
    };
    let mut text = error
        .to_string()
        .replace(ferry::CERTIFICATE_TRUST_ADVICE, TRUST_WITH_CACERT)
        .replace("within stall_timeout", STALL_TIMEOUT_ADVICE)
        .replace("the request authorizer", source);
    for (library, cli) in advice {
        text = text.replace(library, cli);
    }
    text
}

/// The reason of a failed or waiting transfer going `direction`; `credentials_given` says
/// whether its requests carried any (a password in BASE_URL, `--bearer-command`, an
/// `Authorization` header).
pub fn of_transfer(error: &TransferError, credentials_given: bool, direction: Direction) -> String {
    let (needed, refused) = match direction {
        Direction::Download => (CREDENTIALS_NEEDED_TO_PULL, CREDENTIALS_REFUSED_TO_PULL),
        _ => (CREDENTIALS_NEEDED, CREDENTIALS_REFUSED_ADVICE),
    };
    match (error.kind, error.http_status, credentials_given) {
        (FailureKind::Auth, Some(status), false) => format!("auth (HTTP {status}): {needed}"),
        (FailureKind::Auth, None, false) => format!("auth: {needed}"),
        (FailureKind::Auth, Some(_), true) => {
            format!("{}; {refused}", text_for(error, direction))
        }
        _ => text_for(error, direction),
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
        let asked = of_transfer(&refused, false, Direction::Upload);
        assert!(
            asked.contains("requires credentials (none were given)"),
            "{asked}"
        );
        assert!(asked.contains("--bearer-command"), "{asked}");
        assert!(asked.contains("HTTP 401"), "{asked}");
        let refused_with = of_transfer(&refused, true, Direction::Upload);
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
    fn a_download_is_told_in_a_pulls_words() {
        let exists = TransferError::new(
            FailureKind::DestinationExists,
            "/out/a.txt already exists and the download's conflict rule is Fail; remove it, \
             or enqueue the download with ConflictRule::Replace or KeepBoth",
        );
        let shown = text_for(&exists, Direction::Download);
        assert!(shown.contains("--on-conflict replace"), "{shown}");
        assert!(!shown.contains("ConflictRule"), "{shown}");
        let refused = TransferError::with_status(FailureKind::Auth, 401, "refused");
        for credentials in [false, true] {
            let shown = of_transfer(&refused, credentials, Direction::Download);
            assert!(shown.contains("--bearer-command"), "{shown}");
            for push_word in ["BASE_URL", "push"] {
                assert!(!shown.contains(push_word), "{shown}");
            }
        }
        let waiting = TransferError::new(FailureKind::Auth, "the request authorizer failed");
        let shown = text_for(&waiting, Direction::Download);
        assert!(!shown.contains("BASE_URL"), "{shown}");
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
