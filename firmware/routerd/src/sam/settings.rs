//! The SAM and transport part of the configuration, in the `sam` and `transport` crates'
//! terms ([`SamSettings`]), mapped once from a verified `config::Config`.
//!
//! Rules: an RR gets one `sam::Policy` per `[[sam.rr.policies]]` whose RR set is this RR
//! (plus `other_rrs`), requiring WireGuard keys exactly when the transport uses
//! WireGuard; a leaf's claim subject is its `[sam.leaf.claim]` with the node's ASN and
//! router id, its WireGuard public key, and `underlay_endpoint` = the configured address
//! with the WireGuard listen port (port 0 without WireGuard; absent behind NAT). The
//! tunnel MTU is the underlay interface's MTU (1500 when unset) minus the overhead.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use config::{Config, Datapath, Role as InterfaceRole};
use ipnet::Ipv4Net;

/// Underlay MTU assumed when the underlay interface sets none.
const DEFAULT_UNDERLAY_MTU: u32 = 1500;
/// IPIP header.
const IPIP_OVERHEAD: u32 = 20;
/// WireGuard over IPv6 in the worst case (40 + 8 + 32).
const WIREGUARD_OVERHEAD: u32 = 80;

/// WireGuard settings of this node.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WireGuardSettings {
    /// Private key.
    pub(crate) private_key: [u8; 32],
    /// Public key derived from it.
    pub(crate) public_key: [u8; 32],
    /// UDP listen port.
    pub(crate) listen_port: u16,
    /// Persistent keepalive toward the peers (leaves behind NAT).
    pub(crate) keepalive: Option<u16>,
    /// Address of the kernel WireGuard device.
    pub(crate) address: Ipv4Addr,
}

impl std::fmt::Debug for WireGuardSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireGuardSettings")
            .field("listen_port", &self.listen_port)
            .field("keepalive", &self.keepalive)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// How tunnels are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransportSettings {
    /// Kernel, userspace, or kernel with userspace fallback.
    pub(crate) datapath: Datapath,
    /// WireGuard, when `mode = "ipip+wireguard"`.
    pub(crate) wireguard: Option<WireGuardSettings>,
    /// This node's tunnel address (BGP session address).
    pub(crate) tunnel_address: Ipv4Addr,
    /// This node's underlay address, the outer IPIP source without WireGuard.
    pub(crate) underlay_address: Option<Ipv4Addr>,
    /// Tunnel device MTU.
    pub(crate) mtu: u32,
}

/// The leaf's side.
#[derive(Debug, Clone)]
pub(crate) struct LeafSettings {
    /// Enrollment state machine configuration.
    pub(crate) enrollment: sam::LeafConfig,
}

/// The RR's side.
#[derive(Debug, Clone)]
pub(crate) struct RrSettings {
    /// Enrollment policies.
    pub(crate) policies: Vec<sam::Policy>,
    /// Where the enrollment listener binds.
    pub(crate) listen: SocketAddr,
}

/// Leaf or RR.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// A site's leaf.
    Leaf(LeafSettings),
    /// A route reflector.
    Rr(RrSettings),
}

/// Everything SAM needs; absent from configs without a `[sam]` section.
#[derive(Debug, Clone)]
pub(crate) struct SamSettings {
    /// Leaf or RR.
    pub(crate) role: Role,
    /// Tunnels.
    pub(crate) transport: TransportSettings,
    /// The config's `state_dir`; `routerd run --state-dir` overrides it.
    pub(crate) state_dir: Option<PathBuf>,
    /// BGP port of the sessions to the RRs.
    pub(crate) bgp_port: u16,
    /// Hold time of the sessions to the RRs.
    pub(crate) hold_time: u16,
    /// Local AS.
    pub(crate) local_as: u32,
}

/// Why the SAM part of a valid config cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    /// A name or token the `sam` crate refuses.
    #[error("sam: {0} (fix the [sam] section)")]
    Invalid(String),
}

fn invalid(e: impl std::fmt::Display) -> SettingsError {
    SettingsError::Invalid(e.to_string())
}

/// Maps `[sam]` and `[transport]`; `None` when the config has no SAM section.
pub(crate) fn from_config(config: &Config) -> Result<Option<SamSettings>, SettingsError> {
    let wireguard = config.transport.wireguard.as_ref().map(|w| {
        let private_key = w.private_key.expose().0;
        WireGuardSettings {
            private_key,
            public_key: dataplane::public_key(&private_key),
            listen_port: w.listen_port,
            keepalive: w.persistent_keepalive,
            address: w.address,
        }
    });
    let underlay_mtu = config
        .interfaces
        .iter()
        .find(|i| i.role == InterfaceRole::Underlay)
        .and_then(|i| i.mtu)
        .map(u32::from)
        .unwrap_or(DEFAULT_UNDERLAY_MTU);
    let overhead = IPIP_OVERHEAD
        + if wireguard.is_some() {
            WIREGUARD_OVERHEAD
        } else {
            0
        };
    let wg_port = wireguard.as_ref().map(|w| w.listen_port).unwrap_or(0);
    let wg_key = wireguard.as_ref().map(|w| sam::WireGuardKey(w.public_key));
    let wg_address = wireguard.as_ref().map(|w| w.address);
    let (role, tunnel_address, underlay_address) = match (&config.sam.leaf, &config.sam.rr) {
        (Some(leaf), _) => {
            let subject = sam::ClaimSubject {
                leaf_id: sam::LeafId::new(leaf.leaf_id.as_str()).map_err(invalid)?,
                policy: sam::PolicyName::new(leaf.policy.as_str()).map_err(invalid)?,
                tunnel_address: leaf.claim.tunnel_address,
                underlay_endpoint: leaf
                    .claim
                    .underlay_endpoint
                    .map(|a| SocketAddrV4::new(a, wg_port)),
                owned: leaf.claim.owned.clone(),
                asn: config.node.asn,
                router_id: config.node.router_id,
                wireguard_key: wg_key,
                wireguard_address: wg_address,
            };
            let token =
                sam::JoinToken::new(leaf.join_token.expose().as_bytes()).map_err(invalid)?;
            let endpoints = leaf.rr.iter().map(|r| r.enrollment).collect();
            (
                Role::Leaf(LeafSettings {
                    enrollment: sam::LeafConfig::new(subject, token, endpoints),
                }),
                leaf.claim.tunnel_address,
                leaf.claim.underlay_endpoint,
            )
        }
        (None, Some(rr)) => {
            let mut route_reflectors = vec![sam::RrNode {
                router_id: config.node.router_id,
                underlay_endpoint: SocketAddrV4::new(rr.endpoint(), wg_port),
                tunnel_address: rr.tunnel_address,
                wireguard_key: wg_key,
                wireguard_address: wg_address,
            }];
            for other in &rr.other_rrs {
                route_reflectors.push(sam::RrNode {
                    router_id: other.router_id,
                    underlay_endpoint: SocketAddrV4::new(other.endpoint, wg_port),
                    tunnel_address: other.tunnel_address,
                    wireguard_key: other.wireguard_public_key.map(|k| sam::WireGuardKey(k.0)),
                    wireguard_address: other.wireguard_address,
                });
            }
            route_reflectors.sort_by_key(|r| r.router_id);
            let rr_set = sam::RrSet {
                asn: config.node.asn,
                cluster_id: config.cluster_id(),
                route_reflectors,
            };
            let mut policies = Vec::new();
            for p in &rr.policies {
                let mut join_tokens = Vec::new();
                for t in &p.join_tokens {
                    join_tokens.push(sam::JoinToken::new(t.expose().as_bytes()).map_err(invalid)?);
                }
                policies.push(sam::Policy {
                    name: sam::PolicyName::new(p.name.as_str()).map_err(invalid)?,
                    join_tokens,
                    tunnel_prefixes: vec![p.tunnel_prefix],
                    client_pools: p.client_prefixes.clone(),
                    endpoint_prefixes: p.endpoint_prefixes.clone(),
                    require_wireguard: wireguard.is_some(),
                    wireguard_prefixes: p.wireguard_prefix.into_iter().collect(),
                    rr_set: rr_set.clone(),
                    max_leaves: usize::from(p.max_leaves),
                    claim_ttl_secs: u64::from(p.claim_ttl_secs),
                    max_clock_skew_secs: u64::from(p.max_clock_skew_secs),
                });
            }
            (
                Role::Rr(RrSettings {
                    policies,
                    listen: SocketAddr::from((rr.listen_address, rr.listen_port)),
                }),
                rr.tunnel_address,
                Some(rr.endpoint()),
            )
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(SamSettings {
        role,
        transport: TransportSettings {
            datapath: config.transport.datapath,
            wireguard,
            tunnel_address,
            underlay_address,
            mtu: underlay_mtu.saturating_sub(overhead),
        },
        state_dir: config.state_dir.as_ref().map(|p| PathBuf::from(p.as_str())),
        bgp_port: config.bgp.listen_port,
        hold_time: config.bgp.hold_time,
        local_as: config.node.asn,
    }))
}

/// Whether `prefix` may never be installed on a leaf: it covers one of `protected`
/// (own tunnel and WireGuard addresses, the RRs' tunnel addresses), or it is one of the
/// leaf's own /32s.
pub(crate) fn is_protected(prefix: Ipv4Net, protected: &[Ipv4Addr], owned: &[Ipv4Net]) -> bool {
    owned.contains(&prefix) || protected.iter().any(|a| prefix.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &str) -> SamSettings {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path);
        let text = std::fs::read_to_string(&file).expect("example config");
        let config = config::development(&text, path).unwrap();
        from_config(&config).unwrap().expect("a sam section")
    }

    #[test]
    fn example_leaf_claims_its_routes_behind_nat_with_a_wireguard_key() {
        let s = load("examples/leaf.toml");
        let Role::Leaf(leaf) = &s.role else {
            panic!("leaf expected")
        };
        let subject = &leaf.enrollment.subject;
        assert_eq!(subject.underlay_endpoint, None, "behind NAT");
        assert_eq!(
            subject.wireguard_key.map(|k| k.0),
            s.transport.wireguard.as_ref().map(|w| w.public_key)
        );
        assert_eq!(subject.tunnel_address, s.transport.tunnel_address);
        assert_eq!(
            subject.wireguard_address,
            s.transport.wireguard.as_ref().map(|w| w.address)
        );
        assert_eq!(s.transport.mtu, 1500 - 100);
        assert_eq!(s.transport.wireguard.as_ref().unwrap().keepalive, Some(25));
    }

    #[test]
    fn example_rr_hands_out_itself_with_the_wireguard_port() {
        let s = load("examples/rr.toml");
        let Role::Rr(rr) = &s.role else {
            panic!("rr expected")
        };
        assert_eq!(rr.listen, "203.0.113.10:4179".parse().unwrap());
        let policy = &rr.policies[0];
        assert!(policy.require_wireguard);
        let me = &policy.rr_set.route_reflectors[0];
        assert_eq!(me.underlay_endpoint, "203.0.113.10:51820".parse().unwrap());
        assert_eq!(me.tunnel_address, s.transport.tunnel_address);
        assert_eq!(me.wireguard_address, Some("10.98.0.1".parse().unwrap()));
        assert_eq!(
            policy.wireguard_prefixes,
            vec!["10.98.0.0/24".parse().unwrap()]
        );
        sam::Registry::new(rr.policies.clone()).expect("valid policies");
    }

    #[test]
    fn own_routes_and_tunnel_addresses_are_protected() {
        let protected = ["10.99.0.1".parse().unwrap(), "10.99.0.14".parse().unwrap()];
        let owned = ["10.20.4.10/32".parse().unwrap()];
        let p = |s: &str| is_protected(s.parse().unwrap(), &protected, &owned);
        assert!(p("10.20.4.10/32"));
        assert!(p("10.99.0.1/32"));
        assert!(p("10.99.0.0/24"));
        assert!(p("0.0.0.0/0"));
        assert!(!p("10.20.5.10/32"));
    }
}
