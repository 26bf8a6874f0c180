//! Per-project rate limits, counted in events (a batch of 50 costs 50).
//!
//! One lock-free GCRA limiter per project (governor): a check is a single atomic
//! compare-and-swap, so the request path takes no lock.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// What a client is told about its budget (the `RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    /// Burst size: the most events accepted at once.
    pub limit: u32,
    /// Events that could still be sent right now.
    pub remaining: u32,
    /// Seconds until the budget is full again.
    pub reset_secs: u64,
}

/// A refusal: when to retry, and the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    /// Seconds until one more event would be accepted (at least 1).
    pub retry_after_secs: u64,
    /// The budget after the refusal.
    pub info: RateInfo,
}

/// One project's limiter.
pub struct Limiter {
    gcra: Gcra,
    clock: DefaultClock,
    per_sec: u32,
    burst: u32,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("per_sec", &self.per_sec)
            .field("burst", &self.burst)
            .finish()
    }
}

impl Limiter {
    /// A limiter of `per_sec` sustained events and `burst` at once (both at least 1).
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let per_sec = per_sec.max(1);
        let burst = burst.max(1);
        let quota = Quota::per_second(NonZeroU32::MIN.saturating_add(per_sec - 1))
            .allow_burst(NonZeroU32::MIN.saturating_add(burst - 1));
        let clock = DefaultClock::default();
        Limiter {
            gcra: RateLimiter::direct_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
            clock,
            per_sec,
            burst,
        }
    }

    /// Whether this limiter enforces the given rates (so a policy update can keep it).
    pub fn has_rates(&self, per_sec: u32, burst: u32) -> bool {
        self.per_sec == per_sec.max(1) && self.burst == burst.max(1)
    }

    /// Takes one event from the budget.
    pub fn check(&self) -> Result<RateInfo, Exceeded> {
        match self.gcra.check() {
            Ok(snapshot) => Ok(self.info(snapshot.remaining_burst_capacity())),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(Exceeded {
                    retry_after_secs: ceil_secs(wait).max(1),
                    info: self.info(0),
                })
            }
        }
    }

    fn info(&self, remaining: u32) -> RateInfo {
        let missing = u64::from(self.burst.saturating_sub(remaining));
        RateInfo {
            limit: self.burst,
            remaining,
            reset_secs: missing.div_ceil(u64::from(self.per_sec)),
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let limiter = Limiter::new(1, 3);
        for expected_remaining in [2, 1, 0] {
            let info = limiter.check().unwrap();
            assert_eq!(info.limit, 3);
            assert_eq!(info.remaining, expected_remaining);
        }
        let refused = limiter.check().unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.info.remaining, 0);
        assert_eq!(refused.info.reset_secs, 3);
    }

    #[test]
    fn keeps_rates_for_reuse() {
        let limiter = Limiter::new(10, 20);
        assert!(limiter.has_rates(10, 20));
        assert!(!limiter.has_rates(10, 21));
    }
}
