//! Enrollment policies: what the RR lets a leaf claim, and the RR set it hands out.
//!
//! A policy comes from the RR's signed configuration; the registry never persists it.
//! [`Policy::validate`] runs when a registry is built, so every policy a registry holds is
//! internally consistent (non-empty prefixes, pools disjoint from tunnel prefixes, a TTL
//! longer than twice the skew window, a usable RR set).

use ipnet::Ipv4Net;
use thiserror::Error;

use crate::answer::{MAX_ROUTE_REFLECTORS, RrSet};
use crate::claim::ClaimSubject;
use crate::names::PolicyName;
use crate::refusal::Refusal;
use crate::token::JoinToken;

/// The shortest claim TTL a policy may set, in seconds.
pub const MIN_CLAIM_TTL_SECS: u64 = 60;
/// A sensible clock-skew window when the configuration sets none, in seconds.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 300;

/// One enrollment policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name, which claims quote.
    pub name: PolicyName,
    /// Accepted join tokens. The first is current; the others are still accepted during a
    /// rotation. An answer is signed with the token that verified the request.
    pub join_tokens: Vec<JoinToken>,
    /// Prefixes a leaf's tunnel address must lie in.
    pub tunnel_prefixes: Vec<Ipv4Net>,
    /// Client pools: prefixes every owned /32 must lie in.
    pub client_pools: Vec<Ipv4Net>,
    /// Prefixes an announced underlay endpoint must lie in; empty allows any endpoint.
    pub endpoint_prefixes: Vec<Ipv4Net>,
    /// Whether a claim must carry a WireGuard key (and with it a WireGuard address).
    pub require_wireguard: bool,
    /// Prefixes a leaf's WireGuard address must lie in; empty allows any address outside
    /// the tunnel prefixes and client pools.
    pub wireguard_prefixes: Vec<Ipv4Net>,
    /// The RR set, ASN and cluster id handed to accepted leaves. Leaves must use this ASN.
    pub rr_set: RrSet,
    /// The most leaves the policy admits at once.
    pub max_leaves: usize,
    /// Lifetime of an accepted claim, in seconds; leaves renew before it ends.
    pub claim_ttl_secs: u64,
    /// How far a claim's timestamp may be from the RR clock, in seconds.
    pub max_clock_skew_secs: u64,
}

/// Why a policy is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Two policies share a name.
    #[error("policy {0}: the name is used twice; rename one")]
    DuplicateName(PolicyName),
    /// No join token.
    #[error("policy {0}: needs at least one join token")]
    NoToken(PolicyName),
    /// No tunnel prefix or no client pool.
    #[error("policy {0}: needs at least one tunnel prefix and one client pool")]
    NoPrefixes(PolicyName),
    /// A client pool overlaps a tunnel prefix.
    #[error("policy {0}: client pool {1} overlaps tunnel prefix {2}; make them disjoint")]
    PoolOverlapsTunnel(PolicyName, Ipv4Net, Ipv4Net),
    /// The TTL is too short for the skew window.
    #[error(
        "policy {0}: claim TTL must be at least {MIN_CLAIM_TTL_SECS} s and more than twice the clock skew"
    )]
    Ttl(PolicyName),
    /// The RR set is empty or too large.
    #[error("policy {0}: the RR set needs 1 to {MAX_ROUTE_REFLECTORS} route reflectors")]
    RrSet(PolicyName),
    /// WireGuard is required but an RR has no WireGuard key or address.
    #[error(
        "policy {0}: WireGuard is required, so every route reflector needs a WireGuard key and address"
    )]
    RrWithoutWireGuard(PolicyName),
    /// A WireGuard prefix overlaps a tunnel prefix or a client pool.
    #[error("policy {0}: WireGuard prefix {1} overlaps {2}; make them disjoint")]
    WireGuardOverlaps(PolicyName, Ipv4Net, Ipv4Net),
    /// No room for any leaf.
    #[error("policy {0}: max_leaves must be at least 1")]
    NoCapacity(PolicyName),
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Policy {
    /// Checks the policy's internal consistency.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let name = || self.name.clone();
        if self.join_tokens.is_empty() {
            return Err(PolicyError::NoToken(name()));
        }
        if self.tunnel_prefixes.is_empty() || self.client_pools.is_empty() {
            return Err(PolicyError::NoPrefixes(name()));
        }
        for pool in &self.client_pools {
            if let Some(tunnel) = self.tunnel_prefixes.iter().find(|t| overlaps(pool, t)) {
                return Err(PolicyError::PoolOverlapsTunnel(name(), *pool, *tunnel));
            }
        }
        if self.claim_ttl_secs < MIN_CLAIM_TTL_SECS
            || self.claim_ttl_secs <= self.max_clock_skew_secs.saturating_mul(2)
        {
            return Err(PolicyError::Ttl(name()));
        }
        let rrs = &self.rr_set.route_reflectors;
        if rrs.is_empty() || rrs.len() > MAX_ROUTE_REFLECTORS {
            return Err(PolicyError::RrSet(name()));
        }
        if self.require_wireguard
            && rrs
                .iter()
                .any(|rr| rr.wireguard_key.is_none() || rr.wireguard_address.is_none())
        {
            return Err(PolicyError::RrWithoutWireGuard(name()));
        }
        for wg in &self.wireguard_prefixes {
            let mut clash = self.tunnel_prefixes.iter().chain(&self.client_pools);
            if let Some(other) = clash.find(|other| overlaps(wg, other)) {
                return Err(PolicyError::WireGuardOverlaps(name(), *wg, *other));
            }
        }
        if self.max_leaves == 0 {
            return Err(PolicyError::NoCapacity(name()));
        }
        Ok(())
    }

    /// Whether `prefix` lies inside one of the client pools.
    pub fn in_client_pool(&self, prefix: &Ipv4Net) -> bool {
        self.client_pools.iter().any(|pool| pool.contains(prefix))
    }

    /// Checks a claim's fields against the policy (prefixes, /32s, ASN, WireGuard), in
    /// this order; uniqueness and capacity are the registry's checks.
    pub fn check_subject(&self, subject: &ClaimSubject) -> Result<(), Refusal> {
        if !self
            .tunnel_prefixes
            .iter()
            .any(|p| p.contains(&subject.tunnel_address))
        {
            return Err(Refusal::TunnelOutsidePrefix);
        }
        if let Some(endpoint) = subject.underlay_endpoint
            && !self.endpoint_prefixes.is_empty()
            && !self
                .endpoint_prefixes
                .iter()
                .any(|p| p.contains(endpoint.ip()))
        {
            return Err(Refusal::EndpointOutsidePrefix);
        }
        if subject.owned.iter().any(|net| net.prefix_len() != 32) {
            return Err(Refusal::OwnedNotHost32);
        }
        if !subject.owned.iter().all(|net| self.in_client_pool(net)) {
            return Err(Refusal::OwnedOutsidePool);
        }
        if subject.asn != self.rr_set.asn {
            return Err(Refusal::AsnMismatch);
        }
        if self.require_wireguard && subject.wireguard_key.is_none() {
            return Err(Refusal::WireGuardKeyMissing);
        }
        if let Some(address) = subject.wireguard_address
            && !self.wireguard_address_allowed(address)
        {
            return Err(Refusal::WireGuardAddressOutsidePrefix);
        }
        Ok(())
    }

    /// Whether a leaf may use `address` as its WireGuard address: inside a WireGuard
    /// prefix when the policy lists any, and never inside a tunnel prefix or client pool
    /// (the outer IPIP destination must not route into a tunnel).
    pub fn wireguard_address_allowed(&self, address: std::net::Ipv4Addr) -> bool {
        let inside = |nets: &[Ipv4Net]| nets.iter().any(|n| n.contains(&address));
        (self.wireguard_prefixes.is_empty() || inside(&self.wireguard_prefixes))
            && !inside(&self.tunnel_prefixes)
            && !inside(&self.client_pools)
    }
}
