//! tus `Upload-Checksum` on the server side: parse the header, digest the part as it
//! arrives, compare at its end.
//!
//! What it must never do: buffer the part, or accept an algorithm the server did not
//! offer.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest;

use crate::app::App;

/// A running tus checksum of one part.
pub struct PartChecksum {
    pub algorithm: &'static str,
    expected: Vec<u8>,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
}

impl PartChecksum {
    pub fn update(&mut self, data: &[u8]) {
        match self.algorithm {
            "sha1" => self.sha1.update(data),
            _ => self.sha256.update(data),
        }
    }

    pub fn matches(self) -> bool {
        let got = match self.algorithm {
            "sha1" => self.sha1.finalize().to_vec(),
            _ => self.sha256.finalize().to_vec(),
        };
        got == self.expected
    }
}

#[allow(clippy::result_large_err)] // the answer to give instead, built once
pub fn expected_checksum(app: &App, value: &HeaderValue) -> Result<PartChecksum, Response> {
    let bad = |text: &str| (StatusCode::BAD_REQUEST, text.to_owned()).into_response();
    let text = value
        .to_str()
        .map_err(|_| bad("unreadable Upload-Checksum\n"))?;
    let (name, digest) = text
        .split_once(' ')
        .ok_or_else(|| bad("Upload-Checksum is not `algorithm base64`\n"))?;
    let offered = &app.resumable.tus_checksum_algorithms;
    let algorithm = match name {
        "sha1" if offered.iter().any(|a| a == "sha1") => "sha1",
        "sha256" if offered.iter().any(|a| a == "sha256") => "sha256",
        _ => return Err(bad("unsupported checksum algorithm\n")),
    };
    let expected = STANDARD
        .decode(digest.trim())
        .map_err(|_| bad("Upload-Checksum digest is not base64\n"))?;
    Ok(PartChecksum {
        algorithm,
        expected,
        sha1: sha1::Sha1::new(),
        sha256: sha2::Sha256::new(),
    })
}
