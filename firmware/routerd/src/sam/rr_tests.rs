//! The RR's operator revocation without sockets: a real registry in a scratch state
//! directory, a detached transport handle (the desired tunnel sets arrive on a channel).

use std::net::{Ipv4Addr, SocketAddrV4};

use api::revocation::LeafRef;
use sam::{Claim, ClaimSubject, JoinToken, LeafId, Nonce, PolicyName, RrNode, RrSet};

use super::*;

const NOW_SKEW: u64 = 300;

fn net(text: &str) -> Ipv4Net {
    text.parse().unwrap()
}

fn token() -> JoinToken {
    JoinToken::new(b"rr-test-join-token-0123456789").unwrap()
}

fn policy() -> sam::Policy {
    sam::Policy {
        name: PolicyName::new("sites").unwrap(),
        join_tokens: vec![token()],
        tunnel_prefixes: vec![net("10.99.0.0/24")],
        client_pools: vec![net("198.51.100.0/24")],
        endpoint_prefixes: Vec::new(),
        require_wireguard: false,
        wireguard_prefixes: Vec::new(),
        rr_set: RrSet {
            asn: 65000,
            cluster_id: Ipv4Addr::new(10, 99, 0, 1),
            route_reflectors: vec![RrNode {
                router_id: Ipv4Addr::new(10, 99, 0, 1),
                underlay_endpoint: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 10), 51820),
                tunnel_address: Ipv4Addr::new(10, 99, 0, 1),
                wireguard_key: None,
                wireguard_address: None,
            }],
        },
        max_leaves: 8,
        claim_ttl_secs: 3600,
        max_clock_skew_secs: NOW_SKEW,
    }
}

/// The enrollment request of leaf `n` (tunnel 10.99.0.n, owns 198.51.100.n/32).
fn request_body(n: u8, seed: u8) -> Vec<u8> {
    let subject = ClaimSubject {
        leaf_id: LeafId::new(&format!("leaf-{n}")).unwrap(),
        policy: PolicyName::new("sites").unwrap(),
        tunnel_address: Ipv4Addr::new(10, 99, 0, n),
        underlay_endpoint: Some(SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, n), 51820)),
        owned: vec![net(&format!("198.51.100.{n}/32"))],
        asn: 65000,
        router_id: Ipv4Addr::new(10, 99, 0, n),
        wireguard_key: None,
        wireguard_address: None,
    };
    let request = Claim::new(subject, Nonce([seed; 16]), store::unix_now())
        .sign(&token())
        .unwrap();
    serde_json::to_vec(&request).unwrap()
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("routerd-rr-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Scratch(dir)
}

fn start(dir: &Scratch) -> RrRuntime {
    RrRuntime::start(vec![policy()], &dir.0, Vec::new(), false).unwrap()
}

/// Sends one enrollment call through [`RrRuntime::on_call`]; returns the HTTP status.
fn enroll(
    rr: &mut RrRuntime,
    transport: &TransportHandle,
    inputs: &mut Vec<Input<'static>>,
    body: Vec<u8>,
) -> (u16, String) {
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    let call = EnrollCall {
        source: "203.0.113.1".parse().unwrap(),
        body,
        reply,
    };
    rr.on_call(call, transport, inputs);
    let answer = answer.try_recv().unwrap();
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).to_string(),
    )
}

fn leaf(id: &str) -> LeafRef {
    LeafRef {
        policy: "sites".into(),
        leaf_id: id.into(),
    }
}

fn last_tunnels(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<TunnelPeer>>) -> Vec<String> {
    let mut last = None;
    while let Ok(set) = rx.try_recv() {
        last = Some(set);
    }
    last.unwrap_or_default()
        .iter()
        .map(|t| t.label.clone())
        .collect()
}

#[test]
fn revoke_drops_tunnel_and_session_and_refuses_until_reinstated() {
    let dir = scratch("revoke");
    let (transport, mut tunnels) = TransportHandle::detached();
    let mut inputs = Vec::new();
    let mut rr = start(&dir);
    let replay = request_body(12, 2);
    assert_eq!(
        enroll(&mut rr, &transport, &mut inputs, request_body(11, 1)).0,
        200
    );
    assert_eq!(
        enroll(&mut rr, &transport, &mut inputs, replay.clone()).0,
        200
    );
    assert_eq!(last_tunnels(&mut tunnels), ["leaf-11", "leaf-12"]);
    inputs.clear();

    let answer = rr
        .revoke(&leaf("leaf-12"), &transport, &mut inputs)
        .unwrap();
    assert_eq!((answer.revoked, answer.claim_dropped), (true, true));
    assert_eq!(last_tunnels(&mut tunnels), ["leaf-11"]);
    let session: IpAddr = "10.99.0.12".parse().unwrap();
    assert!(
        inputs
            .iter()
            .any(|i| matches!(i, Input::RemovePeer(p) if *p == session)),
        "{inputs:?}"
    );
    assert!(
        inputs
            .iter()
            .any(|i| matches!(i, Input::SetImportPolicy { peer, .. } if *peer == session)),
        "{inputs:?}"
    );
    assert!(
        !inputs
            .iter()
            .any(|i| matches!(i, Input::RemovePeer(p) if *p != session))
    );
    assert_eq!(rr.revoked(), [leaf("leaf-12")]);
    assert_eq!(rr.revocations(), 1);

    // Its replayed request and a fresh one are refused `revoked-leaf`.
    let (status, body) = enroll(&mut rr, &transport, &mut inputs, replay);
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"refused":"revoked-leaf"}"#)
    );
    assert_eq!(
        enroll(&mut rr, &transport, &mut inputs, request_body(12, 3)).0,
        403
    );

    // Revoking again: still revoked, no claim to drop, no session to end.
    inputs.clear();
    let again = rr
        .revoke(&leaf("leaf-12"), &transport, &mut inputs)
        .unwrap();
    assert!(!again.claim_dropped);
    assert!(!inputs.iter().any(|i| matches!(i, Input::RemovePeer(_))));

    // Persisted: a restarted RR still refuses it.
    drop(rr);
    let mut rr = start(&dir);
    assert_eq!(rr.revoked(), [leaf("leaf-12")]);
    assert_eq!(
        enroll(&mut rr, &transport, &mut inputs, request_body(12, 4)).0,
        403
    );

    // Reinstated: the next request is accepted and the tunnel returns.
    let back = rr
        .reinstate(&leaf("leaf-12"), &transport, &mut inputs)
        .unwrap();
    assert_eq!((back.reinstated, back.was_revoked), (true, true));
    assert!(rr.revoked().is_empty());
    assert_eq!(
        enroll(&mut rr, &transport, &mut inputs, request_body(12, 5)).0,
        200
    );
    assert_eq!(last_tunnels(&mut tunnels), ["leaf-11", "leaf-12"]);
    let not_revoked = rr
        .reinstate(&leaf("leaf-12"), &transport, &mut inputs)
        .unwrap();
    assert!(!not_revoked.was_revoked);
}

#[test]
fn unknown_policies_and_bad_names_change_nothing() {
    let dir = scratch("names");
    let (transport, _tunnels) = TransportHandle::detached();
    let mut inputs = Vec::new();
    let mut rr = start(&dir);
    assert_eq!(
        enroll(&mut rr, &transport, &mut inputs, request_body(11, 1)).0,
        200
    );
    inputs.clear();
    let unknown = LeafRef {
        policy: "nope".into(),
        leaf_id: "leaf-11".into(),
    };
    assert_eq!(
        rr.revoke(&unknown, &transport, &mut inputs)
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(
        rr.reinstate(&unknown, &transport, &mut inputs)
            .unwrap_err()
            .status,
        404
    );
    let bad = LeafRef {
        policy: "sites".into(),
        leaf_id: "leaf 11\n".into(),
    };
    let refused = rr.revoke(&bad, &transport, &mut inputs).unwrap_err();
    assert_eq!(refused.status, 400);
    assert!(refused.error.contains("leaf_id"), "{}", refused.error);
    assert!(inputs.is_empty());
    assert!(rr.revoked().is_empty());
    assert_eq!(rr.registry().accepted_claims().count(), 1);
}

#[test]
fn revoked_leaves_are_read_from_the_registry_file() {
    assert!(revoked_in(b"not json").is_empty());
    assert!(revoked_in(br#"{"revoked_leaves": 7}"#).is_empty());
    assert_eq!(
        revoked_in(br#"{"revoked_leaves":[{"policy":"sites","leaf_id":"b"}]}"#),
        [leaf("b")]
    );
}

#[test]
fn a_start_after_a_run_without_a_clean_stop_expects_the_enrolled_leaves_back() {
    let dir = scratch("expected-back");
    let (transport, _tunnels) = TransportHandle::detached();
    let mut inputs = Vec::new();
    let mut rr = start(&dir);
    assert!(
        rr.take_expected_back().is_empty(),
        "a first start waits for nobody"
    );
    for n in [11, 12] {
        let body = request_body(n, n);
        assert_eq!(enroll(&mut rr, &transport, &mut inputs, body).0, 200);
    }
    // Killed: no clean stop, the marker stays.
    drop(rr);
    let mut rr = start(&dir);
    let expected: Vec<IpAddr> = ["10.99.0.11", "10.99.0.12"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(rr.take_expected_back(), expected);
    assert!(rr.take_expected_back().is_empty(), "taken once");
    // A clean stop: the next start is not graceful, although the claims are kept.
    rr.stopped();
    let mut rr = start(&dir);
    assert!(rr.take_expected_back().is_empty());
    assert_eq!(rr.registry().accepted_claims().count(), 2);
}
