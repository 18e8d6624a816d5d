//! The SAM documents: `/v1/enrollment` ([`Enrollment`]) and `/v1/tunnels`
//! ([`TunnelList`]), published by the core inside the [`crate::Snapshot`] as
//! [`SamSnapshot`] (absent on a router without a `[sam]` section, where both endpoints
//! answer 404).
//!
//! Field contract for scripts: on a leaf, `leaf.state` is the only key named `state` in
//! `/v1/enrollment` (`Unenrolled`, `Enrolling`, `Ready` or `Stale`); RR session states
//! are under `session`. Times are unix seconds of the router's clock (`*_at`) or
//! seconds relative to the snapshot (`*_in_secs`, `*_for_secs`, `*_age_secs`).

use serde::{Deserialize, Serialize};

use crate::RejectCount;

/// SAM's part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamSnapshot {
    /// Which datapath carries the tunnels: `kernel` or `userspace`.
    pub datapath: String,
    /// Enrollment, as `/v1/enrollment` shows it.
    pub enrollment: Enrollment,
    /// Tunnels, as `/v1/tunnels` shows them.
    pub tunnels: Vec<TunnelView>,
    /// Why SAM's state file (registry or enrollment state) could not be written, until a
    /// write succeeds; routing runs from memory meanwhile. `/v1/status` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_error: Option<String>,
}

/// Answer of `/v1/enrollment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// `leaf` or `rr`.
    pub role: String,
    /// The leaf's enrollment (leaves only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<LeafEnrollment>,
    /// The RR's registry (RRs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rr: Option<RrEnrollment>,
}

/// A leaf's enrollment state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafEnrollment {
    /// `Unenrolled`, `Enrolling`, `Ready` or `Stale` (RR set kept, fail-static).
    pub state: String,
    /// The leaf id.
    pub leaf_id: String,
    /// The enrollment policy.
    pub policy: String,
    /// The claimed tunnel address.
    pub tunnel_address: String,
    /// The claimed /32s.
    pub owned: Vec<String>,
    /// Digest of the claim the latest answer accepted (`sha256:…`).
    pub claim_digest: Option<String>,
    /// When the RR set stops being Ready (unix seconds, leaf clock).
    pub expires_at: Option<u64>,
    /// Seconds until then (0 once passed).
    pub expires_in_secs: Option<u64>,
    /// Seconds the RR set has been Stale (0 unless Stale).
    pub stale_for_secs: u64,
    /// The RR set in use.
    pub rr_set: Vec<RrView>,
    /// Consecutive failures per enrollment endpoint.
    pub endpoints: Vec<EndpointView>,
    /// The last enrollment error, cleared by a success.
    pub last_error: Option<String>,
}

/// One RR of the leaf's RR set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RrView {
    /// Its router id.
    pub router_id: String,
    /// Its tunnel address (the BGP session address).
    pub tunnel_address: String,
    /// Its underlay endpoint (address and WireGuard port).
    pub underlay_endpoint: String,
    /// `Established` or `down`.
    pub session: String,
}

/// One enrollment endpoint of a leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// `addr:port`.
    pub enrollment: String,
    /// Consecutive failures.
    pub failures: u32,
}

/// An RR's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RrEnrollment {
    /// Accepted claims, by leaf id.
    pub claims: Vec<ClaimView>,
    /// Refused enrollment requests by reason (`replayed-nonce`, `bad-mac`, `revoked-leaf`, …).
    pub refusals: Vec<RejectCount>,
    /// Revoked leaves (refused until reinstated), by policy and leaf id.
    #[serde(default)]
    pub revoked: Vec<crate::revocation::LeafRef>,
    /// Revocations by the operator since routerd started.
    #[serde(default)]
    pub revocations: u64,
}

/// One accepted claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    /// Policy.
    pub policy: String,
    /// Leaf id.
    pub leaf_id: String,
    /// The leaf's tunnel address (its BGP session).
    pub tunnel_address: String,
    /// The /32s it owns.
    pub owned: Vec<String>,
    /// The endpoint the claim announced (`null` behind NAT).
    pub underlay_endpoint: Option<String>,
    /// The endpoint the tunnel uses now (learned from the WireGuard handshake).
    pub endpoint_learned: Option<String>,
    /// Accepted at (unix seconds, RR clock).
    pub accepted_at: u64,
    /// Expires at (unix seconds, RR clock) unless renewed.
    pub expires_at: u64,
    /// Seconds until then.
    pub expires_in_secs: u64,
    /// Digest of the accepted request (`sha256:…`).
    pub digest: String,
}

/// Answer of `/v1/tunnels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelList {
    /// `kernel` or `userspace`.
    pub datapath: String,
    /// One per remote peer.
    pub tunnels: Vec<TunnelView>,
}

/// One tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelView {
    /// Device name.
    pub device: String,
    /// The peer: leaf id (on an RR) or RR router id (on a leaf).
    pub peer: String,
    /// The peer's tunnel address.
    pub peer_tunnel_address: String,
    /// The peer's WireGuard address (the outer IPIP destination), with WireGuard.
    #[serde(default)]
    pub peer_wireguard_address: Option<String>,
    /// `kernel` or `userspace`.
    pub datapath: String,
    /// The current endpoint (configured or learned).
    pub endpoint: Option<String>,
    /// Seconds since the last WireGuard handshake.
    pub handshake_age_secs: Option<u64>,
    /// Transport bytes received.
    pub rx_bytes: u64,
    /// Transport bytes sent.
    pub tx_bytes: u64,
    /// Why the tunnel is not built, if it is not.
    pub error: Option<String>,
}
