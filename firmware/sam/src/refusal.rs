//! Refusal reasons of the RR, their counters, and a sans-IO log-line limiter.
//!
//! Every way an enrollment can fail has its own [`Refusal`] variant with a stable reason
//! string (used in counters, logs and status) and an HTTP status. Refusals that happen
//! before the MAC is verified (`unknown-policy`, `bad-mac`) share one wire reason,
//! `unauthenticated`, so a caller without the token learns nothing from the reply.

use std::collections::BTreeMap;

/// Why the RR refused an enrollment request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
pub enum Refusal {
    /// The source sent too many attempts; retry later.
    #[error("too many enrollment attempts from this source")]
    RateLimited,
    /// The body is not a canonical enrollment request.
    #[error("request is malformed")]
    Malformed,
    /// No policy of that name.
    #[error("claim names an unknown policy")]
    UnknownPolicy,
    /// The MAC does not verify under any of the policy's tokens.
    #[error("claim MAC does not verify")]
    BadMac,
    /// The leaf id is revoked on this RR.
    #[error("leaf id is revoked")]
    RevokedLeaf,
    /// This exact request (by digest) is revoked.
    #[error("claim is revoked")]
    RevokedClaim,
    /// The claim's timestamp is outside the policy's clock-skew window.
    #[error("claim timestamp is outside the clock-skew window")]
    ClockSkew,
    /// The nonce was seen before.
    #[error("nonce was already used")]
    ReplayedNonce,
    /// The leaf's current claim has a later timestamp (a delayed older request).
    #[error("claim is older than the leaf's current claim")]
    OlderThanCurrent,
    /// The tunnel address is outside the policy's tunnel prefixes.
    #[error("tunnel address is outside the policy's tunnel prefixes")]
    TunnelOutsidePrefix,
    /// The underlay endpoint is outside the policy's endpoint prefixes.
    #[error("underlay endpoint is outside the policy's endpoint prefixes")]
    EndpointOutsidePrefix,
    /// An owned route is not a /32.
    #[error("an owned route is not a /32")]
    OwnedNotHost32,
    /// An owned /32 is outside the policy's client pools.
    #[error("an owned route is outside the policy's client pools")]
    OwnedOutsidePool,
    /// The claim's ASN differs from the policy's.
    #[error("claim ASN differs from the policy ASN")]
    AsnMismatch,
    /// The policy requires WireGuard and the claim has no WireGuard key.
    #[error("policy requires a WireGuard key")]
    WireGuardKeyMissing,
    /// The WireGuard address is outside the policy's WireGuard prefix, or inside one of
    /// its tunnel prefixes or client pools.
    #[error(
        "WireGuard address is outside the policy's WireGuard prefix or inside a tunnel prefix or client pool"
    )]
    WireGuardAddressOutsidePrefix,
    /// Another policy already holds this leaf id.
    #[error("leaf id is enrolled under another policy")]
    LeafIdInUse,
    /// Another leaf (or an RR) holds the tunnel address.
    #[error("tunnel address is held by another leaf")]
    TunnelAddressInUse,
    /// Another leaf (or an RR) holds the WireGuard key.
    #[error("WireGuard key is held by another leaf")]
    WireGuardKeyInUse,
    /// Another leaf (or an RR) holds the WireGuard address.
    #[error("WireGuard address is held by another leaf")]
    WireGuardAddressInUse,
    /// Another leaf owns one of the routes.
    #[error("an owned route is held by another leaf")]
    OwnedRouteInUse,
    /// Another leaf (or an RR) uses the router id.
    #[error("router id is used by another leaf")]
    RouterIdInUse,
    /// The policy already has its maximum number of leaves.
    #[error("policy has its maximum number of leaves")]
    TooManyLeaves,
}

impl Refusal {
    /// Every variant, in counter order.
    pub const ALL: [Refusal; 23] = [
        Refusal::RateLimited,
        Refusal::Malformed,
        Refusal::UnknownPolicy,
        Refusal::BadMac,
        Refusal::RevokedLeaf,
        Refusal::RevokedClaim,
        Refusal::ClockSkew,
        Refusal::ReplayedNonce,
        Refusal::OlderThanCurrent,
        Refusal::TunnelOutsidePrefix,
        Refusal::EndpointOutsidePrefix,
        Refusal::OwnedNotHost32,
        Refusal::OwnedOutsidePool,
        Refusal::AsnMismatch,
        Refusal::WireGuardKeyMissing,
        Refusal::WireGuardAddressOutsidePrefix,
        Refusal::LeafIdInUse,
        Refusal::TunnelAddressInUse,
        Refusal::WireGuardKeyInUse,
        Refusal::WireGuardAddressInUse,
        Refusal::OwnedRouteInUse,
        Refusal::RouterIdInUse,
        Refusal::TooManyLeaves,
    ];

    /// The stable reason string used in counters, logs and status.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::RateLimited => "rate-limited",
            Refusal::Malformed => "malformed",
            Refusal::UnknownPolicy => "unknown-policy",
            Refusal::BadMac => "bad-mac",
            Refusal::RevokedLeaf => "revoked-leaf",
            Refusal::RevokedClaim => "revoked-claim",
            Refusal::ClockSkew => "clock-skew",
            Refusal::ReplayedNonce => "replayed-nonce",
            Refusal::OlderThanCurrent => "older-than-current",
            Refusal::TunnelOutsidePrefix => "tunnel-outside-prefix",
            Refusal::EndpointOutsidePrefix => "endpoint-outside-prefix",
            Refusal::OwnedNotHost32 => "owned-not-a-32",
            Refusal::OwnedOutsidePool => "owned-outside-pool",
            Refusal::AsnMismatch => "asn-mismatch",
            Refusal::WireGuardKeyMissing => "wireguard-key-missing",
            Refusal::WireGuardAddressOutsidePrefix => "wireguard-address-outside-prefix",
            Refusal::LeafIdInUse => "leaf-id-in-use",
            Refusal::TunnelAddressInUse => "tunnel-address-in-use",
            Refusal::WireGuardKeyInUse => "wireguard-key-in-use",
            Refusal::WireGuardAddressInUse => "wireguard-address-in-use",
            Refusal::OwnedRouteInUse => "owned-route-in-use",
            Refusal::RouterIdInUse => "router-id-in-use",
            Refusal::TooManyLeaves => "too-many-leaves",
        }
    }

    /// The reason string sent to the caller: [`Refusal::reason`], except that the
    /// pre-authentication refusals both read `unauthenticated`.
    pub fn wire_reason(self) -> &'static str {
        match self {
            Refusal::UnknownPolicy | Refusal::BadMac => "unauthenticated",
            other => other.reason(),
        }
    }

    /// The HTTP status of the refusal reply.
    pub fn http_status(self) -> u16 {
        match self {
            Refusal::RateLimited => 429,
            Refusal::Malformed => 400,
            Refusal::UnknownPolicy | Refusal::BadMac => 401,
            Refusal::RevokedLeaf | Refusal::RevokedClaim => 403,
            Refusal::ReplayedNonce
            | Refusal::OlderThanCurrent
            | Refusal::LeafIdInUse
            | Refusal::TunnelAddressInUse
            | Refusal::WireGuardKeyInUse
            | Refusal::WireGuardAddressInUse
            | Refusal::OwnedRouteInUse
            | Refusal::RouterIdInUse => 409,
            Refusal::ClockSkew
            | Refusal::TunnelOutsidePrefix
            | Refusal::EndpointOutsidePrefix
            | Refusal::OwnedNotHost32
            | Refusal::OwnedOutsidePool
            | Refusal::AsnMismatch
            | Refusal::WireGuardKeyMissing
            | Refusal::WireGuardAddressOutsidePrefix => 422,
            Refusal::TooManyLeaves => 503,
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Refusals counted per reason since the registry was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalCounters {
    counts: [u64; Refusal::ALL.len()],
}

impl RefusalCounters {
    /// Counts one refusal.
    pub fn count(&mut self, refusal: Refusal) {
        let slot = &mut self.counts[refusal.index()];
        *slot = slot.saturating_add(1);
    }

    /// How many refusals of this reason were counted.
    pub fn get(&self, refusal: Refusal) -> u64 {
        self.counts[refusal.index()]
    }

    /// Every reason string with its count (zero counts included), for status output.
    pub fn by_reason(&self) -> BTreeMap<&'static str, u64> {
        Refusal::ALL
            .iter()
            .map(|r| (r.reason(), self.get(*r)))
            .collect()
    }
}

/// What to do with one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDecision {
    /// Write the line; `suppressed` lines of the same reason were dropped since the last.
    Log {
        /// Lines of this reason dropped since the previous written one.
        suppressed: u64,
    },
    /// Drop the line.
    Suppress,
}

/// Per-reason log limiter: at most `burst` lines per `window_secs` for each reason.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    burst: u32,
    window_secs: u64,
    slots: BTreeMap<Refusal, LogSlot>,
}

#[derive(Debug, Clone, Copy, Default)]
struct LogSlot {
    window_start: u64,
    written: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter allowing `burst` lines per reason in each `window_secs` window.
    pub fn new(burst: u32, window_secs: u64) -> Self {
        Self {
            burst,
            window_secs: window_secs.max(1),
            slots: BTreeMap::new(),
        }
    }

    /// Decides whether a line for `refusal` at `now` (unix seconds) is written.
    pub fn decide(&mut self, now: u64, refusal: Refusal) -> LogDecision {
        let slot = self.slots.entry(refusal).or_default();
        if now >= slot.window_start.saturating_add(self.window_secs) || now < slot.window_start {
            slot.window_start = now;
            slot.written = 0;
        }
        if slot.written < self.burst {
            slot.written += 1;
            let suppressed = std::mem::take(&mut slot.suppressed);
            LogDecision::Log { suppressed }
        } else {
            slot.suppressed = slot.suppressed.saturating_add(1);
            LogDecision::Suppress
        }
    }
}

impl Default for LogLimiter {
    /// Five lines per reason per minute.
    fn default() -> Self {
        Self::new(5, 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_and_statuses_are_errors() {
        let reasons: std::collections::BTreeSet<_> =
            Refusal::ALL.iter().map(|r| r.reason()).collect();
        assert_eq!(reasons.len(), Refusal::ALL.len());
        for refusal in Refusal::ALL {
            assert!((400..600).contains(&refusal.http_status()), "{refusal:?}");
            assert_eq!(Refusal::ALL[refusal.index()], refusal);
        }
        assert_eq!(
            Refusal::BadMac.wire_reason(),
            Refusal::UnknownPolicy.wire_reason()
        );
    }

    #[test]
    fn counters_count_per_reason() {
        let mut counters = RefusalCounters::default();
        counters.count(Refusal::BadMac);
        counters.count(Refusal::BadMac);
        counters.count(Refusal::ClockSkew);
        assert_eq!(counters.get(Refusal::BadMac), 2);
        assert_eq!(counters.by_reason()["clock-skew"], 1);
        assert_eq!(counters.by_reason()["malformed"], 0);
    }

    #[test]
    fn log_limiter_limits_per_reason_and_reports_suppressed() {
        let mut limiter = LogLimiter::new(2, 60);
        assert_eq!(
            limiter.decide(100, Refusal::BadMac),
            LogDecision::Log { suppressed: 0 }
        );
        assert_eq!(
            limiter.decide(101, Refusal::BadMac),
            LogDecision::Log { suppressed: 0 }
        );
        assert_eq!(limiter.decide(102, Refusal::BadMac), LogDecision::Suppress);
        assert_eq!(limiter.decide(103, Refusal::BadMac), LogDecision::Suppress);
        assert_eq!(
            limiter.decide(103, Refusal::ClockSkew),
            LogDecision::Log { suppressed: 0 }
        );
        assert_eq!(
            limiter.decide(160, Refusal::BadMac),
            LogDecision::Log { suppressed: 2 }
        );
    }
}
