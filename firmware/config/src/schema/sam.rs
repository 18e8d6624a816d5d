//! SAM part of the schema: the leaf's enrollment settings and claim, or the RR's
//! enrollment service and policies. A leaf config has only `[sam.leaf]`, an RR config
//! only `[sam.rr]`.

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::scalars::{JoinToken, Name, Secret, WgKey};

/// Default TCP port of the RR's enrollment service.
pub const DEFAULT_ENROLLMENT_PORT: u16 = 4179;

/// Default tolerated distance between a claim's timestamp and the RR clock, in seconds.
pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u32 = 300;

fn enrollment_port() -> u16 {
    DEFAULT_ENROLLMENT_PORT
}
fn max_clock_skew_secs() -> u32 {
    DEFAULT_MAX_CLOCK_SKEW_SECS
}

/// Selective address mobility settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sam {
    /// Leaf side: enrollment with the RRs.
    #[serde(default)]
    pub leaf: Option<SamLeaf>,
    /// RR side: the enrollment service.
    #[serde(default)]
    pub rr: Option<SamRr>,
}

/// Leaf enrollment settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamLeaf {
    /// Route reflectors to enroll with (1..=8).
    pub rr: Vec<RrEndpoint>,
    /// Shared secret of the RR policy; keys the claim's HMAC (at least 16 bytes).
    pub join_token: Secret<JoinToken>,
    /// This leaf's id, unique within the policy.
    pub leaf_id: Name,
    /// Name of the RR's enrollment policy to join.
    pub policy: Name,
    /// What this leaf claims.
    pub claim: Claim,
}

/// One RR's enrollment endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrEndpoint {
    /// Underlay address and port of the RR's enrollment service (HTTP).
    pub enrollment: SocketAddr,
}

/// The leaf's claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The leaf's tunnel address: its BGP session source and identity.
    pub tunnel_address: Ipv4Addr,
    /// The client /32s this leaf owns and advertises.
    #[serde(default)]
    pub owned: Vec<Ipv4Net>,
    /// The leaf's public underlay address; leave it out behind NAT (the RR learns the
    /// endpoint from the WireGuard handshake).
    #[serde(default)]
    pub underlay_endpoint: Option<Ipv4Addr>,
}

/// RR enrollment service settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamRr {
    /// Underlay address the enrollment service listens on.
    pub listen_address: Ipv4Addr,
    /// TCP port of the enrollment service (default 4179).
    #[serde(default = "enrollment_port")]
    pub listen_port: u16,
    /// The RR's own tunnel address (leaves open BGP sessions to it).
    pub tunnel_address: Ipv4Addr,
    /// The RR's public underlay endpoint told to leaves; `listen_address` when unset.
    #[serde(default)]
    pub endpoint: Option<Ipv4Addr>,
    /// Enrollment policies (at least one).
    pub policies: Vec<SamPolicy>,
    /// The other route reflectors of the fabric, handed to leaves in the RR set
    /// together with this one (leaves peer with all of them, ECMP).
    #[serde(default)]
    pub other_rrs: Vec<OtherRr>,
}

/// Another route reflector of the fabric, as announced to leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherRr {
    /// Its BGP router id.
    pub router_id: Ipv4Addr,
    /// Its public underlay address.
    pub endpoint: Ipv4Addr,
    /// Its tunnel address (leaves open BGP sessions to it).
    pub tunnel_address: Ipv4Addr,
    /// Its WireGuard public key (base64); required with `ipip+wireguard`.
    #[serde(default)]
    pub wireguard_public_key: Option<WgKey>,
    /// The address of its WireGuard interface (the outer IPIP destination); required
    /// with `ipip+wireguard`.
    #[serde(default)]
    pub wireguard_address: Option<Ipv4Addr>,
}

impl SamRr {
    /// The underlay endpoint leaves send tunnel traffic to.
    pub fn endpoint(&self) -> Ipv4Addr {
        self.endpoint.unwrap_or(self.listen_address)
    }
}

/// An RR enrollment policy: who may join and what they may claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamPolicy {
    /// Policy name leaves refer to.
    pub name: Name,
    /// Prefix every claimed tunnel address must be inside.
    pub tunnel_prefix: Ipv4Net,
    /// The client pool: every claimed /32 must be inside one of these.
    pub client_prefixes: Vec<Ipv4Net>,
    /// Accepted join tokens (HMAC keys); several allow rotation.
    pub join_tokens: Vec<Secret<JoinToken>>,
    /// Lifetime of an accepted claim in seconds (60..=2592000).
    pub claim_ttl_secs: u32,
    /// Maximum number of enrolled leaves (1..=4096).
    pub max_leaves: u16,
    /// Prefixes an announced underlay endpoint must lie in; empty allows any.
    #[serde(default)]
    pub endpoint_prefixes: Vec<Ipv4Net>,
    /// Tolerated distance between a claim's timestamp and the RR clock (default 300 s).
    #[serde(default = "max_clock_skew_secs")]
    pub max_clock_skew_secs: u32,
    /// The prefix every claimed WireGuard address must be inside; absent allows any
    /// address outside the tunnel prefix and the client prefixes.
    #[serde(default)]
    pub wireguard_prefix: Option<Ipv4Net>,
}
