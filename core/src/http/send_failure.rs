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

use crate::error::{FailureKind, TransferError};
use crate::outcome::AttemptOutcome;

use super::error_text::describe;
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

const HOW_TO_TRUST: &str = "if you trust this server, add the certificate of its CA (or the \
    server's own certificate) to extra_root_certificates_pem (ferry push --cacert FILE), or \
    install it in the system's trust store";

fn permanent_tls_problem(error: &rustls::Error) -> Option<TransferError> {
    use rustls::CertificateError as Certificate;
    let certificate = |why: &str| {
        Some(TransferError::new(
            FailureKind::Certificate,
            format!("the server's TLS certificate is not trusted: {why} ({error}); {HOW_TO_TRUST}"),
        ))
    };
    match error {
        rustls::Error::InvalidCertificate(problem) => match problem {
            Certificate::UnknownIssuer => certificate(
                "it is signed by an unknown certificate authority (or self-signed without CA:TRUE)",
            ),
            Certificate::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                certificate("it is a self-signed certificate (CA:TRUE) that is not trusted here")
            }
            Certificate::Expired
            | Certificate::ExpiredContext { .. }
            | Certificate::NotValidYet
            | Certificate::NotValidYetContext { .. } => certificate(
                "it is outside its validity period (check the server's certificate and this \
                 device's clock)",
            ),
            Certificate::NotValidForName | Certificate::NotValidForNameContext { .. } => {
                certificate(
                    "it was issued for another host name; use a URL with a name the certificate lists",
                )
            }
            _ => certificate("it failed verification"),
        },
        rustls::Error::InvalidMessage(_) => Some(TransferError::new(
            FailureKind::Certificate,
            format!(
                "the server did not answer with TLS ({error}); if it speaks plain HTTP \
                     on that port, use an http:// URL"
            ),
        )),
        rustls::Error::PeerIncompatible(_) => Some(TransferError::new(
            FailureKind::Certificate,
            format!(
                "the server and Ferry share no TLS version or cipher suite ({error}); Ferry \
                 needs TLS 1.2 or 1.3"
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_permanent_and_say_how_to_trust() {
        for problem in [
            rustls::CertificateError::UnknownIssuer,
            rustls::CertificateError::Expired,
            rustls::CertificateError::NotValidForName,
            rustls::CertificateError::BadSignature,
        ] {
            let error = permanent_tls_problem(&rustls::Error::InvalidCertificate(problem))
                .expect("permanent");
            assert_eq!(error.kind, FailureKind::Certificate);
            assert!(error.message.contains("--cacert"), "{}", error.message);
        }
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
