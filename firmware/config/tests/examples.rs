//! The shipped example configs stay valid, and each has the shape its mode demands.

use routerd_config::{Mode, TransportMode, load_toml};

const RR: &str = include_str!("../../../examples/rr.toml");
const LEAF: &str = include_str!("../../../examples/leaf.toml");

#[test]
fn rr_example_validates_with_dynamic_range_and_no_static_leaves() {
    let config = load_toml(RR, "examples/rr.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.mode(), Mode::Rr);
    assert!(config.sam.leaf.is_none(), "an RR holds no static claims");
    assert!(config.bgp.peers.is_empty(), "an RR holds no per-leaf peers");
    assert_eq!(config.bgp.dynamic.len(), 1);
    let rr = config.sam.rr.as_ref().unwrap();
    assert!(
        config.bgp.dynamic[0]
            .prefix
            .contains(&ipnet::IpNet::V4(rr.policies[0].tunnel_prefix))
    );
}

#[test]
fn leaf_example_validates_as_natted_leaf_with_wireguard() {
    let config = load_toml(LEAF, "examples/leaf.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.mode(), Mode::Leaf);
    let leaf = config.sam.leaf.as_ref().unwrap();
    assert!(
        leaf.claim.underlay_endpoint.is_none(),
        "the example leaf is behind NAT"
    );
    assert_eq!(config.transport.mode, TransportMode::IpipWireguard);
    assert_eq!(
        config
            .transport
            .wireguard
            .as_ref()
            .unwrap()
            .persistent_keepalive,
        Some(25)
    );
}

#[test]
fn examples_share_one_fabric() {
    let rr = load_toml(RR, "rr.toml").unwrap();
    let leaf = load_toml(LEAF, "leaf.toml").unwrap();
    let rr_sam = rr.sam.rr.as_ref().unwrap();
    let leaf_sam = leaf.sam.leaf.as_ref().unwrap();
    let policy = rr_sam
        .policies
        .iter()
        .find(|p| p.name == leaf_sam.policy)
        .expect("leaf's policy exists on the RR");
    assert!(
        policy
            .tunnel_prefix
            .contains(&leaf_sam.claim.tunnel_address)
    );
    assert!(
        policy
            .join_tokens
            .iter()
            .any(|t| t.expose() == leaf_sam.join_token.expose())
    );
    for owned in &leaf_sam.claim.owned {
        assert!(policy.client_prefixes.iter().any(|p| p.contains(owned)));
    }
    assert_eq!(
        leaf_sam.rr[0].enrollment.ip(),
        std::net::IpAddr::V4(rr_sam.listen_address)
    );
    assert_eq!(leaf.trusted_keys, rr.trusted_keys);
}
