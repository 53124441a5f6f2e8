//! `push --resumable`: which files go through a resumable upload protocol, and where.
//!
//! What it is for: pointing every file at or above the threshold at BASE_URL itself (the
//! protocol's upload-creation endpoint) and declaring that endpoint's protocol in the
//! queue's configuration. Files below the threshold keep BASE_URL + their path.
//!
//! What it must never do: send anything, or fail a file it cannot measure (the engine
//! reports an unreadable file with its own typed error).

use ferry::{QueueConfig, ResumableConfig, ResumableProtocol, Upload};

use crate::args::{PushArgs, ResumableArg};
use crate::destination::BaseUrl;

/// What `--resumable`, `--resumable-threshold` and `--interop-version` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumableChoice {
    pub protocol: ResumableProtocol,
    pub threshold: u64,
    /// The upload-creation endpoint: BASE_URL as given.
    pub endpoint: String,
}

impl ResumableChoice {
    pub fn from_args(args: &PushArgs, base: &BaseUrl) -> Option<Self> {
        let protocol = match args.resumable? {
            ResumableArg::Tus => ResumableProtocol::Tus,
            ResumableArg::Ietf => ResumableProtocol::Ietf {
                interop_version: args
                    .interop_version
                    .unwrap_or(ferry::IETF_LATEST_INTEROP_VERSION),
            },
        };
        Some(Self {
            protocol,
            threshold: args.resumable_threshold,
            endpoint: base.as_str().to_owned(),
        })
    }

    /// Sends every file at or above the threshold to the creation endpoint.
    pub fn apply(&self, uploads: &mut [Upload]) {
        for upload in uploads {
            let size = std::fs::metadata(&upload.source).map(|m| m.len());
            if size.is_ok_and(|size| size >= self.threshold) {
                upload.destination.clone_from(&self.endpoint);
            }
        }
    }

    pub fn configure(&self, config: &mut QueueConfig) {
        config.resumable = ResumableConfig {
            threshold: self.threshold,
            destinations: Vec::new(),
        }
        .with_destination(self.endpoint.clone(), self.protocol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_at_or_above_the_threshold_go_to_the_endpoint() {
        let dir = tempfile::tempdir().expect("dir");
        let small = dir.path().join("small");
        let big = dir.path().join("big");
        std::fs::write(&small, [0u8; 9]).expect("write");
        std::fs::write(&big, [0u8; 10]).expect("write");
        let choice = ResumableChoice {
            protocol: ResumableProtocol::Tus,
            threshold: 10,
            endpoint: "http://h/files/".into(),
        };
        let mut uploads = vec![
            Upload::put(&small, "http://h/files/small"),
            Upload::put(&big, "http://h/files/big"),
        ];
        choice.apply(&mut uploads);
        assert_eq!(uploads[0].destination, "http://h/files/small");
        assert_eq!(uploads[1].destination, "http://h/files/");
        let mut config = QueueConfig::new("q.db");
        choice.configure(&mut config);
        assert_eq!(config.resumable.threshold, 10);
        assert_eq!(
            config.resumable.destinations[0].url_prefix,
            "http://h/files/"
        );
    }
}
