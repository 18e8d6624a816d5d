//! Any bytes as an enrollment body: a `POST /v1/enroll` request to an RR registry, a
//! reply to a leaf with a request in flight, and stored registry and leaf state.
//! Nothing may panic; a body the RR accepts must carry a valid MAC; a leaf must never
//! adopt a reply it cannot verify.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use sam::{
    ClaimSubject, EnrollRequest, JoinToken, Leaf, LeafConfig, LeafId, Policy, PolicyName, Registry,
    RrNode, RrSet, WireGuardKey,
};

const NOW: u64 = 1_800_000_005;

fn token() -> JoinToken {
    JoinToken::new(b"example-join-token-0123").expect("token is long enough")
}

fn policies() -> Vec<Policy> {
    let rr = |n: u8| RrNode {
        router_id: Ipv4Addr::new(10, 255, 0, n),
        underlay_endpoint: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, n), 51820),
        tunnel_address: Ipv4Addr::new(10, 255, 0, n),
        wireguard_key: Some(WireGuardKey([0xa0 + n; 32])),
        wireguard_address: Some(Ipv4Addr::new(10, 254, 0, n)),
    };
    vec![Policy {
        name: PolicyName::new("sites").expect("valid name"),
        join_tokens: vec![token()],
        tunnel_prefixes: vec!["10.255.0.0/20".parse().expect("prefix")],
        client_pools: vec!["198.51.100.0/24".parse().expect("prefix")],
        endpoint_prefixes: vec![],
        require_wireguard: true,
        wireguard_prefixes: vec!["10.254.0.0/16".parse().expect("prefix")],
        rr_set: RrSet {
            asn: 65000,
            cluster_id: Ipv4Addr::new(10, 255, 0, 254),
            route_reflectors: vec![rr(1), rr(2)],
        },
        max_leaves: 64,
        claim_ttl_secs: 86400,
        max_clock_skew_secs: 300,
    }]
}

fn leaf_config() -> LeafConfig {
    let subject = ClaimSubject {
        leaf_id: LeafId::new("leaf-a").expect("valid name"),
        policy: PolicyName::new("sites").expect("valid name"),
        tunnel_address: Ipv4Addr::new(10, 255, 1, 10),
        underlay_endpoint: None,
        owned: vec!["198.51.100.10/32".parse().expect("prefix")],
        asn: 65000,
        router_id: Ipv4Addr::new(10, 255, 1, 10),
        wireguard_key: Some(WireGuardKey([0x11; 32])),
        wireguard_address: Some(Ipv4Addr::new(10, 254, 1, 10)),
    };
    let rr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 4179);
    LeafConfig::new(subject, token(), vec![rr])
}

fuzz_target!(|data: &[u8]| {
    let mut registry = Registry::new(policies()).expect("valid policy");
    let reply = registry.handle_http(NOW, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), data);
    assert!(reply.status == 200 || (400..600).contains(&reply.status));
    if let Ok(request) = EnrollRequest::from_json(data) {
        let again = EnrollRequest::from_json(&request.to_json()).expect("own output parses");
        assert_eq!(again, request);
        assert!(request.claim.canonical_bytes().is_ok());
        assert_eq!(
            reply.status == 200,
            registry
                .claim_for_tunnel_address(request.claim.subject.tunnel_address)
                .is_some_and(|c| c.request == request)
        );
        if reply.status == 200 {
            assert!(request.verify(&token()));
        }
    } else {
        assert_ne!(reply.status, 200);
    }

    let mut leaf = Leaf::new(leaf_config(), None).expect("valid leaf config");
    leaf.handle_timeout(NOW, [7; 16]);
    while leaf.poll_output().is_some() {}
    let _ = leaf.handle_response(NOW, data);
    assert!(
        leaf.rr_set().is_none(),
        "adopted a reply it cannot have verified"
    );

    let _ = Leaf::new(leaf_config(), Some(data));
    let _ = Registry::from_bytes(policies(), data);
});
