//! The fault plan: which faults the server injects, as plain data.
//!
//! What it is for: describing, in a form that round-trips through JSON for the
//! control API and the `--faults` flag, the random faults (each with its own
//! probability) and the scripted ones ("request n gets F", "the first k
//! requests to path P get F"), and checking that a plan makes sense.
//!
//! What it must never do: decide anything for a request or hold any state.
//! Drawing random numbers and counting requests is `injector`'s job; this module
//! is only the vocabulary, so that a plan read from JSON means the same thing
//! in every language that writes one.

use serde::{Deserialize, Serialize};

/// What the server does to requests, chosen per request and deterministic for
/// a given seed and arrival order. The default injects nothing.
///
/// Failure faults (reset, status, stall) are drawn in that order and at most
/// one applies; a request that gets one stores nothing. Delay and slow read
/// only slow a request down: it still completes and is stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Seed of the random draws; the same seed and arrival order give the same faults.
    pub seed: u64,
    /// Probability of closing the connection abruptly, without a response.
    pub reset_probability: f64,
    /// Answer with an error status instead of storing.
    pub status: Option<StatusFault>,
    /// Read part of the body, then stop reading and hold the request.
    pub stall: Option<StallFault>,
    /// Wait before sending the response.
    pub delay: Option<DelayFault>,
    /// Read the body no faster than a given rate.
    pub slow_read: Option<SlowReadFault>,
    /// Faults for given requests; they take precedence over the random ones.
    pub scripted: Vec<ScriptedFault>,
    /// In batch requests (`docs/batching.md`), answer every n-th part with 500 and do
    /// not store it; 0 never.
    pub batch_part_failure_every: u64,
    /// Resumable uploads (tus, IETF): the connection is reset when an upload's offset
    /// reaches each of these bytes; each fires once per plan (the first upload to reach
    /// it). The bytes before it are kept.
    pub cut_at_offsets: Vec<u64>,
}

/// A random status fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFault {
    pub probability: f64,
    /// Status code to answer with, e.g. 503, 429 or 500.
    pub code: u16,
    #[serde(default)]
    pub retry_after: Option<RetryAfter>,
}

/// A random stall.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallFault {
    pub probability: f64,
    /// Body bytes read before the server stops reading (at least this many,
    /// rounded up to the chunk the transport delivered).
    pub after_bytes: u64,
    /// How long the request is held before the server gives up with 408.
    pub hold_for_ms: u64,
}

/// A random delay before the response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayFault {
    pub probability: f64,
    pub ms: u64,
}

/// A random slow read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowReadFault {
    pub probability: f64,
    pub bytes_per_second: u64,
}

/// The value of a `Retry-After` header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP date>`, this many seconds after the response is sent
    /// (by the wall clock, as HTTP dates are), rounded up to the next whole
    /// second so that it is never sooner than that.
    DateAfter(u64),
    /// `Retry-After` with this exact text, for malformed-header tests.
    Raw(String),
}

/// One fault, as scripted for a chosen request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// No fault: the request is served normally.
    None,
    /// Close the connection without a response.
    Reset,
    Status {
        code: u16,
        #[serde(default)]
        retry_after: Option<RetryAfter>,
    },
    Stall {
        after_bytes: u64,
        hold_for_ms: u64,
    },
    Delay {
        ms: u64,
    },
    SlowRead {
        bytes_per_second: u64,
    },
    /// Answer with a 3xx `code` and `Location: location` (for example another
    /// loopback server), storing nothing.
    Redirect {
        code: u16,
        location: String,
    },
}

/// A fault for chosen requests. Request numbers count upload requests (not
/// control requests) from 1, in arrival order, since the plan was installed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScriptedFault {
    /// Request number `n` gets `fault`.
    Request { n: u64, fault: Fault },
    /// The first `count` requests to `path` get `fault`.
    FirstToPath {
        path: String,
        count: u64,
        fault: Fault,
    },
}

/// Why a plan was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultPlanError {
    #[error("probability of {what} must be between 0 and 1, got {value}")]
    Probability { what: &'static str, value: f64 },
    #[error("status code {0} is not a valid HTTP status")]
    StatusCode(u16),
    #[error("slow read rate must be at least 1 byte per second")]
    ZeroRate,
    #[error("scripted request numbers count from 1, got 0")]
    RequestZero,
    #[error("a redirect needs a 3xx status and a location, got {0}")]
    Redirect(u16),
}

impl FaultPlan {
    /// Every request answered with `code` (and `retry_after`, if any).
    pub fn always_status(code: u16, retry_after: Option<RetryAfter>) -> Self {
        Self {
            status: Some(StatusFault {
                probability: 1.0,
                code,
                retry_after,
            }),
            ..Self::default()
        }
    }

    /// Checks that probabilities, status codes and rates make sense.
    pub fn validate(&self) -> Result<(), FaultPlanError> {
        probability("reset", self.reset_probability)?;
        if let Some(s) = &self.status {
            probability("status", s.probability)?;
            status_code(s.code)?;
        }
        if let Some(s) = &self.stall {
            probability("stall", s.probability)?;
        }
        if let Some(d) = &self.delay {
            probability("delay", d.probability)?;
        }
        if let Some(s) = &self.slow_read {
            probability("slow_read", s.probability)?;
            rate(s.bytes_per_second)?;
        }
        for scripted in &self.scripted {
            let fault = match scripted {
                ScriptedFault::Request { n: 0, .. } => return Err(FaultPlanError::RequestZero),
                ScriptedFault::Request { fault, .. } | ScriptedFault::FirstToPath { fault, .. } => {
                    fault
                }
            };
            match fault {
                Fault::Status { code, .. } => status_code(*code)?,
                Fault::SlowRead { bytes_per_second } => rate(*bytes_per_second)?,
                Fault::Redirect { code, location }
                    if !(300..=399).contains(code) || location.is_empty() =>
                {
                    return Err(FaultPlanError::Redirect(*code));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn probability(what: &'static str, value: f64) -> Result<(), FaultPlanError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(FaultPlanError::Probability { what, value })
    }
}

fn status_code(code: u16) -> Result<(), FaultPlanError> {
    match axum::http::StatusCode::from_u16(code) {
        Ok(_) => Ok(()),
        Err(_) => Err(FaultPlanError::StatusCode(code)),
    }
}

fn rate(bytes_per_second: u64) -> Result<(), FaultPlanError> {
    if bytes_per_second == 0 {
        Err(FaultPlanError::ZeroRate)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_shape() {
        let json = r#"{
            "seed": 7,
            "reset_probability": 0.1,
            "status": {"probability": 0.2, "code": 503, "retry_after": {"seconds": 3}},
            "stall": {"probability": 0.05, "after_bytes": 1024, "hold_for_ms": 60000},
            "scripted": [
                {"when": "request", "n": 1, "fault": "reset"},
                {"when": "first_to_path", "path": "/a", "count": 2,
                 "fault": {"status": {"code": 429, "retry_after": {"date_after": 5}}}}
            ]
        }"#;
        let plan: FaultPlan = serde_json::from_str(json).unwrap();
        assert_eq!(plan.seed, 7);
        assert_eq!(
            plan.status.as_ref().unwrap().retry_after,
            Some(RetryAfter::Seconds(3))
        );
        assert_eq!(plan.scripted.len(), 2);
        assert_eq!(
            plan.scripted[1],
            ScriptedFault::FirstToPath {
                path: "/a".into(),
                count: 2,
                fault: Fault::Status {
                    code: 429,
                    retry_after: Some(RetryAfter::DateAfter(5))
                },
            }
        );
        plan.validate().unwrap();
        let again: FaultPlan =
            serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(again, plan);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<FaultPlan>(r#"{"reset_probabilty": 1.0}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn nonsense_is_refused() {
        let plan = FaultPlan {
            reset_probability: 1.5,
            ..Default::default()
        };
        assert_eq!(
            plan.validate(),
            Err(FaultPlanError::Probability {
                what: "reset",
                value: 1.5
            })
        );
        let plan = FaultPlan {
            scripted: vec![ScriptedFault::Request {
                n: 0,
                fault: Fault::Reset,
            }],
            ..Default::default()
        };
        assert_eq!(plan.validate(), Err(FaultPlanError::RequestZero));
        let plan = FaultPlan {
            status: Some(StatusFault {
                probability: 1.0,
                code: 42,
                retry_after: None,
            }),
            ..Default::default()
        };
        assert_eq!(plan.validate(), Err(FaultPlanError::StatusCode(42)));
        assert_eq!(FaultPlan::default().validate(), Ok(()));
    }

    #[test]
    fn redirects_need_a_3xx_code_and_a_location() {
        let redirect = |code: u16, location: &str| FaultPlan {
            scripted: vec![ScriptedFault::Request {
                n: 1,
                fault: Fault::Redirect {
                    code,
                    location: location.into(),
                },
            }],
            ..Default::default()
        };
        assert_eq!(redirect(307, "http://127.0.0.1:9/x").validate(), Ok(()));
        assert_eq!(
            redirect(200, "http://127.0.0.1:9/x").validate(),
            Err(FaultPlanError::Redirect(200))
        );
        assert_eq!(
            redirect(308, "").validate(),
            Err(FaultPlanError::Redirect(308))
        );
        let json = r#"{"scripted":[{"when":"request","n":1,
            "fault":{"redirect":{"code":307,"location":"http://127.0.0.1:9/x"}}}]}"#;
        let parsed: FaultPlan = serde_json::from_str(json).expect("redirect plan");
        assert_eq!(parsed, redirect(307, "http://127.0.0.1:9/x"));
    }
}
