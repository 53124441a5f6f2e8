//! Which server certificates the in-process lane trusts, when the app adds its own.
//!
//! What it is for: the system's trust (`rustls-platform-verifier`, as reqwest uses it)
//! plus the app's `extra_root_certificates_pem` in two roles. A CA in that list anchors
//! chains as usual. A certificate the server presents *itself* that is byte-for-byte in
//! that list is trusted as pinned: that is how a self-signed server certificate made with
//! `openssl req -x509` works (it says `CA:TRUE`, which webpki refuses as an end entity,
//! `CaUsedAsEndEntity`), as it does with curl's `--cacert`. A pinned certificate is the
//! key the user chose to trust, so its names and dates are not checked again.
//!
//! What it must never do: accept a certificate that is not pinned without the platform
//! verifier's full check, skip the handshake signature check for any certificate, or
//! read certificates from disk (the app hands over PEM text).

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
/// which is one or more PEM certificates.
pub(crate) fn client_config(
    extra_pems: &[String],
    http_version: HttpVersionPolicy,
) -> Result<rustls::ClientConfig, Error> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let extra = parse_certificates(extra_pems)?;
    let verifier = PinningVerifier {
        platform: platform_verifier(&extra, provider.clone())?,
        pinned: extra,
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
        if self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        self.platform
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
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

    #[test]
    fn alpn_follows_the_http_version_policy() {
        for (policy, expected) in [
            (HttpVersionPolicy::Negotiate, vec!["h2", "http/1.1"]),
            (HttpVersionPolicy::Http1Only, vec!["http/1.1"]),
            (HttpVersionPolicy::Http2PriorKnowledge, vec!["h2"]),
        ] {
            let config = client_config(&[], policy).expect("config");
            let alpn: Vec<&[u8]> = config.alpn_protocols.iter().map(Vec::as_slice).collect();
            let expected: Vec<&[u8]> = expected.iter().map(|p| p.as_bytes()).collect();
            assert_eq!(alpn, expected);
        }
    }
}
