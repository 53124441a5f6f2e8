//! Credentials the server can demand: bearer tokens that expire, presigned URLs, and one
//! user name and password (HTTP Basic).
//!
//! What it is for: letting tests exercise credential expiry mid-queue, and check that a
//! client sent the Basic credentials it was given. Bearer tokens are
//! issued by the server (`TestServer::issue_token`, `POST /_testkit/token`) and stop
//! working after N accepted requests or T milliseconds. Presigned URLs carry `expires`
//! (Unix milliseconds) and `signature` (hex HMAC-SHA256 of `METHOD\npath\nexpires` under
//! the configured secret) query parameters; the server checks both when a request
//! arrives, like an object store does.
//!
//! What it must never do: read the wall clock directly (time follows tokio's clock, so
//! paused-clock tests can expire a URL in virtual seconds), or store or log a token.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::time::Instant;

/// Which credentials uploads need. The default needs none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthPolicy {
    /// Uploads need `Authorization: Bearer <token>` with a token this server issued.
    pub bearer: Option<BearerPolicy>,
    /// Uploads need a URL presigned with this secret (see [`crate::TestServer::presign`]).
    pub presign_secret: Option<String>,
    /// Uploads need `Authorization: Basic` with exactly this user name and password.
    pub basic: Option<BasicPolicy>,
}

/// The one user name and password a server with a Basic policy accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicPolicy {
    pub username: String,
    pub password: String,
}

/// When an issued bearer token stops working. Both limits may apply; neither means never.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BearerPolicy {
    /// The token is refused once it was accepted this many times.
    pub expire_after_requests: Option<u64>,
    /// The token is refused this many milliseconds after it was issued.
    pub expire_after_ms: Option<u64>,
}

/// A presigned upload URL's path and query, and when it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presigned {
    /// `/path?expires=MS&signature=HEX`, to append to the server's origin.
    pub path_and_query: String,
    /// Unix milliseconds (by the server's clock) after which it is refused.
    pub expires_at_ms: u64,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token, or an unknown one: 401.
    BearerMissing,
    /// The token was used up or timed out: 401.
    BearerExpired,
    /// No or a wrong signature: 403.
    PresignInvalid,
    /// The signature is right but `expires` has passed: 403.
    PresignExpired,
    /// No Basic credentials, or not the configured ones: 401.
    BasicInvalid,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::BearerMissing | Refusal::BearerExpired | Refusal::BasicInvalid => 401,
            Refusal::PresignInvalid | Refusal::PresignExpired => 403,
        }
    }
}

#[derive(Debug)]
struct Token {
    issued: Instant,
    accepted: u64,
}

#[derive(Debug, Default)]
struct Inner {
    policy: AuthPolicy,
    tokens: HashMap<String, Token>,
}

/// The server's credentials: its policy and the tokens it issued.
#[derive(Debug)]
pub struct Authenticator {
    inner: Mutex<Inner>,
    wall_at_start: SystemTime,
    instant_at_start: Instant,
}

impl Authenticator {
    pub fn new(policy: AuthPolicy) -> Self {
        Authenticator {
            inner: Mutex::new(Inner {
                policy,
                tokens: HashMap::new(),
            }),
            wall_at_start: SystemTime::now(),
            instant_at_start: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server's idea of now, as Unix milliseconds: the wall clock at start advanced
    /// by tokio's clock.
    pub fn now_ms(&self) -> u64 {
        let now = self.wall_at_start + self.instant_at_start.elapsed();
        now.duration_since(UNIX_EPOCH).map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
    }

    pub fn policy(&self) -> AuthPolicy {
        self.lock().policy.clone()
    }

    /// Installs a policy; issued tokens stay valid under their new limits.
    pub fn set_policy(&self, policy: AuthPolicy) {
        self.lock().policy = policy;
    }

    /// Forgets every issued token.
    pub fn reset(&self) {
        self.lock().tokens.clear();
    }

    /// A fresh bearer token.
    pub fn issue_token(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        self.lock().tokens.insert(
            token.clone(),
            Token {
                issued: Instant::now(),
                accepted: 0,
            },
        );
        token
    }

    /// Presigns `method` on `path` for `ttl`, or `None` when no secret is configured.
    pub fn presign(&self, method: &str, path: &str, ttl: Duration) -> Option<Presigned> {
        let secret = self.lock().policy.presign_secret.clone()?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let expires_at_ms = self.now_ms().saturating_add(ttl_ms);
        let signature = sign(&secret, method, path, expires_at_ms);
        Some(Presigned {
            path_and_query: format!("{path}?expires={expires_at_ms}&signature={signature}"),
            expires_at_ms,
        })
    }

    /// Checks one upload request against the policy; an accepted bearer token counts a use.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<(), Refusal> {
        let now_ms = self.now_ms();
        let mut inner = self.lock();
        if let Some(secret) = inner.policy.presign_secret.clone() {
            check_presigned(&secret, method, path, query, now_ms)?;
        }
        if let Some(basic) = &inner.policy.basic {
            check_basic(basic, authorization)?;
        }
        if let Some(bearer) = inner.policy.bearer.clone() {
            let token = authorization
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(Refusal::BearerMissing)?;
            let token = inner.tokens.get_mut(token).ok_or(Refusal::BearerMissing)?;
            let used_up = bearer
                .expire_after_requests
                .is_some_and(|limit| token.accepted >= limit);
            let timed_out = bearer
                .expire_after_ms
                .is_some_and(|ms| token.issued.elapsed() >= Duration::from_millis(ms));
            if used_up || timed_out {
                return Err(Refusal::BearerExpired);
            }
            token.accepted += 1;
        }
        Ok(())
    }
}

fn check_basic(basic: &BasicPolicy, authorization: Option<&str>) -> Result<(), Refusal> {
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", basic.username, basic.password));
    let given = authorization
        .and_then(|value| value.strip_prefix("Basic "))
        .map(str::trim);
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(Refusal::BasicInvalid)
    }
}

fn sign(secret: &str, method: &str, path: &str, expires_at_ms: u64) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{method}\n{path}\n{expires_at_ms}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn check_presigned(
    secret: &str,
    method: &str,
    path: &str,
    query: Option<&str>,
    now_ms: u64,
) -> Result<(), Refusal> {
    let param = |name: &str| {
        query?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then_some(value)
        })
    };
    let expires_text = param("expires").ok_or(Refusal::PresignInvalid)?;
    let signature = param("signature").ok_or(Refusal::PresignInvalid)?;
    let expires_at_ms: u64 = expires_text.parse().map_err(|_| Refusal::PresignInvalid)?;
    let expected = sign(secret, method, path, expires_at_ms);
    let matches = hex::decode(signature)
        .ok()
        .zip(hex::decode(&expected).ok())
        .is_some_and(|(given, wanted)| given == wanted);
    if !matches {
        return Err(Refusal::PresignInvalid);
    }
    if now_ms >= expires_at_ms {
        return Err(Refusal::PresignExpired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(presigned: &Presigned) -> String {
        presigned
            .path_and_query
            .split_once('?')
            .map(|(_, query)| query.to_owned())
            .expect("query")
    }

    #[tokio::test(start_paused = true)]
    async fn bearer_tokens_expire_after_n_requests_or_t_milliseconds() {
        let auth = Authenticator::new(AuthPolicy {
            bearer: Some(BearerPolicy {
                expire_after_requests: Some(2),
                expire_after_ms: Some(1_000),
            }),
            ..AuthPolicy::default()
        });
        let header = |token: &str| format!("Bearer {token}");
        let first = auth.issue_token();
        assert_eq!(auth.check("PUT", "/a", None, Some(&header(&first))), Ok(()));
        assert_eq!(auth.check("PUT", "/a", None, Some(&header(&first))), Ok(()));
        assert_eq!(
            auth.check("PUT", "/a", None, Some(&header(&first))),
            Err(Refusal::BearerExpired)
        );
        let second = auth.issue_token();
        tokio::time::advance(Duration::from_millis(1_000)).await;
        assert_eq!(
            auth.check("PUT", "/a", None, Some(&header(&second))),
            Err(Refusal::BearerExpired)
        );
        assert_eq!(
            auth.check("PUT", "/a", None, Some("Bearer made-up")),
            Err(Refusal::BearerMissing)
        );
        assert_eq!(
            auth.check("PUT", "/a", None, None),
            Err(Refusal::BearerMissing)
        );
    }

    #[test]
    fn basic_credentials_must_be_exactly_the_configured_ones() {
        let auth = Authenticator::new(AuthPolicy {
            basic: Some(BasicPolicy {
                username: "alice".into(),
                password: "p:w".into(),
            }),
            ..AuthPolicy::default()
        });
        // base64("alice:p:w"): a password may hold a colon, a user name may not.
        assert_eq!(
            auth.check("PUT", "/a", None, Some("Basic YWxpY2U6cDp3")),
            Ok(())
        );
        for wrong in [
            None,
            Some("Basic YWxpY2U6cA=="),
            Some("Bearer YWxpY2U6cDp3"),
        ] {
            assert_eq!(
                auth.check("PUT", "/a", None, wrong),
                Err(Refusal::BasicInvalid),
                "{wrong:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn presigned_urls_are_checked_for_signature_method_path_and_expiry() {
        let auth = Authenticator::new(AuthPolicy {
            bearer: None,
            presign_secret: Some("k".into()),
            ..AuthPolicy::default()
        });
        let presigned = auth
            .presign("PUT", "/a", Duration::from_secs(30))
            .expect("secret set");
        let query = query_of(&presigned);
        assert_eq!(auth.check("PUT", "/a", Some(&query), None), Ok(()));
        assert_eq!(
            auth.check("POST", "/a", Some(&query), None),
            Err(Refusal::PresignInvalid)
        );
        assert_eq!(
            auth.check("PUT", "/b", Some(&query), None),
            Err(Refusal::PresignInvalid)
        );
        let forged = query.replace("expires=", "expires=9");
        assert_eq!(
            auth.check("PUT", "/a", Some(&forged), None),
            Err(Refusal::PresignInvalid)
        );
        assert_eq!(
            auth.check("PUT", "/a", None, None),
            Err(Refusal::PresignInvalid)
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            auth.check("PUT", "/a", Some(&query), None),
            Err(Refusal::PresignExpired)
        );
    }
}
