//! Mapping the config schema (`config::Config`) to the speaker's, kernel's and API's
//! settings.
//!
//! Rules, in one place:
//! - every peer and range template uses the speaker-wide hold time and the BGP port;
//!   peers with the local AS are internal, others external;
//! - a named import or export policy becomes a [`bgp::policy::Policy`]; no name means
//!   accept everything unchanged; a max-prefix limit tears the session down and retries
//!   after [`MAX_PREFIX_IDLE`];
//! - the router's own addresses (interfaces, listen addresses, tunnel addresses) are
//!   never admitted as peers;
//! - a leaf originates the /32s its SAM claim owns and opens its sessions from its claim's
//!   tunnel address;
//! - `bgp.kernel_table = 0` installs no kernel routes (no FIB task);
//! - without an `[api]` section a development config serves the status API without a
//!   token on [`DEV_API_ADDR`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::policy::{CommunityMatch, Match, Modification, Policy, PrefixRange, Rule, Verdict};
use bgp::speaker::{DynamicRange, MaxPrefixAction, PeerConfig, PeerKind, SpeakerConfig};
use config::{Action, Config, Mode as ConfigMode, PeerTemplate, Verified};
use ipnet::IpNet;

use super::{ApiSettings, LoadError, Mode, RouterConfig};
use crate::fib::FibSettings;

/// The status API address of a development config without an `[api]` section.
pub(crate) const DEV_API_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7179);
/// How long a session torn down by its prefix limit stays down before retrying.
pub(crate) const MAX_PREFIX_IDLE: Duration = Duration::from_secs(30);
/// `bgp.kernel_table` value that turns kernel route installation off.
pub(crate) const NO_KERNEL_TABLE: u32 = 0;
/// Time between connection attempts to a configured peer.
pub(crate) const CONNECT_RETRY: Duration = Duration::from_secs(5);

/// Parses, validates and maps a TOML development config.
pub(super) fn from_toml(text: &str, file_name: &str) -> Result<RouterConfig, LoadError> {
    let config =
        config::development(text, file_name).map_err(|e| LoadError::Invalid(e.to_string()))?;
    map(&config, Some(DEV_API_ADDR))
}

/// Maps a verified config. `default_api` is where the API listens when the config has
/// no `[api]` section (`None`: off).
pub(super) fn map(
    verified: &Verified<Config>,
    default_api: Option<SocketAddr>,
) -> Result<RouterConfig, LoadError> {
    let config: &Config = verified;
    let bgp = &config.bgp;
    let policies: HashMap<&str, &config::Policy> =
        bgp.policies.iter().map(|p| (p.name.as_str(), p)).collect();
    let policy = |name: &Option<config::Name>, what: &str| -> Result<Policy, LoadError> {
        match name {
            None => Ok(Policy::accept_all()),
            Some(n) => policies
                .get(n.as_str())
                .map(|p| policy_of(p))
                .ok_or_else(|| {
                    LoadError::Invalid(format!(
                        "{what}: policy `{n}` is not defined in bgp.policies"
                    ))
                }),
        }
    };
    let local_as = config.node.asn;
    // A leaf's sessions come from its tunnel address (its identity towards the RR).
    let session_source: Option<IpAddr> = config
        .sam
        .leaf
        .as_ref()
        .map(|l| l.claim.tunnel_address.into());
    let peer_config =
        |remote: IpAddr, t: &PeerTemplate, what: &str| -> Result<PeerConfig, LoadError> {
            Ok(PeerConfig {
                remote,
                port: bgp.listen_port,
                remote_as: Some(t.remote_as),
                local: session_source,
                kind: if t.remote_as == local_as {
                    PeerKind::Internal
                } else {
                    PeerKind::External
                },
                rr_client: t.rr_client,
                passive: t.passive,
                hold_time: bgp.hold_time,
                connect_retry: CONNECT_RETRY,
                next_hop_self: t.next_hop_self,
                import: policy(&t.import, &format!("{what}.import"))?,
                export: policy(&t.export, &format!("{what}.export"))?,
                max_prefix: t
                    .max_prefixes
                    .map(|n| (n, MaxPrefixAction::Shutdown(MAX_PREFIX_IDLE))),
            })
        };
    let mut peers = Vec::new();
    for (i, p) in bgp.peers.iter().enumerate() {
        peers.push(peer_config(
            p.address,
            &p.template(),
            &format!("bgp.peers[{i}]"),
        )?);
    }
    let mut ranges = Vec::new();
    for (i, r) in bgp.dynamic.iter().enumerate() {
        let template = peer_config(
            r.prefix.network(),
            &r.template,
            &format!("bgp.dynamic[{i}]"),
        )?;
        ranges.push(DynamicRange {
            name: format!("dynamic-{}", r.prefix),
            prefix: r.prefix,
            template,
            max_peers: usize::from(r.max_peers),
        });
    }
    let mut local_addresses: Vec<IpAddr> = config
        .interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
        .chain(bgp.listen_addresses.iter().copied())
        .collect();
    if let Some(leaf) = &config.sam.leaf {
        local_addresses.push(leaf.claim.tunnel_address.into());
    }
    if let Some(rr) = &config.sam.rr {
        local_addresses.push(rr.tunnel_address.into());
    }
    local_addresses.sort();
    local_addresses.dedup();
    let mode = match config.mode() {
        ConfigMode::Leaf => Mode::Leaf,
        ConfigMode::Rr => Mode::Rr,
    };
    let reflects = mode == Mode::Rr
        || peers
            .iter()
            .chain(ranges.iter().map(|r| &r.template))
            .any(|p| p.rr_client);
    let mut announce: Vec<IpNet> = bgp.networks.clone();
    if let Some(leaf) = &config.sam.leaf {
        announce.extend(leaf.claim.owned.iter().map(|&n| IpNet::V4(n)));
    }
    announce.sort();
    announce.dedup();
    let api = match &config.api {
        Some(api) if !api.bind.is_empty() => Some(ApiSettings {
            binds: api.bind.clone(),
            access: api::server::Access {
                auth: api::server::Auth::BearerSha256(api.token_sha256.0),
                allow_sources: api.allow_sources.clone(),
                limits: api::limits::Limits::with_rate(api.rate_per_second, api.rate_burst),
            },
        }),
        Some(_) => None,
        None => default_api.map(|bind| ApiSettings {
            binds: vec![bind],
            access: api::server::Access::open(),
        }),
    };
    Ok(RouterConfig {
        mode,
        speaker: SpeakerConfig {
            local_as,
            router_id: config.node.router_id,
            cluster_id: reflects.then(|| config.cluster_id()),
            local_addresses,
            multipath: false,
        },
        peers,
        ranges,
        listen: bgp
            .listen_addresses
            .iter()
            .map(|&a| SocketAddr::new(a, bgp.listen_port))
            .collect(),
        announce,
        fib: (bgp.kernel_table != NO_KERNEL_TABLE).then(|| FibSettings {
            table: bgp.kernel_table,
            device: bgp.kernel_device.as_ref().map(|d| d.as_str().to_string()),
        }),
        api,
        provenance: verified.provenance().to_string(),
        serial: verified.serial(),
        sam: crate::sam::settings::from_config(config)
            .map_err(|e| LoadError::Invalid(e.to_string()))?,
        push: None,
        interfaces: config.interfaces.clone(),
        manage_interfaces: false,
    })
}

/// The speaker's form of a named policy.
fn policy_of(p: &config::Policy) -> Policy {
    let reason_default = format!("policy {}", p.name);
    let rules = p
        .rules
        .iter()
        .map(|r| {
            let mut modify: Vec<Modification> = Vec::new();
            if r.action == Action::Accept {
                modify.extend(
                    r.add_communities
                        .iter()
                        .map(|c| Modification::AddCommunity(c.0)),
                );
                modify.extend(
                    r.remove_communities
                        .iter()
                        .map(|c| Modification::RemoveCommunity(c.0)),
                );
                if r.next_hop_self {
                    modify.push(Modification::NextHopSelf);
                }
            }
            Rule {
                when: Match {
                    prefixes: (!r.prefixes.is_empty()).then(|| {
                        r.prefixes
                            .iter()
                            .map(|m| {
                                let (ge, le) = m.length_range();
                                PrefixRange::range(m.prefix, ge, le)
                            })
                            .collect()
                    }),
                    communities: if r.communities.is_empty() {
                        Vec::new()
                    } else {
                        vec![CommunityMatch::Any(
                            r.communities.iter().map(|c| c.0).collect(),
                        )]
                    },
                },
                modify,
                verdict: Some(match r.action {
                    Action::Accept => Verdict::Accept,
                    Action::Reject => Verdict::Reject(
                        r.reject_reason
                            .as_ref()
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| reason_default.clone()),
                    ),
                }),
            }
        })
        .collect();
    let default = match p.default_action {
        Action::Accept => Verdict::Accept,
        Action::Reject => Verdict::Reject(reason_default),
    };
    Policy { rules, default }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(path: &str) -> RouterConfig {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path);
        let text = std::fs::read_to_string(&file).expect("example config");
        from_toml(&text, path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn example_rr_maps_to_a_reflector_with_dynamic_ranges() {
        let rr = load("examples/rr.toml");
        assert_eq!(rr.mode, Mode::Rr);
        assert!(rr.speaker.cluster_id.is_some());
        assert!(!rr.ranges.is_empty());
        for range in &rr.ranges {
            assert!(
                range.template.passive || range.template.rr_client,
                "{range:?}"
            );
            assert!(range.max_peers > 0);
        }
        assert!(!rr.listen.is_empty(), "an RR listens");
        for addr in &rr.listen {
            assert!(
                rr.speaker.local_addresses.contains(&addr.ip()),
                "own address {addr} never admitted"
            );
        }
    }

    #[test]
    fn example_leaf_maps_to_a_leaf_announcing_its_claim() {
        let leaf = load("examples/leaf.toml");
        assert_eq!(leaf.mode, Mode::Leaf);
        assert_eq!(leaf.speaker.cluster_id, None, "a leaf does not reflect");
        assert!(!leaf.announce.is_empty(), "the claim's /32s are announced");
        assert!(leaf.announce.iter().all(|p| p.prefix_len() == 32));
        assert!(leaf.listen.is_empty(), "a leaf only connects");
    }

    #[test]
    fn a_leaf_opens_sessions_from_its_tunnel_address() {
        let text = crate::router_config::TEST_SAM_LEAF;
        let leaf = from_toml(text, "l.toml").unwrap();
        assert_eq!(leaf.peers[0].local, Some("10.77.0.21".parse().unwrap()));
        assert_eq!(leaf.peers[0].kind, PeerKind::Internal);
        assert!(!leaf.peers[0].rr_client);
        assert_eq!(
            leaf.announce,
            vec!["198.51.100.21/32".parse::<IpNet>().unwrap()]
        );
    }

    const BASE: &str = r#"
trusted_keys = ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]
[node]
name = "t"
mode = "rr"
router_id = "192.0.2.1"
asn = 65000
board = "dev"
[bgp]
listen_addresses = ["192.0.2.1"]
kernel_table = 77
kernel_device = "tun0"
[[bgp.peers]]
address = "192.0.2.9"
remote_as = 65001
import = "only-docs"
max_prefixes = 10
[[bgp.policies]]
name = "only-docs"
default_action = "reject"
[[bgp.policies.rules]]
prefixes = [{ prefix = "198.51.100.0/24", ge = 32 }]
action = "accept"
add_communities = ["65000:7"]
[[bgp.dynamic]]
prefix = "10.77.0.0/24"
max_peers = 8
template = { remote_as = 65000, rr_client = true }
[sam.rr]
listen_address = "192.0.2.1"
tunnel_address = "10.77.0.1"
[[sam.rr.policies]]
name = "p"
tunnel_prefix = "10.77.0.0/24"
client_prefixes = ["198.51.100.0/24"]
join_tokens = ["0123456789abcdef0123"]
claim_ttl_secs = 3600
max_leaves = 4
"#;

    #[test]
    fn peers_policies_kernel_and_api_settings_are_mapped() {
        let c = from_toml(BASE, "t.toml").unwrap();
        let peer = &c.peers[0];
        assert_eq!(peer.kind, PeerKind::External);
        assert_eq!(peer.port, 179);
        assert_eq!(
            peer.local, None,
            "an RR's sessions use the kernel's source address"
        );
        assert_eq!(
            peer.max_prefix,
            Some((10, MaxPrefixAction::Shutdown(MAX_PREFIX_IDLE)))
        );
        let docs: IpNet = "198.51.100.7/32".parse().unwrap();
        let other: IpNet = "203.0.113.7/32".parse().unwrap();
        let attrs = bgp::wire::PathAttributes::default();
        assert!(matches!(
            peer.import.evaluate(&docs, &attrs),
            bgp::policy::Outcome::Accept { attrs: Some(a), .. } if a.communities == vec![(65000 << 16) | 7]
        ));
        assert!(matches!(
            peer.import.evaluate(&other, &attrs),
            bgp::policy::Outcome::Reject(_)
        ));
        assert!(peer.export.is_accept_all());
        assert_eq!(
            c.fib,
            Some(FibSettings {
                table: 77,
                device: Some("tun0".into())
            })
        );
        assert_eq!(
            c.api.as_ref().map(|a| a.binds.clone()),
            Some(vec![DEV_API_ADDR])
        );
        assert!(
            c.speaker
                .local_addresses
                .contains(&"10.77.0.1".parse().unwrap())
        );
        let range = &c.ranges[0];
        assert_eq!(range.prefix, "10.77.0.0/24".parse::<IpNet>().unwrap());
        assert_eq!(
            (
                range.max_peers,
                range.template.passive,
                range.template.rr_client
            ),
            (8, true, true)
        );
        assert_eq!(range.template.kind, PeerKind::Internal);
    }

    #[test]
    fn api_request_rates_reach_the_limiter() {
        let api = "\n[api]\nbind = [\"127.0.0.1:7179\"]\nrate_per_second = 4\nrate_burst = 9\n\
                   token_sha256 = \"87f96588914585c614f4188a6402d5c2557b7023b1b05b9aeb60f3d0681f3a18\"\n";
        let c = from_toml(&format!("{BASE}{api}"), "t.toml").unwrap();
        let limits = c.api.map(|a| a.access.limits);
        assert_eq!(limits.map(|l| (l.per_second, l.burst)), Some((4, 9)));
    }

    #[test]
    fn kernel_table_0_leaves_the_kernel_alone() {
        let off = BASE.replace("kernel_table = 77", "kernel_table = 0");
        assert_eq!(from_toml(&off, "t.toml").unwrap().fib, None);
        assert!(from_toml(BASE, "t.toml").unwrap().fib.is_some());
    }

    #[test]
    fn invalid_configs_are_refused_with_the_location() {
        let broken = BASE.replace("asn = 65000", "asn = 0");
        let err = from_toml(&broken, "t.toml").unwrap_err().to_string();
        assert!(err.contains("t.toml:"), "{err}");
        let unknown_policy = BASE.replace("import = \"only-docs\"", "import = \"nope\"");
        assert!(from_toml(&unknown_policy, "t.toml").is_err());
    }
}
