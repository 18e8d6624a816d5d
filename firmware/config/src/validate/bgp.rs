//! Rules for the BGP speaker: listen settings, peers, dynamic ranges and policies.

use std::collections::HashSet;

use super::{Checks, valid_asn};
use crate::schema::{Config, Mode, Name, PeerTemplate};

/// Most static peers.
pub(crate) const MAX_PEERS: usize = 256;
/// Most dynamic listen ranges.
pub(crate) const MAX_DYNAMIC_RANGES: usize = 16;
/// Most policies.
pub(crate) const MAX_POLICIES: usize = 64;
/// Most peers admitted from one dynamic range.
pub(crate) const MAX_PEERS_PER_RANGE: u16 = 4096;

pub(super) fn check(config: &Config, checks: &mut Checks) {
    let bgp = &config.bgp;
    if bgp.listen_port == 0 {
        checks.fail(
            "bgp.listen_port",
            "port 0 cannot be listened on",
            "leave it out for 179 or set a port in 1..=65535",
        );
    }
    if matches!(bgp.hold_time, 1 | 2) {
        checks.fail(
            "bgp.hold_time",
            format!(
                "hold time {} s is not allowed (RFC 4271 §4.2)",
                bgp.hold_time
            ),
            "use 0 or 3..=65535 seconds (default 90)",
        );
    }
    // Table 0 (the kernel's "unspecified") means no kernel routes at all.
    if matches!(bgp.kernel_table, 253 | 255) {
        checks.fail(
            "bgp.kernel_table",
            format!("table {} is reserved", bgp.kernel_table),
            "use 254 (main), a table in 1..=252 or above 255, or 0 for no kernel routes",
        );
    }
    if let Some(id) = bgp.cluster_id
        && id.is_unspecified()
    {
        checks.fail(
            "bgp.cluster_id",
            "cluster id 0.0.0.0",
            "leave it out to use the router id, or set a unicast address",
        );
    }
    if bgp.cluster_id.is_some()
        && config.node.mode == Mode::Leaf
        && bgp.peers.iter().all(|p| !p.rr_client)
    {
        checks.fail(
            "bgp.cluster_id",
            "a cluster id on a leaf without route-reflector clients has no effect",
            "remove `cluster_id`",
        );
    }
    policies(config, checks);
    peers(config, checks);
    dynamic(config, checks);
    networks(config, checks);
}

/// Most prefixes one router originates from `bgp.networks`.
pub(crate) const MAX_NETWORKS: usize = 1024;

fn networks(config: &Config, checks: &mut Checks) {
    let networks = &config.bgp.networks;
    checks.at_most("bgp.networks", networks, MAX_NETWORKS);
    let mut seen = HashSet::new();
    for (i, net) in networks.iter().enumerate() {
        let path = format!("bgp.networks[{i}]");
        if net.trunc() != *net {
            checks.fail(
                &path,
                format!("`{net}` has host bits set"),
                format!("write the network address: `{}`", net.trunc()),
            );
        }
        if !seen.insert(*net) {
            checks.fail(
                &path,
                format!("`{net}` is listed twice"),
                "list each prefix once",
            );
        }
    }
}

fn policy_ref(config: &Config, checks: &mut Checks, path: String, name: &Option<Name>) {
    if let Some(name) = name
        && !config.bgp.policies.iter().any(|p| p.name == *name)
    {
        checks.fail(
            path,
            format!("no policy named `{name}`"),
            "define it under `[[bgp.policies]]` or correct the name",
        );
    }
}

fn template(config: &Config, checks: &mut Checks, path: &str, t: &PeerTemplate) {
    if !valid_asn(t.remote_as) {
        checks.fail(
            format!("{path}.remote_as"),
            format!("AS {} is reserved", t.remote_as),
            "use the peer's AS number (1..=4294967294, not 23456)",
        );
    }
    if t.rr_client && t.remote_as != config.node.asn {
        checks.fail(
            format!("{path}.rr_client"),
            "route-reflector clients must be iBGP peers (RFC 4456)",
            format!(
                "set `remote_as = {}` or `rr_client = false`",
                config.node.asn
            ),
        );
    }
    if t.max_prefixes == Some(0) {
        checks.fail(
            format!("{path}.max_prefixes"),
            "a limit of 0 prefixes tears down every session",
            "leave it out for no limit or set at least 1",
        );
    }
    policy_ref(config, checks, format!("{path}.import"), &t.import);
    policy_ref(config, checks, format!("{path}.export"), &t.export);
}

fn peers(config: &Config, checks: &mut Checks) {
    let bgp = &config.bgp;
    checks.at_most("bgp.peers", &bgp.peers, MAX_PEERS);
    let mut seen = HashSet::new();
    for (i, peer) in bgp.peers.iter().enumerate() {
        let path = format!("bgp.peers[{i}]");
        let addr = peer.address;
        if addr.is_unspecified() || addr.is_multicast() {
            checks.fail(
                format!("{path}.address"),
                format!("`{addr}` is not a peer address"),
                "use the peer's unicast address",
            );
        }
        if !seen.insert(addr) {
            checks.fail(
                format!("{path}.address"),
                format!("peer {addr} is listed twice"),
                "list each peer once",
            );
        }
        template(config, checks, &path, &peer.template());
        if config.node.mode == Mode::Rr {
            let in_range = bgp.dynamic.iter().any(|r| r.prefix.contains(&addr));
            let in_pool =
                config.sam.rr.iter().flat_map(|rr| &rr.policies).any(
                    |p| matches!(addr, std::net::IpAddr::V4(v4) if p.tunnel_prefix.contains(&v4)),
                );
            if in_range || in_pool {
                checks.fail(
                    format!("{path}.address"),
                    format!("{addr} is a leaf address: an RR holds no per-leaf peers"),
                    "remove this peer; leaves are admitted through `[[bgp.dynamic]]` after enrollment",
                );
            }
        }
    }
}

fn dynamic(config: &Config, checks: &mut Checks) {
    let bgp = &config.bgp;
    checks.at_most("bgp.dynamic", &bgp.dynamic, MAX_DYNAMIC_RANGES);
    if config.node.mode == Mode::Leaf && !bgp.dynamic.is_empty() {
        checks.fail(
            "bgp.dynamic",
            "a leaf accepts no dynamic peers: it always connects to its RRs",
            "remove `[[bgp.dynamic]]` from the leaf config",
        );
    }
    if config.node.mode == Mode::Rr && !bgp.dynamic.is_empty() && bgp.listen_addresses.is_empty() {
        checks.fail(
            "bgp.listen_addresses",
            "dynamic ranges need a listening socket",
            "list the RR's tunnel address, e.g. `listen_addresses = [\"10.99.0.1\"]`",
        );
    }
    for (i, range) in bgp.dynamic.iter().enumerate() {
        let path = format!("bgp.dynamic[{i}]");
        checks.canonical_prefix(&format!("{path}.prefix"), &range.prefix);
        if range.max_peers == 0 || range.max_peers > MAX_PEERS_PER_RANGE {
            checks.fail(
                format!("{path}.max_peers"),
                format!("{} peers is out of range", range.max_peers),
                format!("use 1..={MAX_PEERS_PER_RANGE}"),
            );
        }
        template(config, checks, &format!("{path}.template"), &range.template);
        for (j, other) in bgp.dynamic.iter().enumerate().take(i) {
            if other.prefix.contains(&range.prefix) || range.prefix.contains(&other.prefix) {
                checks.fail(
                    format!("{path}.prefix"),
                    format!("overlaps bgp.dynamic[{j}].prefix `{}`", other.prefix),
                    "make the ranges disjoint so every session has one template",
                );
            }
        }
    }
}

fn policies(config: &Config, checks: &mut Checks) {
    let bgp = &config.bgp;
    checks.at_most("bgp.policies", &bgp.policies, MAX_POLICIES);
    let mut names = HashSet::new();
    for (i, policy) in bgp.policies.iter().enumerate() {
        let path = format!("bgp.policies[{i}]");
        if policy.name.is_empty() {
            checks.fail(
                format!("{path}.name"),
                "empty policy name",
                "give the policy a name",
            );
        }
        if !names.insert(policy.name.as_str()) {
            checks.fail(
                format!("{path}.name"),
                format!("policy `{}` is defined twice", policy.name),
                "give each policy a unique name",
            );
        }
        for (j, rule) in policy.rules.iter().enumerate() {
            let rule_path = format!("{path}.rules[{j}]");
            for (k, entry) in rule.prefixes.iter().enumerate() {
                let entry_path = format!("{rule_path}.prefixes[{k}]");
                checks.canonical_prefix(&format!("{entry_path}.prefix"), &entry.prefix);
                let own = entry.prefix.prefix_len();
                let max = entry.prefix.max_prefix_len();
                let (ge, le) = entry.length_range();
                if ge < own || le > max || ge > le {
                    checks.fail(
                        &entry_path,
                        format!("lengths ge {ge} / le {le} do not fit /{own}"),
                        format!("use {own} <= ge <= le <= {max}"),
                    );
                }
            }
            if rule.reject_reason.is_some() && rule.action != crate::schema::Action::Reject {
                checks.fail(
                    format!("{rule_path}.reject_reason"),
                    "a reject reason on an accepting rule",
                    "remove it or set `action = \"reject\"`",
                );
            }
        }
    }
}
