//! Request authorizers for the engine's auth tests, as an app would write them: bearer
//! tokens issued by the test server, and presigned URLs cached the way an app gets them
//! from its backend in batches. Each counts its calls by reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ferry::{AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo};
use ferry_testkit::TestServer;

/// Calls of an authorizer, by reason.
#[derive(Debug, Default)]
pub struct Calls(Mutex<HashMap<AuthReason, u64>>);

impl Calls {
    fn count(&self, reason: AuthReason) {
        *self.0.lock().expect("calls").entry(reason).or_insert(0) += 1;
    }

    pub fn of(&self, reason: AuthReason) -> u64 {
        self.0
            .lock()
            .expect("calls")
            .get(&reason)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.lock().expect("calls").values().sum()
    }
}

/// Bearer tokens from the test server: the current one for `First`, a fresh one for any
/// other reason. While `revoked`, it hands out a token the server never issued.
pub struct ServerTokens {
    server: Arc<TestServer>,
    current: Mutex<Option<String>>,
    /// Every token handed out, to scan for later.
    pub issued: Mutex<Vec<String>>,
    /// Sent with every request besides `Authorization`.
    pub extra_headers: Vec<(String, String)>,
    pub revoked: AtomicBool,
    pub calls: Calls,
}

pub const REVOKED_TOKEN: &str = "revoked-token-never-issued-5f1e";

impl ServerTokens {
    pub fn new(server: Arc<TestServer>) -> Arc<Self> {
        Self::with_headers(server, Vec::new())
    }

    pub fn with_headers(
        server: Arc<TestServer>,
        extra_headers: Vec<(String, String)>,
    ) -> Arc<Self> {
        Arc::new(Self {
            server,
            current: Mutex::new(None),
            issued: Mutex::new(Vec::new()),
            extra_headers,
            revoked: AtomicBool::new(false),
            calls: Calls::default(),
        })
    }

    fn token(&self, reason: AuthReason) -> String {
        if self.revoked.load(Ordering::SeqCst) {
            return REVOKED_TOKEN.to_owned();
        }
        let mut current = self.current.lock().expect("current");
        match (&*current, reason) {
            (Some(token), AuthReason::First) => token.clone(),
            _ => {
                let token = self.server.issue_token();
                self.issued.lock().expect("issued").push(token.clone());
                *current = Some(token.clone());
                token
            }
        }
    }
}

impl RequestAuthorizer for ServerTokens {
    fn authorize(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError> {
        self.calls.count(reason);
        let mut headers = vec![(
            "Authorization".to_owned(),
            format!("Bearer {}", self.token(reason)),
        )];
        headers.extend(self.extra_headers.iter().cloned());
        Ok(Authorization::headers(request.destination, headers))
    }
}

/// Presigned URLs from the test server, each valid for `ttl`. All are signed up front,
/// like a batch from an app's backend; `First` returns the cached one whatever its age,
/// other reasons sign a fresh one.
pub struct PresignedUrls {
    server: Arc<TestServer>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (String, SystemTime)>>,
    pub calls: Calls,
    /// `First` answers that were already expired or would expire within the margin Ferry
    /// keeps: proof that the scenario needed renewals.
    pub stale_first_answers: Mutex<u64>,
    stale_within: Duration,
}

impl PresignedUrls {
    pub fn new(server: Arc<TestServer>, ttl: Duration, stale_within: Duration) -> Arc<Self> {
        Arc::new(Self {
            server,
            ttl,
            cache: Mutex::new(HashMap::new()),
            calls: Calls::default(),
            stale_first_answers: Mutex::new(0),
            stale_within,
        })
    }

    /// Signs every destination now.
    pub fn presign_all<'a>(&self, destinations: impl IntoIterator<Item = &'a str>) {
        for destination in destinations {
            let signed = self.sign(destination);
            self.cache
                .lock()
                .expect("cache")
                .insert(destination.to_owned(), signed);
        }
    }

    fn sign(&self, destination: &str) -> (String, SystemTime) {
        let path = url::Url::parse(destination)
            .expect("destination")
            .path()
            .to_owned();
        self.server
            .presign("PUT", &path, self.ttl)
            .expect("the server has a presign secret")
    }
}

impl RequestAuthorizer for PresignedUrls {
    fn authorize(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError> {
        self.calls.count(reason);
        let mut cache = self.cache.lock().expect("cache");
        let cached = cache.get(&request.destination).cloned();
        let (url, expires_at) = match (cached, reason) {
            (Some(cached), AuthReason::First) => {
                let soon = self.server_now() + self.stale_within;
                if cached.1 <= soon {
                    *self.stale_first_answers.lock().expect("stale") += 1;
                }
                cached
            }
            _ => {
                let fresh = self.sign(&request.destination);
                cache.insert(request.destination.clone(), fresh.clone());
                fresh
            }
        };
        Ok(Authorization::headers(url, Vec::new()).expiring_at(expires_at))
    }
}

impl PresignedUrls {
    /// Now by the server's clock: a URL signed now with no lifetime expires now.
    fn server_now(&self) -> SystemTime {
        self.server
            .presign("PUT", "/", Duration::ZERO)
            .map(|(_, now)| now)
            .expect("the server has a presign secret")
    }
}

/// The same headers for every request.
pub struct StaticHeaders(pub Vec<(String, String)>);

impl RequestAuthorizer for StaticHeaders {
    fn authorize(
        &self,
        request: RequestInfo,
        _reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError> {
        Ok(Authorization::headers(request.destination, self.0.clone()))
    }
}
