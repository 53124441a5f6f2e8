//! The settings of `QueueConfig` that are records or enums of their own: the HTTP versions
//! the in-process client speaks, and the endpoints that take packed uploads. Only the
//! conversions to and from `ferry`; what the settings do is the core's.

use crate::FerryError;
use crate::numbers::{int, long, unsigned_int, unsigned_long};

/// Which HTTP versions the in-process client speaks (the OS lane's are the OS's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum HttpVersion {
    /// HTTP/2 when TLS negotiates it (ALPN), otherwise HTTP/1.1 with keep-alive (default).
    Negotiate,
    /// Only HTTP/1.1.
    Http1Only,
    /// HTTP/2 without negotiation, also over cleartext (h2c prior knowledge).
    Http2PriorKnowledge,
}

impl HttpVersion {
    pub(crate) fn from_core(policy: ferry::HttpVersionPolicy) -> Self {
        match policy {
            ferry::HttpVersionPolicy::Http1Only => Self::Http1Only,
            ferry::HttpVersionPolicy::Http2PriorKnowledge => Self::Http2PriorKnowledge,
            // `HttpVersionPolicy` may grow (`#[non_exhaustive]`): a policy this build
            // does not know reads as the default.
            _ => Self::Negotiate,
        }
    }

    pub(crate) fn to_core(self) -> ferry::HttpVersionPolicy {
        match self {
            Self::Negotiate => ferry::HttpVersionPolicy::Negotiate,
            Self::Http1Only => ferry::HttpVersionPolicy::Http1Only,
            Self::Http2PriorKnowledge => ferry::HttpVersionPolicy::Http2PriorKnowledge,
        }
    }
}

/// A server endpoint that takes many small files in one multipart `POST` (the format is
/// in `docs/batching.md`): uploads whose destination starts with `destinationPrefix` are
/// packed into requests to `endpoint`. Uploads with headers of their own are never packed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BatchEndpoint {
    /// Uploads whose destination starts with this text (compared literally) may be packed,
    /// e.g. `https://example.com/photos/`.
    pub destination_prefix: String,
    /// The multipart `POST` endpoint, on the same origin as `destinationPrefix`.
    pub endpoint: String,
    /// At most this many files per request (default 32; at least 1).
    #[uniffi(default = 32)]
    pub max_files: i32,
    /// At most this many bytes of files per request (default 4 MiB); a larger file is
    /// never packed.
    #[uniffi(default = 4194304)]
    pub max_bytes: i64,
}

impl BatchEndpoint {
    pub(crate) fn from_core(endpoint: &ferry::BatchEndpoint) -> Self {
        Self {
            destination_prefix: endpoint.destination_prefix.clone(),
            endpoint: endpoint.endpoint.clone(),
            max_files: int(u32::try_from(endpoint.max_files).unwrap_or(u32::MAX)),
            max_bytes: long(endpoint.max_bytes),
        }
    }

    /// # Errors
    ///
    /// `InvalidArgument` for a negative `maxFiles` or `maxBytes`.
    pub(crate) fn to_core(&self) -> Result<ferry::BatchEndpoint, FerryError> {
        let mut endpoint =
            ferry::BatchEndpoint::new(self.destination_prefix.clone(), self.endpoint.clone());
        endpoint.max_files = unsigned_int("maxFiles", self.max_files)? as usize;
        endpoint.max_bytes = unsigned_long("maxBytes", self.max_bytes)?;
        Ok(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::records::default_queue_config;

    #[test]
    fn the_settings_set_in_the_ffi_reach_the_cores_config() {
        let mut config = default_queue_config("q.db".into());
        config.http_version = HttpVersion::Http2PriorKnowledge;
        config.progress_interval = Duration::from_millis(40);
        config.breaker_failure_threshold = 2;
        config.breaker_cooldown = Duration::from_secs(1);
        config.breaker_max_cooldown = Duration::from_secs(9);
        config.batching = vec![BatchEndpoint {
            destination_prefix: "https://h/p/".into(),
            endpoint: "https://h/batch".into(),
            max_files: 7,
            max_bytes: 1000,
        }];
        config.authorize_timeout = Duration::from_secs(3);
        config.sensitive_headers = vec!["X-Api-Key".into()];
        config.downloads_to_os = false;
        config.keep_app_running = true;
        let core = config.to_core().expect("valid");
        assert_eq!(
            core.http_version,
            ferry::HttpVersionPolicy::Http2PriorKnowledge
        );
        assert_eq!(core.progress_interval, Duration::from_millis(40));
        assert_eq!(core.breaker.failure_threshold, 2);
        assert_eq!(core.breaker.cooldown, Duration::from_secs(1));
        assert_eq!(core.breaker.max_cooldown, Duration::from_secs(9));
        assert_eq!(core.batching.len(), 1);
        assert_eq!(core.batching[0].max_files, 7);
        assert_eq!(core.batching[0].max_bytes, 1000);
        assert_eq!(core.auth.authorize_timeout, Duration::from_secs(3));
        assert_eq!(core.auth.sensitive_headers, ["X-Api-Key"]);
        assert!(!core.platform.downloads_to_os);
        assert!(core.platform.keep_app_running);
    }

    #[test]
    fn the_defaults_are_the_cores() {
        let config = default_queue_config("q.db".into());
        let core = ferry::QueueConfig::new("q.db");
        assert_eq!(config.http_version, HttpVersion::Negotiate);
        assert_eq!(config.progress_interval, core.progress_interval);
        assert_eq!(config.breaker_cooldown, core.breaker.cooldown);
        assert_eq!(config.authorize_timeout, core.auth.authorize_timeout);
        assert!(config.batching.is_empty());
        assert!(config.downloads_to_os && core.platform.downloads_to_os);
        assert!(!config.keep_app_running && !core.platform.keep_app_running);
        let round_trip = config.to_core().expect("valid");
        assert!(
            round_trip.platform.downloads_to_os,
            "on unless the app turns it off"
        );
    }

    #[test]
    fn a_negative_batch_size_is_refused_by_name() {
        let mut config = default_queue_config("q.db".into());
        config.batching = vec![BatchEndpoint {
            destination_prefix: "https://h/p/".into(),
            endpoint: "https://h/batch".into(),
            max_files: -1,
            max_bytes: 1000,
        }];
        assert!(matches!(
            config.to_core(),
            Err(FerryError::InvalidArgument { ref name, .. }) if name == "maxFiles"
        ));
    }
}
