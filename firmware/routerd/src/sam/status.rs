//! SAM's part of the status snapshot (`/v1/enrollment`, `/v1/tunnels`).

use api::RejectCount;
use api::sam::{
    ClaimView, EndpointView, Enrollment, LeafEnrollment, RrEnrollment, RrView, SamSnapshot,
    TunnelView,
};

use super::leaf::LeafRuntime;
use super::rr::RrRuntime;
use super::store;
use crate::transport::{TransportHandle, TunnelStatus};

/// What the status is built from.
pub(crate) struct SamView<'a> {
    pub(super) leaf: Option<&'a LeafRuntime>,
    pub(super) rr: Option<&'a RrRuntime>,
    pub(super) transport: &'a TransportHandle,
}

/// Builds SAM's part of the snapshot; `None` without SAM.
pub(crate) fn sam_status(view: Option<SamView<'_>>) -> Option<SamSnapshot> {
    let view = view?;
    let now = store::unix_now();
    let tunnels: Vec<TunnelView> = view
        .transport
        .status()
        .into_iter()
        .map(tunnel_view)
        .collect();
    let enrollment = match (view.leaf, view.rr) {
        (Some(leaf), _) => Enrollment {
            role: "leaf".into(),
            leaf: Some(leaf_view(leaf, now)),
            rr: None,
        },
        (None, Some(rr)) => Enrollment {
            role: "rr".into(),
            leaf: None,
            rr: Some(rr_view(rr, now, &tunnels)),
        },
        (None, None) => return None,
    };
    let state_error = match (view.leaf, view.rr) {
        (Some(leaf), _) => leaf.state_error(),
        (None, Some(rr)) => rr.state_error(),
        (None, None) => None,
    };
    Some(SamSnapshot {
        datapath: view.transport.datapath().to_string(),
        enrollment,
        tunnels,
        state_error: state_error.map(str::to_string),
    })
}

fn tunnel_view(t: TunnelStatus) -> TunnelView {
    TunnelView {
        device: t.device,
        peer: t.label,
        peer_tunnel_address: t.peer_tunnel.to_string(),
        peer_wireguard_address: t.peer_wireguard.map(|a| a.to_string()),
        datapath: t.datapath.to_string(),
        endpoint: t.endpoint.map(|e| e.to_string()),
        handshake_age_secs: t.handshake_age_secs,
        rx_bytes: t.rx_bytes,
        tx_bytes: t.tx_bytes,
        error: t.error,
    }
}

fn leaf_view(runtime: &LeafRuntime, now: u64) -> LeafEnrollment {
    let leaf = runtime.leaf();
    let subject = runtime.subject();
    let expires_at = leaf.expires_at();
    LeafEnrollment {
        state: format!("{:?}", leaf.state(now)),
        leaf_id: subject.leaf_id.to_string(),
        policy: subject.policy.to_string(),
        tunnel_address: subject.tunnel_address.to_string(),
        owned: subject.owned.iter().map(|p| p.to_string()).collect(),
        claim_digest: leaf.claim_digest().map(|d| d.to_string()),
        expires_at,
        expires_in_secs: expires_at.map(|e| e.saturating_sub(now)),
        stale_for_secs: expires_at.map(|e| now.saturating_sub(e)).unwrap_or(0),
        rr_set: leaf
            .rr_set()
            .map(|set| {
                set.route_reflectors
                    .iter()
                    .map(|r| RrView {
                        router_id: r.router_id.to_string(),
                        tunnel_address: r.tunnel_address.to_string(),
                        underlay_endpoint: r.underlay_endpoint.to_string(),
                        session: if runtime.is_up(r.tunnel_address) {
                            api::ESTABLISHED.to_string()
                        } else {
                            "down".to_string()
                        },
                    })
                    .collect()
            })
            .unwrap_or_default(),
        endpoints: leaf
            .failures()
            .into_iter()
            .map(|(to, failures)| EndpointView {
                enrollment: to.to_string(),
                failures,
            })
            .collect(),
        last_error: runtime.last_error().map(str::to_string),
    }
}

fn rr_view(runtime: &RrRuntime, now: u64, tunnels: &[TunnelView]) -> RrEnrollment {
    let registry = runtime.registry();
    let mut claims: Vec<ClaimView> = registry
        .accepted_claims()
        .map(|(policy, claim)| {
            let subject = claim.subject();
            let tunnel_address = subject.tunnel_address.to_string();
            ClaimView {
                policy: policy.to_string(),
                leaf_id: subject.leaf_id.to_string(),
                owned: subject.owned.iter().map(|p| p.to_string()).collect(),
                underlay_endpoint: subject.underlay_endpoint.map(|e| e.to_string()),
                endpoint_learned: tunnels
                    .iter()
                    .find(|t| t.peer_tunnel_address == tunnel_address)
                    .and_then(|t| t.endpoint.clone()),
                tunnel_address,
                accepted_at: claim.accepted_at,
                expires_at: claim.expires_at,
                expires_in_secs: claim.expires_at.saturating_sub(now),
                digest: claim.digest.to_string(),
            }
        })
        .collect();
    claims.sort_by(|a, b| a.leaf_id.cmp(&b.leaf_id));
    RrEnrollment {
        claims,
        refusals: registry
            .counters()
            .by_reason()
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(reason, count)| RejectCount {
                reason: reason.to_string(),
                count,
            })
            .collect(),
        revoked: runtime.revoked().to_vec(),
        revocations: runtime.revocations(),
    }
}
