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
//! - a leaf originates the /32s its SAM claim owns;
//! - without an `[api]` section a development config serves the status API without a
//!   token on [`DEV_API_ADDR`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::policy::{CommunityMatch, Match, Modification, Policy, PrefixRange, Rule, Verdict};
use bgp::speaker::{DynamicRange, MaxPrefixAction, PeerConfig, PeerKind, SpeakerConfig};
use config::{Action, Config, Mode as ConfigMode, PeerTemplate};
use ipnet::IpNet;

use super::{ApiSettings, LoadError, Mode, RouterConfig};
use crate::fib::FibSettings;

/// The status API address of a development config without an `[api]` section.
pub(crate) const DEV_API_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7179);
/// How long a session torn down by its prefix limit stays down before retrying.
pub(crate) const MAX_PREFIX_IDLE: Duration = Duration::from_secs(30);
/// Time between connection attempts to a configured peer.
pub(crate) const CONNECT_RETRY: Duration = Duration::from_secs(5);

/// Parses, validates and maps a TOML development config.
pub(super) fn from_toml(text: &str, file_name: &str) -> Result<RouterConfig, LoadError> {
    let config =
        config::load_toml(text, file_name).map_err(|e| LoadError::Invalid(e.to_string()))?;
    map(&config, Some(DEV_API_ADDR))
}

/// Maps a validated config. `default_api` is where the API listens when the config has
/// no `[api]` section (`None`: off).
pub(super) fn map(
    config: &Config,
    default_api: Option<SocketAddr>,
) -> Result<RouterConfig, LoadError> {
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
    let peer_config =
        |remote: IpAddr, t: &PeerTemplate, what: &str| -> Result<PeerConfig, LoadError> {
            Ok(PeerConfig {
                remote,
                port: bgp.listen_port,
                remote_as: Some(t.remote_as),
                local: None,
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
    let announce = config
        .sam
        .leaf
        .as_ref()
        .map(|l| l.claim.owned.iter().map(|&n| IpNet::V4(n)).collect())
        .unwrap_or_default();
    let api = match &config.api {
        Some(api) => api.bind.first().map(|&bind| ApiSettings {
            bind,
            auth: api::server::Auth::BearerSha256(api.token_sha256.0),
        }),
        None => default_api.map(|bind| ApiSettings {
            bind,
            auth: api::server::Auth::Open,
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
        fib: Some(FibSettings {
            table: bgp.kernel_table,
            device: bgp.kernel_device.as_ref().map(|d| d.as_str().to_string()),
        }),
        api,
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
