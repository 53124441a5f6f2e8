//! A throwaway certificate authority and server certificate for TLS tests.
//!
//! What it is for: generating, at every start, a CA and a server certificate
//! it signed for `localhost` and `127.0.0.1`, and the rustls server settings
//! (ring provider, ALPN `h2` then `http/1.1`) that serve them. Clients trust
//! the CA's PEM. For the failure tests it also makes the certificates users
//! meet when something is wrong ([`ServerCertificate`]): expired, for another
//! name, or self-signed the way `openssl req -x509` makes one.
//!
//! What it must never do: read or write key material on disk, use a
//! process-wide crypto provider (the caller's choice stays the caller's), or
//! issue a certificate for any name that is not loopback.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};
use serde::{Deserialize, Serialize};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The TLS side of a server: what it serves and what clients should trust.
#[derive(Clone)]
pub struct TlsSetup {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub ca_pem: String,
}

fn cert_error(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("generating the test certificate failed: {e}"))
}

/// A throwaway CA and the server certificate it signed, as PEM text, for servers that are
/// not ours (the benchmarks' nginx reads them from files the benchmark writes).
pub struct CertificatePems {
    /// The CA certificate clients trust.
    pub ca_pem: String,
    /// The server certificate followed by the CA's: the chain a server presents.
    pub chain_pem: String,
    /// The server certificate's private key (PKCS#8).
    pub key_pem: String,
}

/// Which certificate a TLS test server presents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerCertificate {
    /// Signed by a throwaway CA, valid for `localhost` and `127.0.0.1`; clients trust the CA.
    #[default]
    CaSigned,
    /// Like `CaSigned`, but it expired in 2001.
    Expired,
    /// Like `CaSigned`, but for `ferry-testkit.invalid` only.
    WrongName,
    /// One self-signed certificate for `localhost` and `127.0.0.1` with `CA:TRUE`, as
    /// `openssl req -x509` makes by default; "the CA" clients trust is that certificate.
    SelfSigned,
}

/// Generates the server certificate of the given kind and the settings that serve it.
pub fn generate_with(kind: ServerCertificate) -> io::Result<TlsSetup> {
    let issued = issue(kind)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(issued.chain, issued.key)
        .map_err(|e| io::Error::other(format!("TLS certificate refused: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsSetup {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_pem: issued.pems.ca_pem,
    })
}

/// Generates a CA and a `localhost`/`127.0.0.1` server certificate, as PEM text.
pub fn generate_pems() -> io::Result<CertificatePems> {
    Ok(issue(ServerCertificate::CaSigned)?.pems)
}

struct Issued {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pems: CertificatePems,
}

fn issue(kind: ServerCertificate) -> io::Result<Issued> {
    if kind == ServerCertificate::SelfSigned {
        return issue_self_signed();
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ferry-testkit throwaway CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(cert_error)?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(cert_error)?;

    let names = match kind {
        ServerCertificate::WrongName => vec!["ferry-testkit.invalid".to_owned()],
        _ => loopback_names(),
    };
    let mut leaf_params = CertificateParams::new(names).map_err(cert_error)?;
    if kind == ServerCertificate::Expired {
        leaf_params.not_before = date_time_ymd(2000, 1, 1);
        leaf_params.not_after = date_time_ymd(2001, 1, 1);
    }
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(cert_error)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(cert_error)?;

    let pems = CertificatePems {
        ca_pem: ca.pem(),
        chain_pem: format!("{}{}", leaf.pem(), ca.pem()),
        key_pem: leaf_key.serialize_pem(),
    };
    Ok(Issued {
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        pems,
    })
}

fn loopback_names() -> Vec<String> {
    vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
}

/// `openssl req -x509 -newkey ... -subj /CN=localhost -addext subjectAltName=...`: one
/// certificate, its own issuer, `CA:TRUE`, presented alone.
fn issue_self_signed() -> io::Result<Issued> {
    let mut params = CertificateParams::new(loopback_names()).map_err(cert_error)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().map_err(cert_error)?;
    let certificate = params.self_signed(&key).map_err(cert_error)?;
    let pems = CertificatePems {
        ca_pem: certificate.pem(),
        chain_pem: certificate.pem(),
        key_pem: key.serialize_pem(),
    };
    Ok(Issued {
        chain: vec![certificate.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        pems,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn generates_a_pem_ca_and_advertises_h2() {
        let setup = super::generate_with(super::ServerCertificate::CaSigned).unwrap();
        assert!(setup.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let config = setup.acceptor.config();
        assert_eq!(config.alpn_protocols[0], b"h2");
        assert_eq!(config.alpn_protocols[1], b"http/1.1");
    }

    #[test]
    fn pems_hold_a_chain_of_two_and_a_private_key() {
        let pems = super::generate_pems().unwrap();
        assert_eq!(pems.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(pems.chain_pem.ends_with(&pems.ca_pem));
        assert!(pems.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
