//! The shared HTTP client of the in-process lane (reqwest on rustls, with ring).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use reqwest::header::HeaderName;

use super::download::RangeIgnoringResources;
use super::gate::RequestGates;
use super::tls_trust;
use crate::Error;
use crate::config::{HttpVersionPolicy, QueueConfig};

/// Everything an in-process attempt needs besides its job.
pub(crate) struct HttpLane {
    pub client: reqwest::Client,
    pub idempotency_header: HeaderName,
    pub stall_timeout: Duration,
    /// The most bytes of a successful answer's body kept (`response_body_limit`).
    pub response_body_limit: usize,
    /// Bytes moved by every attempt since open, for the rate meter.
    pub bytes_moved: Arc<AtomicU64>,
    /// The request slots every in-process request holds while it is sent.
    pub gates: RequestGates,
    /// The app's own secret header names (`AuthPolicy::sensitive_headers`), which a
    /// download's redirect never carries to another origin.
    pub sensitive_headers: Vec<String>,
    /// The origins seen ignoring a download's `Range`.
    pub range_ignoring: RangeIgnoringResources,
}

pub(crate) fn build_http_lane(config: &QueueConfig) -> Result<HttpLane, Error> {
    // reqwest is built with `rustls-no-provider` to keep aws-lc-rs out of mobile binaries;
    // it then takes the process default, which we install unless the app already did.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let idempotency_header =
        HeaderName::from_bytes(config.idempotency_header.as_bytes()).map_err(|_| {
            Error::InvalidHeader {
                name: config.idempotency_header.clone(),
                reason: "the idempotency header name is not a valid HTTP header name".into(),
            }
        })?;
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.stall_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(config.limits.per_host.max(1))
        .tcp_nodelay(true);
    builder = match config.http_version {
        HttpVersionPolicy::Negotiate => builder,
        HttpVersionPolicy::Http1Only => builder.http1_only(),
        HttpVersionPolicy::Http2PriorKnowledge => builder.http2_prior_knowledge(),
    };
    builder = builder.use_preconfigured_tls(tls_trust::client_config(
        &config.extra_root_certificates_pem,
        config.http_version,
    )?);
    let client = builder.build().map_err(|error| Error::HttpClient {
        reason: error.to_string(),
    })?;
    Ok(HttpLane {
        client,
        idempotency_header,
        stall_timeout: config.stall_timeout,
        response_body_limit: config.response_body_limit,
        bytes_moved: Arc::new(AtomicU64::new(0)),
        gates: RequestGates::new(config.limits),
        sensitive_headers: config.auth.sensitive_headers.clone(),
        range_ignoring: RangeIgnoringResources::default(),
    })
}
