//! Which resumable upload protocol a destination speaks, as the app configures it.
//!
//! Plain data and one pure lookup ([`ResumableConfig::protocol_for`]): no I/O, no clock.
//! The protocol clients are in `http/resumable/`; what the store keeps is in
//! `store/resumable.rs`.

/// The IETF draft's latest interop version this build knows (draft -09 to -11 say 8).
pub const IETF_LATEST_INTEROP_VERSION: u32 = 8;
/// The interop version iOS 17's URLSession speaks (draft -01).
pub const IETF_IOS17_INTEROP_VERSION: u32 = 3;

/// A resumable upload protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResumableProtocol {
    /// tus 1.0.0: `POST` creates, `HEAD` reads the offset, `PATCH` appends.
    Tus,
    /// draft-ietf-httpbis-resumable-upload at the given `Upload-Draft-Interop-Version`
    /// (3 to [`IETF_LATEST_INTEROP_VERSION`]).
    Ietf {
        /// The `Upload-Draft-Interop-Version` sent and expected: use
        /// [`IETF_IOS17_INTEROP_VERSION`] for a server that serves iOS 17's URLSession,
        /// else [`IETF_LATEST_INTEROP_VERSION`].
        interop_version: u32,
    },
}

impl ResumableProtocol {
    /// The IETF draft at its latest interop version.
    pub fn ietf_latest() -> Self {
        Self::Ietf {
            interop_version: IETF_LATEST_INTEROP_VERSION,
        }
    }

    /// The stable name stored with an upload resource (`tus`, `ietf-8`).
    pub(crate) fn to_stored(self) -> String {
        match self {
            Self::Tus => "tus".to_owned(),
            Self::Ietf { interop_version } => format!("ietf-{interop_version}"),
        }
    }

    pub(crate) fn from_stored(text: &str) -> Option<Self> {
        if text == "tus" {
            return Some(Self::Tus);
        }
        let version = text.strip_prefix("ietf-")?.parse().ok()?;
        Some(Self::Ietf {
            interop_version: version,
        })
    }
}

/// A destination that speaks a resumable protocol: every upload whose URL starts with
/// `url_prefix` and whose file is at least [`ResumableConfig::threshold`] bytes uses it.
/// The upload's URL is then the upload-creation endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableDestination {
    /// Uploads whose destination starts with this text (compared literally) resume.
    pub url_prefix: String,
    /// The protocol the server at that prefix speaks.
    pub protocol: ResumableProtocol,
}

/// Resumable uploads for big files. By default no destination declares a protocol, and
/// every upload is one plain request.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `ResumableConfig { field: value, ..ResumableConfig::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableConfig {
    /// Files at or above this size use their destination's protocol.
    pub threshold: u64,
    /// The first matching prefix wins.
    pub destinations: Vec<ResumableDestination>,
}

impl Default for ResumableConfig {
    fn default() -> Self {
        Self {
            threshold: 8 * 1024 * 1024,
            destinations: Vec::new(),
        }
    }
}

impl ResumableConfig {
    /// Every upload to `url_prefix` at or above the threshold uses `protocol`.
    pub fn with_destination(
        mut self,
        url_prefix: impl Into<String>,
        protocol: ResumableProtocol,
    ) -> Self {
        self.destinations.push(ResumableDestination {
            url_prefix: url_prefix.into(),
            protocol,
        });
        self
    }

    /// The protocol an upload of `size` bytes to `destination` uses, if any.
    pub(crate) fn protocol_for(&self, destination: &str, size: u64) -> Option<ResumableProtocol> {
        if size < self.threshold {
            return None;
        }
        self.destinations
            .iter()
            .find(|declared| destination.starts_with(&declared.url_prefix))
            .map(|declared| declared.protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for protocol in [
            ResumableProtocol::Tus,
            ResumableProtocol::ietf_latest(),
            ResumableProtocol::Ietf { interop_version: 3 },
        ] {
            assert_eq!(
                ResumableProtocol::from_stored(&protocol.to_stored()),
                Some(protocol)
            );
        }
        assert_eq!(ResumableProtocol::from_stored("ietf-x"), None);
        assert_eq!(ResumableProtocol::from_stored("ftp"), None);
    }

    #[test]
    fn only_big_files_to_declared_destinations_resume() {
        let config = ResumableConfig {
            threshold: 100,
            destinations: Vec::new(),
        }
        .with_destination("https://a.example/files/", ResumableProtocol::Tus)
        .with_destination("https://a.example/", ResumableProtocol::ietf_latest());
        assert_eq!(
            config.protocol_for("https://a.example/files/", 100),
            Some(ResumableProtocol::Tus)
        );
        assert_eq!(config.protocol_for("https://a.example/files/", 99), None);
        assert_eq!(
            config.protocol_for("https://a.example/other", 1000),
            Some(ResumableProtocol::ietf_latest())
        );
        assert_eq!(config.protocol_for("https://b.example/files/", 1000), None);
    }
}
