//! Idle-hold backoff for a flapping peer.
//!
//! After a session ends for any reason other than an administrative one, the peer waits
//! in Idle for the current idle-hold time before it connects or accepts again. Each
//! further failure doubles that time up to `cap`; a session that stayed Established for
//! `stable` or longer resets it to `base`.

use std::time::{Duration, Instant};

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// First idle-hold time.
    pub base: Duration,
    /// Largest idle-hold time.
    pub cap: Duration,
    /// An Established period at least this long resets the backoff.
    pub stable: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(120),
            stable: Duration::from_secs(60),
        }
    }
}

/// The idle-hold state of one peer.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    next: Duration,
    established_since: Option<Instant>,
}

impl Backoff {
    /// A fresh backoff: the next failure waits `config.base`.
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            next: config.base,
            established_since: None,
        }
    }

    /// The session reached Established at `now`.
    pub fn established(&mut self, now: Instant) {
        self.established_since = Some(now);
    }

    /// The session failed at `now`: returns how long to stay idle and doubles the next wait.
    pub fn failed(&mut self, now: Instant) -> Duration {
        if let Some(since) = self.established_since.take()
            && now.saturating_duration_since(since) >= self.config.stable
        {
            self.next = self.config.base;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.config.cap);
        wait
    }

    /// The wait the next failure would get.
    pub fn peek(&self) -> Duration {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_cap_and_resets_after_stable_period() {
        let cfg = BackoffConfig {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5),
            stable: Duration::from_secs(30),
        };
        let mut b = Backoff::new(cfg);
        let t0 = Instant::now();
        let waits: Vec<u64> = (0..5).map(|_| b.failed(t0).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
        // A short Established period does not reset.
        b.established(t0);
        assert_eq!(b.failed(t0 + Duration::from_secs(10)).as_secs(), 5);
        // A long one does.
        b.established(t0);
        assert_eq!(b.failed(t0 + Duration::from_secs(31)).as_secs(), 1);
        assert_eq!(b.peek().as_secs(), 2);
    }
}
