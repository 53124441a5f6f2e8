//! What a failed send means: the one place a `reqwest::Error` becomes an
//! [`AttemptOutcome`].
//!
//! What it is for: telling apart the failures a retry can fix (a refused or reset
//! connection, a name that does not resolve while the device may be offline, a timeout)
//! from those it cannot (the server's certificate is not trusted, the server does not
//! speak TLS), and the sends the server proves it never processed
//! (`unprocessed.rs`). The table of every class is in ARCHITECTURE.md ("Failures").
//!
//! What it must never do: put a URL in a message (the query may hold a signature), or
//! call a failure permanent on a guess: whatever is not recognised stays retryable.

use std::error::Error as _;
use std::io;

use crate::error::{CERTIFICATE_TRUST_ADVICE, FailureKind, TransferError};
use crate::outcome::AttemptOutcome;

use super::error_text::describe;
use super::tls_trust::UntrustedForAnotherName;
use super::unprocessed::never_processed;
use crate::descriptors;

/// The outcome of a request whose send failed.
pub(crate) fn send_failure(error: reqwest::Error) -> AttemptOutcome {
    if let Some(problem) = tls_problem(&error) {
        return AttemptOutcome::Untrusted(problem);
    }
    if descriptors::exhausted_in(&error) {
        // No socket could be opened: a shortage in this process, not the server's fault
        // (`descriptors.rs`).
        let message = describe(error);
        return AttemptOutcome::OutOfDescriptors(descriptors::too_many_open_files(
            "a connection to the server",
            &message,
        ));
    }
    let unprocessed = never_processed(&error);
    let connect = error.is_connect();
    let mut message = describe(error);
    if connect {
        message = format!("could not connect: {message}");
    }
    if unprocessed {
        AttemptOutcome::Unprocessed { message }
    } else {
        AttemptOutcome::Network { message }
    }
}

/// The TLS failure no retry can fix, found anywhere in the error's chain.
fn tls_problem(error: &reqwest::Error) -> Option<TransferError> {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(rustls_error) = rustls_error_in(current) {
            return permanent_tls_problem(rustls_error);
        }
        cause = current.source();
    }
    None
}

/// rustls errors reach us wrapped in `io::Error`s (hyper-util wraps tokio-rustls's in
/// another), and `io::Error::source()` skips the error it wraps, so each is opened with
/// `get_ref`.
fn rustls_error_in<'a>(
    mut error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    for _ in 0..8 {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        error = error.downcast_ref::<io::Error>()?.get_ref()?;
    }
    None
}

/// The message of a certificate failure: what is wrong, and what can fix it.
fn certificate_failure(message: String) -> Option<TransferError> {
    Some(TransferError::new(FailureKind::Certificate, message))
}

fn permanent_tls_problem(error: &rustls::Error) -> Option<TransferError> {
    match error {
        rustls::Error::InvalidCertificate(problem) => {
            certificate_failure(certificate_message(problem))
        }
        rustls::Error::InvalidMessage(_) => certificate_failure(format!(
            "the server did not answer with TLS ({error}); if it speaks plain HTTP on that \
             port, use an http:// URL"
        )),
        rustls::Error::PeerIncompatible(_) => certificate_failure(format!(
            "the server and Ferry share no TLS version or cipher suite ({error}); Ferry needs \
             TLS 1.2 or 1.3"
        )),
        _ => None,
    }
}

/// What is wrong with the certificate, in words (never a type's debug form such as
/// `Other(OtherError(CaUsedAsEndEntity))`), and the one remedy that can help: trusting it
/// for an unknown issuer, fixing the server for a date or a name.
fn certificate_message(problem: &rustls::CertificateError) -> String {
    use rustls::CertificateError as Certificate;
    let untrusted = |why: &str| {
        format!("the server's TLS certificate is not trusted: {why}; {CERTIFICATE_TRUST_ADVICE}")
    };
    match problem {
        Certificate::UnknownIssuer => untrusted(
            "it is signed by an unknown certificate authority (or self-signed without CA:TRUE)",
        ),
        Certificate::Expired
        | Certificate::ExpiredContext { .. }
        | Certificate::NotValidYet
        | Certificate::NotValidYetContext { .. } => format!(
            "the server's TLS certificate is outside its validity period ({}); it must be \
             renewed on the server (or this device's clock set right): trusting it would not \
             help",
            validity_detail(problem)
        ),
        Certificate::NotValidForName | Certificate::NotValidForNameContext { .. } => {
            let detail = match problem {
                Certificate::NotValidForNameContext { presented, .. } => {
                    format!(" (it names {})", plain_names(presented))
                }
                _ => String::new(),
            };
            format!(
                "the server's TLS certificate was issued for another host name{detail}; use a \
                 URL with a name the certificate lists, or give the server a certificate for \
                 this name: trusting it would not help"
            )
        }
        Certificate::Other(other)
            if let Some(both) = other.0.downcast_ref::<UntrustedForAnotherName>() =>
        {
            format!(
                "the server's TLS certificate was issued for another host name (it names {}) \
                 and is not trusted here (an unknown certificate authority signed it, or it \
                 is self-signed): use a URL with a name the certificate lists, or give the \
                 server a certificate for this name; then, {CERTIFICATE_TRUST_ADVICE}",
                plain_names(&both.presented)
            )
        }
        Certificate::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => {
                untrusted("it is a self-signed certificate (CA:TRUE) that is not trusted here")
            }
            Some(webpki::Error::UnknownIssuer) => untrusted(
                "it is signed by an unknown certificate authority (or self-signed without CA:TRUE)",
            ),
            Some(other) => untrusted(&format!("the verifier refused it ({other:?})")),
            None => untrusted(&format!("the verifier refused it ({other})")),
        },
        Certificate::BadSignature => untrusted("its signature does not verify"),
        Certificate::Revoked => {
            "the server's TLS certificate was revoked by its issuer; the server needs a new \
             certificate: trusting it would not help"
                .to_owned()
        }
        other => untrusted(&format!("the verifier refused it ({other:?})")),
    }
}

/// "expired 12 days ago" and the like, from rustls's context when it has one.
/// webpki's `DnsName("a.example")` and `IpAddress(127.0.0.1)` as `a.example, 127.0.0.1`.
fn plain_names(presented: &[String]) -> String {
    let plain = |name: &str| -> String {
        let inner = name
            .split_once('(')
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .unwrap_or(name);
        inner.trim_matches('"').to_owned()
    };
    match presented {
        [] => "no host name".to_owned(),
        names => names
            .iter()
            .map(|name| plain(name))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn validity_detail(problem: &rustls::CertificateError) -> String {
    use rustls::CertificateError as Certificate;
    match problem {
        Certificate::ExpiredContext { time, not_after } => format!(
            "expired on {}; this device's clock says {}",
            http_date(*not_after),
            http_date(*time)
        ),
        Certificate::NotValidYetContext { time, not_before } => format!(
            "not valid yet: valid from {}; this device's clock says {}",
            http_date(*not_before),
            http_date(*time)
        ),
        Certificate::NotValidYet => "not valid yet".to_owned(),
        _ => "expired".to_owned(),
    }
}

/// A certificate date as people read it ("Sun, 06 Dec 2026 22:56:51 GMT"), not seconds
/// since 1970 (rustls's own `Display`).
fn http_date(time: rustls::pki_types::UnixTime) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.as_secs()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn message_of(problem: rustls::CertificateError) -> String {
        let error =
            permanent_tls_problem(&rustls::Error::InvalidCertificate(problem)).expect("permanent");
        assert_eq!(error.kind, FailureKind::Certificate);
        error.message
    }

    #[test]
    fn an_untrusted_issuer_says_how_to_trust_it_in_words() {
        let self_signed = rustls::CertificateError::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        )));
        for (problem, why) in [
            (
                rustls::CertificateError::UnknownIssuer,
                "unknown certificate authority",
            ),
            (self_signed, "a self-signed certificate (CA:TRUE)"),
            (
                rustls::CertificateError::BadSignature,
                "signature does not verify",
            ),
        ] {
            let message = message_of(problem);
            assert!(message.contains(why), "{message}");
            assert!(message.ends_with(CERTIFICATE_TRUST_ADVICE), "{message}");
            assert!(!message.contains("Other"), "no debug form: {message}");
        }
    }

    #[test]
    fn an_expired_or_misnamed_certificate_must_be_fixed_on_the_server_not_trusted() {
        for (problem, why) in [
            (
                rustls::CertificateError::Expired,
                "outside its validity period",
            ),
            (rustls::CertificateError::NotValidYet, "not valid yet"),
            (
                rustls::CertificateError::NotValidForName,
                "another host name",
            ),
        ] {
            let message = message_of(problem);
            assert!(message.contains(why), "{message}");
            assert!(message.contains("trusting it would not help"), "{message}");
            assert!(!message.contains(CERTIFICATE_TRUST_ADVICE), "{message}");
        }
    }

    #[test]
    fn an_untrusted_certificate_for_another_name_names_both_fixes_in_plain_names() {
        let both = rustls::CertificateError::Other(rustls::OtherError(Arc::new(
            UntrustedForAnotherName {
                presented: vec![
                    "DnsName(\"elsewhere.example\")".into(),
                    "IpAddress(10.0.0.1)".into(),
                ],
            },
        )));
        let message = message_of(both);
        assert!(
            message.contains("(it names elsewhere.example, 10.0.0.1)"),
            "{message}"
        );
        assert!(message.contains("another host name"), "{message}");
        assert!(message.ends_with(CERTIFICATE_TRUST_ADVICE), "{message}");
    }

    #[test]
    fn an_expired_certificate_gives_its_dates_as_dates_not_seconds() {
        let day = |secs: u64| {
            rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
        };
        let message = message_of(rustls::CertificateError::ExpiredContext {
            time: day(1_796_515_200),
            not_after: day(1_767_225_600),
        });
        assert!(
            message.contains("expired on Thu, 01 Jan 2026 00:00:00 GMT"),
            "{message}"
        );
        assert!(
            message.contains("clock says Sun, 06 Dec 2026 00:00:00 GMT"),
            "{message}"
        );
        assert!(!message.contains("1767225600"), "{message}");
        let message = message_of(rustls::CertificateError::NotValidYetContext {
            time: day(1_767_225_600),
            not_before: day(1_796_515_200),
        });
        assert!(
            message.contains("valid from Sun, 06 Dec 2026 00:00:00 GMT"),
            "{message}"
        );
    }

    #[test]
    fn other_tls_failures_stay_retryable() {
        for error in [
            rustls::Error::DecryptError,
            rustls::Error::HandshakeNotComplete,
            rustls::Error::General("boom".into()),
        ] {
            assert_eq!(permanent_tls_problem(&error), None, "{error}");
        }
    }
}
