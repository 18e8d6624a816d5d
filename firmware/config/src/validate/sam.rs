//! Rules for SAM: a leaf may have `[sam.leaf]` and never `[sam.rr]`, an RR may have
//! `[sam.rr]` and never static claims (without them each is a plain BGP router); tokens are long enough; addresses sit inside their prefixes.

use std::collections::HashSet;

use super::Checks;
use crate::schema::{Config, Mode, SamLeaf, SamRr};

/// Shortest accepted join token, in bytes.
pub(crate) const MIN_JOIN_TOKEN_LEN: usize = 16;
/// Most RR endpoints a leaf may list.
pub(crate) const MAX_RR_ENDPOINTS: usize = 8;
/// Most /32s one claim may own.
pub(crate) const MAX_OWNED: usize = 256;

pub(super) fn check(config: &Config, checks: &mut Checks) {
    match config.node.mode {
        Mode::Leaf => {
            if config.sam.rr.is_some() {
                checks.fail(
                    "sam.rr",
                    "a leaf runs no enrollment service",
                    "remove `[sam.rr]` or set `node.mode = \"rr\"`",
                );
            }
            // Without `[sam.leaf]` the leaf is a plain BGP router.
            if let Some(leaf) = &config.sam.leaf {
                check_leaf(config, leaf, checks);
            }
        }
        Mode::Rr => {
            if config.sam.leaf.is_some() {
                checks.fail(
                    "sam.leaf",
                    "an RR holds no static claims",
                    "remove `[sam.leaf]`; leaves enroll at run time",
                );
            }
            // Without `[sam.rr]` the RR is a plain BGP route reflector.
            if let Some(rr) = &config.sam.rr {
                check_rr(config, rr, checks);
            }
        }
    }
}

fn token(checks: &mut Checks, path: String, token: &str) {
    if token.len() < MIN_JOIN_TOKEN_LEN {
        checks.fail(
            path,
            format!(
                "join token is {} bytes, at least {MIN_JOIN_TOKEN_LEN} needed",
                token.len()
            ),
            "use a random token, e.g. `head -c 32 /dev/urandom | base64`",
        );
    }
}

fn check_leaf(_config: &Config, leaf: &SamLeaf, checks: &mut Checks) {
    if leaf.rr.is_empty() {
        checks.fail(
            "sam.leaf.rr",
            "no RR endpoints",
            "add `rr = [{ enrollment = \"<rr underlay address>:4179\" }]`",
        );
    }
    checks.at_most("sam.leaf.rr", &leaf.rr, MAX_RR_ENDPOINTS);
    let mut seen = HashSet::new();
    for (i, rr) in leaf.rr.iter().enumerate() {
        let path = format!("sam.leaf.rr[{i}].enrollment");
        if rr.enrollment.ip().is_unspecified() || rr.enrollment.port() == 0 {
            checks.fail(
                &path,
                format!("`{}` is not a reachable endpoint", rr.enrollment),
                "use the RR's underlay address and enrollment port",
            );
        }
        if !seen.insert(rr.enrollment) {
            checks.fail(&path, "endpoint listed twice", "list each RR once");
        }
    }
    token(
        checks,
        "sam.leaf.join_token".into(),
        leaf.join_token.expose(),
    );
    if leaf.leaf_id.is_empty() {
        checks.fail(
            "sam.leaf.leaf_id",
            "empty leaf id",
            "set a leaf id unique within the RR policy, e.g. the host name",
        );
    }
    if leaf.policy.is_empty() {
        checks.fail(
            "sam.leaf.policy",
            "empty policy name",
            "set the name of the RR's `[[sam.rr.policies]]` entry",
        );
    }
    let claim = &leaf.claim;
    if claim.tunnel_address.is_unspecified()
        || claim.tunnel_address.is_multicast()
        || claim.tunnel_address.is_broadcast()
    {
        checks.fail(
            "sam.leaf.claim.tunnel_address",
            format!("`{}` is not a tunnel address", claim.tunnel_address),
            "use a unicast address inside the RR policy's tunnel prefix",
        );
    }
    checks.at_most("sam.leaf.claim.owned", &claim.owned, MAX_OWNED);
    let mut owned = HashSet::new();
    for (i, net) in claim.owned.iter().enumerate() {
        let path = format!("sam.leaf.claim.owned[{i}]");
        if net.prefix_len() != 32 {
            checks.fail(
                &path,
                format!("`{net}` is not a /32"),
                format!("claim single addresses, e.g. `{}/32`", net.addr()),
            );
        }
        if !owned.insert(net.addr()) {
            checks.fail(
                &path,
                format!("{} is claimed twice", net.addr()),
                "list each address once",
            );
        }
        if net.addr() == claim.tunnel_address {
            checks.fail(
                &path,
                "the tunnel address cannot be a client /32",
                "claim only client addresses behind this leaf",
            );
        }
    }
    if let Some(endpoint) = claim.underlay_endpoint
        && (endpoint.is_unspecified() || endpoint.is_multicast())
    {
        checks.fail(
            "sam.leaf.claim.underlay_endpoint",
            format!("`{endpoint}` is not an endpoint"),
            "use the leaf's public underlay address, or leave it out behind NAT",
        );
    }
}

fn check_rr(config: &Config, rr: &SamRr, checks: &mut Checks) {
    other_rrs(config, rr, checks);
    if rr.listen_address.is_unspecified() {
        checks.fail(
            "sam.rr.listen_address",
            "the enrollment service must bind a specific address",
            "use the RR's underlay address",
        );
    }
    if rr.listen_port == 0 {
        checks.fail(
            "sam.rr.listen_port",
            "port 0 cannot be listened on",
            "leave it out for 4179",
        );
    }
    if rr.tunnel_address.is_unspecified() {
        checks.fail(
            "sam.rr.tunnel_address",
            "no tunnel address",
            "set the RR's own tunnel address",
        );
    }
    if rr.policies.is_empty() {
        checks.fail(
            "sam.rr.policies",
            "no enrollment policies: no leaf can join",
            "add a `[[sam.rr.policies]]` entry",
        );
    }
    let mut names = HashSet::new();
    for (i, policy) in rr.policies.iter().enumerate() {
        let path = format!("sam.rr.policies[{i}]");
        if policy.name.is_empty() || !names.insert(policy.name.as_str()) {
            checks.fail(
                format!("{path}.name"),
                format!("policy name `{}` is empty or repeated", policy.name),
                "give each policy a unique name",
            );
        }
        let prefix = ipnet::IpNet::V4(policy.tunnel_prefix);
        checks.canonical_prefix(&format!("{path}.tunnel_prefix"), &prefix);
        if !config
            .bgp
            .dynamic
            .iter()
            .any(|r| r.prefix.contains(&prefix))
        {
            checks.fail(
                format!("{path}.tunnel_prefix"),
                format!("no `[[bgp.dynamic]]` range covers `{}`: enrolled leaves could not open sessions", policy.tunnel_prefix),
                format!("add a `[[bgp.dynamic]]` entry with `prefix = \"{}\"`", policy.tunnel_prefix.trunc()),
            );
        }
        if policy.tunnel_prefix.contains(&rr.tunnel_address)
            && policy.tunnel_prefix.prefix_len() == 32
        {
            checks.fail(
                format!("{path}.tunnel_prefix"),
                "the prefix leaves no room for leaves",
                "use a shorter prefix, e.g. a /24",
            );
        }
        if policy.client_prefixes.is_empty() {
            checks.fail(
                format!("{path}.client_prefixes"),
                "empty client pool: no /32 could be claimed",
                "list the prefixes client /32s come from",
            );
        }
        for (j, pool) in policy.client_prefixes.iter().enumerate() {
            let pool_path = format!("{path}.client_prefixes[{j}]");
            checks.canonical_prefix(&pool_path, &ipnet::IpNet::V4(*pool));
            if pool.contains(&policy.tunnel_prefix) || policy.tunnel_prefix.contains(pool) {
                checks.fail(
                    &pool_path,
                    "overlaps the tunnel prefix",
                    "keep client addresses and tunnel addresses apart",
                );
            }
        }
        if policy.join_tokens.is_empty() {
            checks.fail(
                format!("{path}.join_tokens"),
                "no join tokens: no leaf can authenticate",
                "add at least one token",
            );
        }
        for (j, t) in policy.join_tokens.iter().enumerate() {
            token(checks, format!("{path}.join_tokens[{j}]"), t.expose());
        }
        if !(60..=30 * 24 * 3600).contains(&policy.claim_ttl_secs) {
            checks.fail(
                format!("{path}.claim_ttl_secs"),
                format!("{} s is out of range", policy.claim_ttl_secs),
                "use 60..=2592000 seconds (e.g. 86400 for a day)",
            );
        }
        if let Some(wg) = policy.wireguard_prefix {
            let wg_path = format!("{path}.wireguard_prefix");
            checks.canonical_prefix(&wg_path, &ipnet::IpNet::V4(wg));
            let overlaps = |p: &ipnet::Ipv4Net| p.contains(&wg) || wg.contains(p);
            if overlaps(&policy.tunnel_prefix) || policy.client_prefixes.iter().any(overlaps) {
                checks.fail(
                    &wg_path,
                    "overlaps the tunnel prefix or a client prefix",
                    "keep WireGuard addresses apart from tunnel and client addresses",
                );
            }
        }
        for (j, prefix) in policy.endpoint_prefixes.iter().enumerate() {
            checks.canonical_prefix(
                &format!("{path}.endpoint_prefixes[{j}]"),
                &ipnet::IpNet::V4(*prefix),
            );
        }
        let skew = policy.max_clock_skew_secs;
        if skew == 0 || skew > 3600 || skew >= policy.claim_ttl_secs {
            checks.fail(
                format!("{path}.max_clock_skew_secs"),
                format!("{skew} s is out of range"),
                "use 1..=3600 seconds, below `claim_ttl_secs` (default 300)",
            );
        }
        if policy.max_leaves == 0 || policy.max_leaves > 4096 {
            checks.fail(
                format!("{path}.max_leaves"),
                format!("{} leaves is out of range", policy.max_leaves),
                "use 1..=4096",
            );
        }
    }
}

fn other_rrs(config: &Config, rr: &SamRr, checks: &mut Checks) {
    let wireguard = config.transport.mode == crate::schema::TransportMode::IpipWireguard;
    let mut ids = HashSet::from([config.node.router_id]);
    let mut tunnels = HashSet::from([rr.tunnel_address]);
    let mut wg_addresses: HashSet<_> = config
        .transport
        .wireguard
        .iter()
        .map(|w| w.address)
        .collect();
    for (i, other) in rr.other_rrs.iter().enumerate() {
        let path = format!("sam.rr.other_rrs[{i}]");
        if !ids.insert(other.router_id) {
            checks.fail(
                format!("{path}.router_id"),
                format!("router id {} is used twice", other.router_id),
                "give every RR its own router id",
            );
        }
        if !tunnels.insert(other.tunnel_address) {
            checks.fail(
                format!("{path}.tunnel_address"),
                format!("tunnel address {} is used twice", other.tunnel_address),
                "give every RR its own tunnel address",
            );
        }
        if other.endpoint.is_unspecified() {
            checks.fail(
                format!("{path}.endpoint"),
                "no endpoint",
                "set the RR's public underlay address",
            );
        }
        if wireguard && other.wireguard_public_key.is_none() {
            checks.fail(
                format!("{path}.wireguard_public_key"),
                "WireGuard transport needs every RR's public key",
                "add `wireguard_public_key` (base64, `wg pubkey`)",
            );
        }
        if wireguard && other.wireguard_address.is_none() {
            checks.fail(
                format!("{path}.wireguard_address"),
                "WireGuard transport needs every RR's WireGuard address (IPIP runs between them)",
                "add `wireguard_address`, the address of that RR's `transport.wireguard.address`",
            );
        }
        if let Some(address) = other.wireguard_address
            && !wg_addresses.insert(address)
        {
            checks.fail(
                format!("{path}.wireguard_address"),
                format!("WireGuard address {address} is used twice"),
                "give every RR its own WireGuard address",
            );
        }
    }
}
