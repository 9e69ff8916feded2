//! When to try a GitHub call again, and how long to wait first.
//!
//! Pure: the caller passes what it saw, the current time and a jitter draw, so every rule
//! is unit-tested without a clock or a server.

use std::time::Duration;

/// How hard to retry. Tests shrink the delays; production keeps the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// First backoff after a 5xx or connection error; doubles each attempt.
    pub base_delay: Duration,
    /// Cap of the exponential backoff.
    pub max_delay: Duration,
    /// Longest rate-limit wait we block a caller for; beyond it the call fails with
    /// `RateLimited` so the caller can give up instead of hanging a webhook handler.
    pub max_rate_limit_wait: Duration,
    /// Wait after a secondary rate limit that gave no `Retry-After` (GitHub says ≥ 1 min).
    pub secondary_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(90),
            secondary_limit_wait: Duration::from_secs(60),
        }
    }
}

/// What one attempt produced, as far as retrying cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// No HTTP answer (connect, TLS, timeout, reset).
    NoAnswer,
    /// An HTTP answer.
    Answer(AnswerMeta),
}

/// The parts of a response that decide a retry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AnswerMeta {
    pub status: u16,
    /// `Retry-After`, already parsed.
    pub retry_after: Option<Duration>,
    /// `x-ratelimit-remaining`.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset` (epoch seconds).
    pub reset: Option<i64>,
    /// The body says "rate limit" (how GitHub marks a secondary limit on a 403).
    pub mentions_rate_limit: bool,
}

impl AnswerMeta {
    /// A 429, or a 403 that GitHub marked as a rate limit rather than a missing permission.
    pub(crate) fn is_rate_limited(&self) -> bool {
        self.status == 429
            || (self.status == 403
                && (self.retry_after.is_some()
                    || self.remaining == Some(0)
                    || self.mentions_rate_limit))
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Hand the answer (or the failure) to the caller.
    Done,
    /// Sleep this long, then try again.
    RetryAfter(Duration),
    /// Rate limited and not allowed to wait (too long, or no attempts left).
    RateLimited(Option<Duration>),
}

impl RetryPolicy {
    /// Decide after attempt number `attempt` (1-based). `now` is epoch seconds,
    /// `jitter` a draw from `[0, 1)`.
    pub(crate) fn decide(&self, attempt: u32, seen: &Attempt, now: i64, jitter: f64) -> Decision {
        let attempts_left = attempt < self.max_attempts.max(1);
        match seen {
            Attempt::NoAnswer => self.backoff_or_done(attempt, attempts_left, jitter),
            Attempt::Answer(meta) if meta.status >= 500 => {
                self.backoff_or_done(attempt, attempts_left, jitter)
            }
            Attempt::Answer(meta) if meta.is_rate_limited() => {
                let wait = self.rate_limit_wait(attempt, meta, now);
                if !attempts_left || wait > self.max_rate_limit_wait {
                    Decision::RateLimited(Some(wait))
                } else {
                    Decision::RetryAfter(wait)
                }
            }
            Attempt::Answer(_) => Decision::Done,
        }
    }

    fn backoff_or_done(&self, attempt: u32, attempts_left: bool, jitter: f64) -> Decision {
        if attempts_left {
            Decision::RetryAfter(self.backoff(attempt, jitter))
        } else {
            Decision::Done
        }
    }

    /// Capped exponential backoff with "equal jitter": half fixed, half random, so
    /// concurrent callers spread out but never retry immediately.
    pub(crate) fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let jitter = jitter.clamp(0.0, 1.0);
        full / 2 + full.mul_f64(jitter / 2.0)
    }

    fn rate_limit_wait(&self, attempt: u32, meta: &AnswerMeta, now: i64) -> Duration {
        if let Some(after) = meta.retry_after {
            return after;
        }
        if meta.remaining == Some(0)
            && let Some(reset) = meta.reset
        {
            // One extra second: the reset instant itself may still be limited.
            let secs = reset.saturating_sub(now).max(0).saturating_add(1);
            return Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        }
        let exponent = attempt.saturating_sub(1).min(10);
        self.secondary_limit_wait.saturating_mul(1u32 << exponent)
    }
}

/// Parse `Retry-After`: delta seconds, or an HTTP date relative to `now` (epoch seconds).
pub(crate) fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = at.timestamp().saturating_sub(now).max(0);
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> AnswerMeta {
        AnswerMeta {
            status,
            ..Default::default()
        }
    }

    #[test]
    fn server_errors_back_off_until_attempts_run_out() {
        let p = RetryPolicy::default();
        let seen = Attempt::Answer(answer(502));
        assert_eq!(
            p.decide(1, &seen, 0, 0.0),
            Decision::RetryAfter(Duration::from_millis(250))
        );
        assert_eq!(
            p.decide(2, &seen, 0, 0.0),
            Decision::RetryAfter(Duration::from_millis(500))
        );
        assert_eq!(p.decide(4, &seen, 0, 0.0), Decision::Done);
        assert_eq!(
            p.decide(1, &Attempt::NoAnswer, 0, 0.999),
            Decision::RetryAfter(Duration::from_micros(499_750))
        );
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(8));
        assert!(p.backoff(30, 0.0) >= Duration::from_secs(4));
    }

    #[test]
    fn client_errors_are_not_retried() {
        let p = RetryPolicy::default();
        for status in [400, 401, 403, 404, 409, 410, 422] {
            assert_eq!(
                p.decide(1, &Attempt::Answer(answer(status)), 0, 0.5),
                Decision::Done,
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default();
        let mut meta = answer(429);
        meta.retry_after = Some(Duration::from_secs(3));
        assert_eq!(
            p.decide(1, &Attempt::Answer(meta.clone()), 0, 0.0),
            Decision::RetryAfter(Duration::from_secs(3))
        );
        meta.retry_after = Some(Duration::from_secs(3600));
        assert_eq!(
            p.decide(1, &Attempt::Answer(meta), 0, 0.0),
            Decision::RateLimited(Some(Duration::from_secs(3600)))
        );
    }

    #[test]
    fn primary_limit_waits_until_reset() {
        let p = RetryPolicy::default();
        let meta = AnswerMeta {
            status: 403,
            remaining: Some(0),
            reset: Some(1_000_030),
            ..Default::default()
        };
        assert_eq!(
            p.decide(1, &Attempt::Answer(meta), 1_000_000, 0.0),
            Decision::RetryAfter(Duration::from_secs(31))
        );
    }

    #[test]
    fn forbidden_without_rate_limit_signs_is_final() {
        let p = RetryPolicy::default();
        let meta = AnswerMeta {
            status: 403,
            remaining: Some(4000),
            ..Default::default()
        };
        assert_eq!(p.decide(1, &Attempt::Answer(meta), 0, 0.0), Decision::Done);
    }

    #[test]
    fn secondary_limit_without_retry_after_waits_a_minute() {
        let p = RetryPolicy::default();
        let meta = AnswerMeta {
            status: 403,
            mentions_rate_limit: true,
            ..Default::default()
        };
        assert_eq!(
            p.decide(1, &Attempt::Answer(meta), 0, 0.0),
            Decision::RetryAfter(Duration::from_secs(60))
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .map(|d| d.timestamp())
            .unwrap_or_default();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
