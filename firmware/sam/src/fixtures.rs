//! Test fixtures shared by the unit tests: a policy with two RRs in documentation
//! ranges, and leaf subjects that satisfy it.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

use crate::answer::{RrNode, RrSet};
use crate::claim::{Claim, ClaimSubject, EnrollRequest, Nonce, WireGuardKey};
use crate::names::{LeafId, PolicyName};
use crate::policy::Policy;
use crate::token::JoinToken;

pub(crate) const NOW: u64 = 1_800_000_000;
pub(crate) const TTL: u64 = 3600;
pub(crate) const SKEW: u64 = 300;

pub(crate) fn token() -> JoinToken {
    JoinToken::new(b"test-join-token-0123456789").unwrap()
}

pub(crate) fn other_token() -> JoinToken {
    JoinToken::new(b"some-other-token-9876543210").unwrap()
}

pub(crate) fn net(text: &str) -> Ipv4Net {
    text.parse().unwrap()
}

pub(crate) fn source() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 77))
}

pub(crate) fn rr_set() -> RrSet {
    RrSet {
        asn: 65000,
        cluster_id: Ipv4Addr::new(10, 255, 0, 254),
        route_reflectors: (1..=2)
            .map(|n| RrNode {
                router_id: Ipv4Addr::new(10, 255, 0, n),
                underlay_endpoint: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, n), 51820),
                tunnel_address: Ipv4Addr::new(10, 255, 0, n),
                wireguard_key: Some(WireGuardKey([0xa0 + n; 32])),
                wireguard_address: Some(Ipv4Addr::new(10, 254, 0, n)),
            })
            .collect(),
    }
}

pub(crate) fn policy_named(name: &str) -> Policy {
    Policy {
        name: PolicyName::new(name).unwrap(),
        join_tokens: vec![token()],
        tunnel_prefixes: vec![net("10.255.0.0/20")],
        client_pools: vec![net("198.51.100.0/24")],
        endpoint_prefixes: vec![net("203.0.113.0/24")],
        require_wireguard: false,
        wireguard_prefixes: vec![net("10.254.0.0/16")],
        rr_set: rr_set(),
        max_leaves: 3,
        claim_ttl_secs: TTL,
        max_clock_skew_secs: SKEW,
    }
}

pub(crate) fn policy() -> Policy {
    policy_named("sites")
}

/// Leaf `n` (1..=200): tunnel 10.255.1.n, WireGuard 10.254.1.n, owns 198.51.100.n/32.
pub(crate) fn subject(n: u8) -> ClaimSubject {
    ClaimSubject {
        leaf_id: LeafId::new(&format!("leaf-{n}")).unwrap(),
        policy: PolicyName::new("sites").unwrap(),
        tunnel_address: Ipv4Addr::new(10, 255, 1, n),
        underlay_endpoint: Some(SocketAddrV4::new(
            Ipv4Addr::new(203, 0, 113, 100 + n % 100),
            51820,
        )),
        owned: vec![net(&format!("198.51.100.{n}/32"))],
        asn: 65000,
        router_id: Ipv4Addr::new(10, 255, 1, n),
        wireguard_key: Some(WireGuardKey([n; 32])),
        wireguard_address: Some(Ipv4Addr::new(10, 254, 1, n)),
    }
}

pub(crate) fn nonce(seed: u64) -> Nonce {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[8..].copy_from_slice(&(!seed).to_be_bytes());
    Nonce(bytes)
}

pub(crate) fn request(subject: ClaimSubject, seed: u64, timestamp: u64) -> EnrollRequest {
    Claim::new(subject, nonce(seed), timestamp)
        .sign(&token())
        .unwrap()
}
