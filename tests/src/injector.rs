//! Per-request fault decisions from a [`FaultPlan`].
//!
//! What it is for: numbering upload requests in arrival order and turning the
//! plan into one [`Decision`] per request, with a seeded `StdRng` so that the
//! same seed and the same arrival order always give the same faults.
//!
//! What it must never do: touch the network, sleep, or read a clock. Applying a
//! decision is the upload handler's job; keeping this pure is what makes it
//! deterministic and testable on its own.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::faults::{Fault, FaultPlan, RetryAfter, ScriptedFault};

/// What happens to one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Request number, counting from 1 since the plan was installed.
    pub number: u64,
    /// A fault that prevents storing, if any.
    pub failure: Option<Failure>,
    /// Wait this long before responding.
    pub delay: Option<Duration>,
    /// Read the body no faster than this many bytes per second.
    pub slow_read: Option<u64>,
}

/// A fault that prevents the body from being stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    Reset,
    Status {
        code: u16,
        retry_after: Option<RetryAfter>,
    },
    Stall {
        after_bytes: u64,
        hold_for: Duration,
    },
    Redirect {
        code: u16,
        location: String,
    },
}

/// Numbers requests and decides their faults.
#[derive(Debug)]
pub struct Injector {
    plan: FaultPlan,
    rng: StdRng,
    arrivals: u64,
    per_path: HashMap<String, u64>,
}

impl Injector {
    /// A fresh injector; numbering and random draws start over.
    pub fn new(plan: FaultPlan) -> Self {
        let rng = StdRng::seed_from_u64(plan.seed);
        Injector {
            plan,
            rng,
            arrivals: 0,
            per_path: HashMap::new(),
        }
    }

    /// The plan in force.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Decides the next request's fate. Every request takes the same number of
    /// random draws whatever the outcome, so request n's faults depend only on
    /// the seed and n.
    pub fn decide(&mut self, path: &str) -> Decision {
        self.arrivals += 1;
        let number = self.arrivals;
        let to_path = {
            let count = self.per_path.entry(path.to_owned()).or_insert(0);
            *count += 1;
            *count
        };
        let draws: [f64; 5] = [
            self.rng.random(),
            self.rng.random(),
            self.rng.random(),
            self.rng.random(),
            self.rng.random(),
        ];
        if let Some(fault) = self.scripted(number, path, to_path) {
            return scripted_decision(number, fault);
        }
        let plan = &self.plan;
        let failure = if draws[0] < plan.reset_probability {
            Some(Failure::Reset)
        } else if let Some(s) = plan.status.as_ref().filter(|s| draws[1] < s.probability) {
            Some(Failure::Status {
                code: s.code,
                retry_after: s.retry_after.clone(),
            })
        } else {
            plan.stall
                .as_ref()
                .filter(|s| draws[2] < s.probability)
                .map(|s| Failure::Stall {
                    after_bytes: s.after_bytes,
                    hold_for: Duration::from_millis(s.hold_for_ms),
                })
        };
        Decision {
            number,
            failure,
            delay: plan
                .delay
                .as_ref()
                .filter(|d| draws[3] < d.probability)
                .map(|d| Duration::from_millis(d.ms)),
            slow_read: plan
                .slow_read
                .as_ref()
                .filter(|s| draws[4] < s.probability)
                .map(|s| s.bytes_per_second),
        }
    }

    fn scripted(&self, number: u64, path: &str, to_path: u64) -> Option<Fault> {
        self.plan.scripted.iter().find_map(|s| match s {
            ScriptedFault::Request { n, fault } if *n == number => Some(fault.clone()),
            ScriptedFault::FirstToPath {
                path: p,
                count,
                fault,
            } if p == path && to_path <= *count => Some(fault.clone()),
            _ => None,
        })
    }
}

fn scripted_decision(number: u64, fault: Fault) -> Decision {
    let mut decision = Decision {
        number,
        ..Decision::default()
    };
    match fault {
        Fault::None => {}
        Fault::Reset => decision.failure = Some(Failure::Reset),
        Fault::Status { code, retry_after } => {
            decision.failure = Some(Failure::Status { code, retry_after })
        }
        Fault::Stall {
            after_bytes,
            hold_for_ms,
        } => {
            decision.failure = Some(Failure::Stall {
                after_bytes,
                hold_for: Duration::from_millis(hold_for_ms),
            })
        }
        Fault::Delay { ms } => decision.delay = Some(Duration::from_millis(ms)),
        Fault::SlowRead { bytes_per_second } => decision.slow_read = Some(bytes_per_second),
        Fault::Redirect { code, location } => {
            decision.failure = Some(Failure::Redirect { code, location })
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::StatusFault;

    fn half_and_half(seed: u64) -> FaultPlan {
        FaultPlan {
            seed,
            reset_probability: 0.3,
            status: Some(StatusFault {
                probability: 0.5,
                code: 503,
                retry_after: None,
            }),
            ..FaultPlan::default()
        }
    }

    fn run(plan: FaultPlan, n: usize) -> Vec<Decision> {
        let mut injector = Injector::new(plan);
        (0..n).map(|_| injector.decide("/x")).collect()
    }

    #[test]
    fn same_seed_same_faults_other_seed_other_faults() {
        let a = run(half_and_half(1), 200);
        assert_eq!(a, run(half_and_half(1), 200));
        assert_ne!(a, run(half_and_half(2), 200));
        let resets = a
            .iter()
            .filter(|d| d.failure == Some(Failure::Reset))
            .count();
        // 30% of 200, with a wide margin: this checks the probability is used at all.
        assert!((20..=100).contains(&resets), "resets: {resets}");
        assert_eq!(a.last().map(|d| d.number), Some(200));
    }

    #[test]
    fn default_plan_injects_nothing() {
        assert!(
            run(FaultPlan::default(), 100)
                .iter()
                .all(|d| d.failure.is_none() && d.delay.is_none() && d.slow_read.is_none())
        );
    }

    #[test]
    fn scripted_faults_override_and_do_not_shift_random_ones() {
        let mut plan = half_and_half(9);
        let plain = run(plan.clone(), 10);
        plan.scripted = vec![
            ScriptedFault::Request {
                n: 3,
                fault: Fault::Delay { ms: 5 },
            },
            ScriptedFault::FirstToPath {
                path: "/x".into(),
                count: 1,
                fault: Fault::None,
            },
        ];
        let scripted = run(plan, 10);
        assert_eq!(scripted[0].failure, None);
        assert_eq!(scripted[2].delay, Some(Duration::from_millis(5)));
        assert_eq!(scripted[2].failure, None);
        for i in [1, 3, 4, 5, 6, 7, 8, 9] {
            assert_eq!(scripted[i], plain[i], "request {}", i + 1);
        }
    }

    #[test]
    fn first_to_path_counts_per_path() {
        let plan = FaultPlan {
            scripted: vec![ScriptedFault::FirstToPath {
                path: "/a".into(),
                count: 2,
                fault: Fault::Reset,
            }],
            ..FaultPlan::default()
        };
        let mut injector = Injector::new(plan);
        let got: Vec<bool> = ["/b", "/a", "/b", "/a", "/a"]
            .iter()
            .map(|p| injector.decide(p).failure == Some(Failure::Reset))
            .collect();
        assert_eq!(got, [false, true, false, true, false]);
    }
}
