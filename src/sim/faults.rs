//! Faults for reliability tests: failing REST calls and misbehaving deliveries.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

/// The error response an injected call fault produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultResponse {
    /// A 5xx (or any) status with GitHub's error body.
    Status(u16),
    /// 429 with `Retry-After: <secs>` (a secondary rate limit).
    RateLimited {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` this many seconds ahead
    /// (the primary rate limit is used up).
    PrimaryRateLimit {
        /// Seconds until `x-ratelimit-reset`.
        reset_in_secs: u64,
    },
}

/// Fail the next `times` calls matching a method and route template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFault {
    /// Method to match (`None`: any).
    pub method: Option<String>,
    /// Route template to match, as in the spec (`None`: any).
    pub route: Option<String>,
    /// How many matching calls fail.
    pub times: usize,
    /// What they get.
    pub response: FaultResponse,
}

impl CallFault {
    /// Fail `times` calls of `method route` with `response`.
    pub fn new(method: &str, route: &str, times: usize, response: FaultResponse) -> Self {
        CallFault {
            method: Some(method.to_ascii_uppercase()),
            route: Some(route.to_string()),
            times,
            response,
        }
    }
}

/// Call faults in force.
#[derive(Default)]
pub(crate) struct CallFaults {
    pub rules: Vec<CallFault>,
    /// Fraction of all calls (0.0–1.0) answered with one of the responses, picked
    /// uniformly (seeded RNG).
    pub fraction: Option<(f64, Vec<FaultResponse>)>,
}

impl CallFaults {
    /// The fault this call gets, if any (consumes one use of a counted rule).
    pub fn pick(&mut self, method: &str, route: &str, rng: &mut StdRng) -> Option<FaultResponse> {
        for rule in &mut self.rules {
            let m = rule.method.as_deref().is_none_or(|m| m == method);
            let r = rule.route.as_deref().is_none_or(|r| r == route);
            if m && r && rule.times > 0 {
                rule.times -= 1;
                return Some(rule.response.clone());
            }
        }
        self.rules.retain(|r| r.times > 0);
        match &self.fraction {
            Some((p, responses)) if !responses.is_empty() && rng.gen_bool(p.clamp(0.0, 1.0)) => {
                responses.get(rng.gen_range(0..responses.len())).cloned()
            }
            _ => None,
        }
    }
}

/// What to do to one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryFault {
    /// Never send it (recorded as dropped).
    Drop,
    /// Send it twice (same `X-GitHub-Delivery`).
    Duplicate,
    /// Wait this long before sending it (holds back everything behind it).
    Delay(Duration),
    /// Send it after the next delivery.
    Reorder,
}

/// Delivery misbehaviour: scripted for the next matching deliveries, and/or random at rates.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFaults {
    /// Probability a delivery is dropped.
    pub drop_rate: f64,
    /// Probability a delivery is sent twice.
    pub duplicate_rate: f64,
    /// Probability a delivery swaps places with the next one.
    pub reorder_rate: f64,
    /// Probability a delivery is delayed by `delay`.
    pub delay_rate: f64,
    /// Delay used with `delay_rate`.
    pub delay: Duration,
    /// Scripted faults: `(event or None for any, fault)`, used once each, in order.
    pub next: VecDeque<(Option<String>, DeliveryFault)>,
}

impl DeliveryFaults {
    /// The fault for a delivery of `event`, if any.
    pub(crate) fn pick(&mut self, event: &str, rng: &mut StdRng) -> Option<DeliveryFault> {
        if let Some(pos) = self
            .next
            .iter()
            .position(|(e, _)| e.as_deref().is_none_or(|e| e == event))
        {
            return self.next.remove(pos).map(|(_, f)| f);
        }
        let mut roll = |p: f64| p > 0.0 && rng.gen_bool(p.clamp(0.0, 1.0));
        if roll(self.drop_rate) {
            Some(DeliveryFault::Drop)
        } else if roll(self.duplicate_rate) {
            Some(DeliveryFault::Duplicate)
        } else if roll(self.reorder_rate) {
            Some(DeliveryFault::Reorder)
        } else if roll(self.delay_rate) {
            Some(DeliveryFault::Delay(self.delay))
        } else {
            None
        }
    }
}
