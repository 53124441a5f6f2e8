//! Which server certificates the in-process lane trusts, and how it says why it refuses one.
//!
//! What it is for: the one certificate check of the in-process lane: the system's trust
//! (`rustls-platform-verifier`, as reqwest uses it) plus the app's
//! `extra_root_certificates_pem` in two roles. A CA in that list anchors
//! chains as usual. A certificate the server presents *itself* that is byte-for-byte in
//! that list is trusted as pinned: that is how a self-signed server certificate made with
//! `openssl req -x509` works (it says `CA:TRUE`, which webpki refuses as an end entity,
//! `CaUsedAsEndEntity`), as it does with curl's `--cacert`. As curl does, a pinned
//! certificate must still name the host and be within its dates: pinning trusts the key,
//! not a certificate for another server or one that has expired.
//!
//! On Linux (and other Unix systems but Android and Apple's), where the platform verifier
//! reads the files `SSL_CERT_FILE` and `SSL_CERT_DIR` name instead of the system's store,
//! the certificates in those files are pinned the same way: a self-signed server
//! certificate trusted that way works as it does with `--cacert`.
//!
//! A certificate refused for its issuer that also names another host is refused for both
//! at once ([`UntrustedForAnotherName`]): trusting it alone would not help, and a user
//! should not need a second run to learn that.
//!
//! What it must never do: accept a certificate that is not pinned without the platform
//! verifier's full check, skip the handshake signature check for any certificate, or
//! read certificates from disk other than those `SSL_CERT_FILE`/`SSL_CERT_DIR` name.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::Error;
use crate::config::HttpVersionPolicy;

/// The TLS settings for a client that trusts the system's roots and `extra_pems`, each of
/// which is one or more PEM certificates, and pins those and the certificates
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` name. Used also when there is nothing to pin (reqwest's
/// own settings would use the same platform verifier) so that a refused certificate is
/// explained the same way everywhere ([`UntrustedForAnotherName`]).
pub(crate) fn client_config(
    extra_pems: &[String],
    http_version: HttpVersionPolicy,
) -> Result<rustls::ClientConfig, Error> {
    pinning_config(extra_pems, environment_certificates(), http_version)
}

fn pinning_config(
    extra_pems: &[String],
    from_environment: Vec<CertificateDer<'static>>,
    http_version: HttpVersionPolicy,
) -> Result<rustls::ClientConfig, Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let extra = parse_certificates(extra_pems)?;
    let mut pinned = extra.clone();
    pinned.extend(from_environment);
    let verifier = PinningVerifier {
        platform: platform_verifier(&extra, provider.clone())?,
        pinned,
        signature_algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::HttpClient {
            reason: format!("TLS versions: {error}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // reqwest sets ALPN only on TLS settings it builds itself.
    config.alpn_protocols = match http_version {
        HttpVersionPolicy::Negotiate => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersionPolicy::Http1Only => vec![b"http/1.1".to_vec()],
        HttpVersionPolicy::Http2PriorKnowledge => vec![b"h2".to_vec()],
    };
    Ok(config)
}

fn parse_certificates(pems: &[String]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut certificates = Vec::new();
    for (index, pem) in pems.iter().enumerate() {
        let invalid = |reason: String| Error::HttpClient {
            reason: format!(
                "extra root certificate #{} is not valid PEM ({reason}); give the text of a \
                 `-----BEGIN CERTIFICATE-----` block",
                index + 1
            ),
        };
        let before = certificates.len();
        for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            certificates.push(certificate.map_err(|error| invalid(error.to_string()))?);
        }
        if certificates.len() == before {
            return Err(invalid("it holds no certificate".into()));
        }
    }
    Ok(certificates)
}

/// The certificates in the files `SSL_CERT_FILE` and `SSL_CERT_DIR` (a `:`-separated list
/// of directories) name, read as the platform verifier reads them (rustls-native-certs);
/// none when neither is set. A file that cannot be read adds nothing here: the platform
/// verifier then trusts nothing from it either.
#[cfg(all(unix, not(target_os = "android"), not(target_vendor = "apple")))]
fn environment_certificates() -> Vec<CertificateDer<'static>> {
    let file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let dirs: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|dirs| {
            std::env::split_paths(&dirs)
                .filter(|dir| !dir.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut certificates = rustls_native_certs::load_certs_from_paths(file.as_deref(), None).certs;
    for dir in &dirs {
        certificates.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
    }
    certificates
}

/// Elsewhere the OS's trust store decides, and these variables mean nothing to it.
#[cfg(not(all(unix, not(target_os = "android"), not(target_vendor = "apple"))))]
fn environment_certificates() -> Vec<CertificateDer<'static>> {
    Vec::new()
}

#[cfg(not(target_os = "android"))]
fn platform_verifier(
    extra: &[CertificateDer<'static>],
    provider: Arc<CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, Error> {
    // Every extra certificate becomes an anchor too; one that signs nothing is harmless.
    rustls_platform_verifier::Verifier::new_with_extra_roots(extra.iter().cloned(), provider)
        .map_err(|error| Error::HttpClient {
            reason: format!("the system's certificate store could not be used: {error}"),
        })
}

/// Android's verifier asks the OS's trust store and takes no extra roots: there the app's
/// certificates work as pins only (a CA belongs in the app's network security config).
#[cfg(target_os = "android")]
fn platform_verifier(
    _extra: &[CertificateDer<'static>],
    provider: Arc<CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, Error> {
    rustls_platform_verifier::Verifier::new(provider).map_err(|error| Error::HttpClient {
        reason: format!("the system's certificate store could not be used: {error}"),
    })
}

struct PinningVerifier {
    platform: rustls_platform_verifier::Verifier,
    pinned: Vec<CertificateDer<'static>>,
    /// The provider's, to check a pinned certificate's dates with webpki.
    signature_algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl PinningVerifier {
    /// A pinned certificate is trusted as a key, not for any host at any time: it must
    /// name `server_name` and be valid `now`, as curl's `--cacert` requires.
    fn check_pinned(
        &self,
        pinned: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        use rustls::CertificateError;
        let unreadable = |error: webpki::Error| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(error),
            )))
        };
        let certificate = webpki::EndEntityCert::try_from(pinned).map_err(unreadable)?;
        // With the names it lists and its dates, as the platform verifier says them.
        certificate
            .verify_is_valid_for_subject_name(server_name)
            .map_err(|error| {
                rustls::Error::InvalidCertificate(match error {
                    webpki::Error::CertNotValidForName(names) => {
                        CertificateError::NotValidForNameContext {
                            expected: names.expected,
                            presented: names.presented,
                        }
                    }
                    _ => CertificateError::NotValidForName,
                })
            })?;
        // Its dates, through webpki's path check with the certificate as its own anchor:
        // webpki checks an end entity's validity period before its basic constraints, so
        // a self-signed `CA:TRUE` certificate within its dates ends in `CaUsedAsEndEntity`
        // (and one without `CA:TRUE` verifies). A test holds webpki to that order.
        let anchors = [webpki::anchor_from_trusted_cert(pinned).map_err(unreadable)?];
        let checked = certificate.verify_for_usage(
            self.signature_algorithms.all,
            &anchors,
            &[],
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        );
        match checked.map(|_| ()) {
            Err(webpki::Error::CertExpired { time, not_after }) => {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ExpiredContext { time, not_after },
                ))
            }
            Err(webpki::Error::CertNotValidYet { time, not_before }) => {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidYetContext { time, not_before },
                ))
            }
            // The key is the one the user chose: how it is signed or constrained is not
            // asked again.
            _ => Ok(()),
        }
    }
}

/// A certificate from an issuer this device does not trust that also names another host:
/// both problems in one error, so that one run says all that must change (trusting the
/// certificate alone would not make it work).
#[derive(Debug)]
pub(crate) struct UntrustedForAnotherName {
    /// The names the certificate lists, as webpki shows them (`DnsName("localhost")`).
    pub(crate) presented: Vec<String>,
}

impl fmt::Display for UntrustedForAnotherName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "untrusted certificate for other names: {}",
            self.presented.join(", ")
        )
    }
}

impl std::error::Error for UntrustedForAnotherName {}

/// `error`, or when it refuses the certificate's issuer and the certificate does not name
/// `server_name` either, an [`UntrustedForAnotherName`].
fn also_for_another_name(
    error: rustls::Error,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> rustls::Error {
    let rustls::Error::InvalidCertificate(problem) = &error else {
        return error;
    };
    if !refuses_the_issuer(problem) {
        return error;
    }
    let Ok(certificate) = webpki::EndEntityCert::try_from(end_entity) else {
        return error;
    };
    match certificate.verify_is_valid_for_subject_name(server_name) {
        Err(webpki::Error::CertNotValidForName(names)) => {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(UntrustedForAnotherName {
                    presented: names.presented,
                }),
            )))
        }
        _ => error,
    }
}

/// Whether the verifier refused who signed the certificate (an unknown CA, or a
/// self-signed certificate), which trusting it would fix.
fn refuses_the_issuer(problem: &rustls::CertificateError) -> bool {
    match problem {
        rustls::CertificateError::UnknownIssuer => true,
        rustls::CertificateError::Other(other) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::UnknownIssuer | webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

impl fmt::Debug for PinningVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinningVerifier")
            .field("pinned", &self.pinned.len())
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(pinned) = self
            .pinned
            .iter()
            .find(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            self.check_pinned(pinned, server_name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.platform
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|error| also_for_another_name(error, end_entity, server_name))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.platform
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.platform.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_PEM: &str = "hello";

    #[test]
    fn text_without_a_certificate_is_refused_with_its_position() {
        let error = parse_certificates(&[NOT_PEM.to_owned()]).expect_err("no certificate");
        assert!(error.to_string().contains("#1"), "{error}");
        assert!(error.to_string().contains("BEGIN CERTIFICATE"), "{error}");
    }

    /// A self-signed `CA:TRUE` certificate (as `openssl req -x509` makes) for `names`,
    /// valid from the start of year `from` to the start of year `until`.
    fn self_signed(names: &[&str], from: i32, until: i32) -> CertificateDer<'static> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    fn verify(
        pinned: &CertificateDer<'static>,
        host: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinningVerifier {
            platform: platform_verifier(&[], provider.clone()).expect("platform verifier"),
            pinned: vec![pinned.clone()],
            signature_algorithms: provider.signature_verification_algorithms,
        };
        let in_2030 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_893_456_000));
        let name = ServerName::try_from(host.to_owned()).expect("name");
        verifier.verify_server_cert(pinned, &[], &name, &[], in_2030)
    }

    fn refused_as(result: Result<ServerCertVerified, rustls::Error>) -> rustls::CertificateError {
        match result {
            Err(rustls::Error::InvalidCertificate(error)) => error,
            other => panic!("expected a certificate error, got {other:?}"),
        }
    }

    #[test]
    fn a_pinned_certificate_must_name_the_host_and_be_within_its_dates_as_with_curl() {
        let current = self_signed(&["localhost", "127.0.0.1"], 2020, 2040);
        assert!(verify(&current, "localhost").is_ok());
        assert!(verify(&current, "127.0.0.1").is_ok());
        let misnamed = refused_as(verify(&current, "other.example"));
        assert!(
            matches!(&misnamed, rustls::CertificateError::NotValidForNameContext { presented, .. }
                if presented.len() == 2),
            "with the names it lists: {misnamed:?}"
        );
        let expired = self_signed(&["localhost"], 2000, 2001);
        let refused = refused_as(verify(&expired, "localhost"));
        assert!(
            matches!(refused, rustls::CertificateError::ExpiredContext { .. }),
            "webpki checks the dates before refusing a CA as an end entity, and gives them: \
             {refused:?}"
        );
        let not_yet = self_signed(&["localhost"], 2035, 2040);
        let refused = refused_as(verify(&not_yet, "localhost"));
        assert!(
            matches!(refused, rustls::CertificateError::NotValidYetContext { .. }),
            "{refused:?}"
        );
    }

    #[test]
    fn an_untrusted_certificate_for_another_name_is_refused_for_both_at_once() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinningVerifier {
            platform: platform_verifier(&[], provider.clone()).expect("platform verifier"),
            pinned: Vec::new(),
            signature_algorithms: provider.signature_verification_algorithms,
        };
        let in_2030 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_893_456_000));
        let unknown = self_signed(&["elsewhere.example"], 2020, 2040);
        let refused = |host: &str| {
            let name = ServerName::try_from(host.to_owned()).expect("name");
            refused_as(verifier.verify_server_cert(&unknown, &[], &name, &[], in_2030))
        };
        match refused("localhost") {
            rustls::CertificateError::Other(other) => {
                let both = other
                    .0
                    .downcast_ref::<UntrustedForAnotherName>()
                    .expect("both problems");
                assert_eq!(both.presented, ["DnsName(\"elsewhere.example\")"]);
            }
            other => panic!("expected both problems, got {other:?}"),
        }
        let for_this_name = refused("elsewhere.example");
        assert!(refuses_the_issuer(&for_this_name), "{for_this_name:?}");
    }

    #[test]
    fn alpn_follows_the_http_version_policy() {
        for (policy, expected) in [
            (HttpVersionPolicy::Negotiate, vec!["h2", "http/1.1"]),
            (HttpVersionPolicy::Http1Only, vec!["http/1.1"]),
            (HttpVersionPolicy::Http2PriorKnowledge, vec!["h2"]),
        ] {
            let config = pinning_config(&[], Vec::new(), policy).expect("config");
            let alpn: Vec<&[u8]> = config.alpn_protocols.iter().map(Vec::as_slice).collect();
            let expected: Vec<&[u8]> = expected.iter().map(|p| p.as_bytes()).collect();
            assert_eq!(alpn, expected);
        }
    }
}
