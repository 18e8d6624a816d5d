//! Per-source token bucket limiting enrollment attempts (guessing protection), sans-IO.
//!
//! Each source IP has a bucket of `burst` tokens; one attempt takes one token; a token
//! comes back every `refill_secs`. Time is unix seconds passed by the caller. Memory is
//! bounded: at most `max_sources` buckets are kept; a full bucket carries no information
//! and is dropped first; when every kept bucket is in use, unknown sources wait.

use std::collections::HashMap;
use std::net::IpAddr;

/// Limits enrollment attempts per source address.
#[derive(Debug, Clone)]
pub struct AttemptLimiter {
    burst: u32,
    refill_secs: u64,
    max_sources: usize,
    buckets: HashMap<IpAddr, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    refilled_at: u64,
}

impl Bucket {
    fn refill(&mut self, now: u64, burst: u32, refill_secs: u64) {
        if now <= self.refilled_at {
            return;
        }
        let earned = (now - self.refilled_at) / refill_secs;
        let room = u64::from(burst - self.tokens);
        if earned >= room {
            self.tokens = burst;
            self.refilled_at = now;
        } else {
            // earned < room <= u32::MAX
            self.tokens += u32::try_from(earned).unwrap_or(0);
            self.refilled_at += earned * refill_secs;
        }
    }
}

impl AttemptLimiter {
    /// `burst` attempts at once, then one per `refill_secs`, for at most `max_sources`
    /// tracked sources. Zero arguments are raised to one.
    pub fn new(burst: u32, refill_secs: u64, max_sources: usize) -> Self {
        Self {
            burst: burst.max(1),
            refill_secs: refill_secs.max(1),
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one attempt for `source` at `now`: `Ok` when allowed, otherwise
    /// `Err(seconds until the next attempt can succeed)`.
    pub fn check(&mut self, now: u64, source: IpAddr) -> Result<(), u64> {
        let (burst, refill_secs) = (self.burst, self.refill_secs);
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            self.buckets.retain(|_, bucket| {
                bucket.refill(now, burst, refill_secs);
                bucket.tokens < burst
            });
            if self.buckets.len() >= self.max_sources {
                return Err(refill_secs);
            }
        }
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            refilled_at: now,
        });
        bucket.refill(now, burst, refill_secs);
        if bucket.tokens == 0 {
            let wait = bucket
                .refilled_at
                .saturating_add(refill_secs)
                .saturating_sub(now);
            return Err(wait.max(1));
        }
        bucket.tokens -= 1;
        Ok(())
    }

    /// How many sources are tracked.
    pub fn tracked_sources(&self) -> usize {
        self.buckets.len()
    }
}

impl Default for AttemptLimiter {
    /// Five attempts at once, then one every 12 seconds, for 4096 sources.
    fn default() -> Self {
        Self::new(5, 12, 4096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, last))
    }

    #[test]
    fn burst_then_refill() {
        let mut limiter = AttemptLimiter::new(3, 10, 16);
        for _ in 0..3 {
            assert_eq!(limiter.check(1000, ip(1)), Ok(()));
        }
        assert_eq!(limiter.check(1000, ip(1)), Err(10));
        assert_eq!(limiter.check(1004, ip(1)), Err(6));
        assert_eq!(
            limiter.check(1000, ip(2)),
            Ok(()),
            "other sources are independent"
        );
        assert_eq!(limiter.check(1010, ip(1)), Ok(()));
        assert_eq!(limiter.check(1010, ip(1)), Err(10));
        assert_eq!(limiter.check(1040, ip(1)), Ok(()));
        assert_eq!(limiter.check(1040, ip(1)), Ok(()));
        assert_eq!(limiter.check(1040, ip(1)), Ok(()));
        assert!(limiter.check(1040, ip(1)).is_err(), "refill stops at burst");
    }

    #[test]
    fn memory_is_bounded_and_idle_sources_are_forgotten() {
        let mut limiter = AttemptLimiter::new(1, 10, 2);
        assert_eq!(limiter.check(0, ip(1)), Ok(()));
        assert_eq!(limiter.check(0, ip(2)), Ok(()));
        assert_eq!(
            limiter.check(0, ip(3)),
            Err(10),
            "table full of busy sources"
        );
        assert_eq!(limiter.tracked_sources(), 2);
        assert_eq!(
            limiter.check(10, ip(3)),
            Ok(()),
            "refilled buckets are dropped"
        );
        assert_eq!(limiter.tracked_sources(), 1);
    }
}
