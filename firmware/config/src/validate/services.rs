//! Rules for the transport (WireGuard presence, NAT traversal) and the control API
//! (no open wildcard binds, a token hash, a sane revert timeout and request rates).

use std::collections::HashSet;

use super::Checks;
use crate::schema::{
    Config, DEFAULT_API_RATE_BURST, DEFAULT_API_RATE_PER_SECOND, MAX_API_RATE, Mode, TransportMode,
};

pub(super) fn check(config: &Config, checks: &mut Checks) {
    transport(config, checks);
    api(config, checks);
}

fn transport(config: &Config, checks: &mut Checks) {
    let t = &config.transport;
    match (t.mode, &t.wireguard) {
        (TransportMode::IpipWireguard, None) => checks.fail(
            "transport.wireguard",
            "`mode = \"ipip+wireguard\"` needs a WireGuard private key",
            "add `[transport.wireguard]` with `private_key` (from `wg genkey`) and `address`",
        ),
        (TransportMode::Ipip, Some(_)) => checks.fail(
            "transport.wireguard",
            "WireGuard settings without `mode = \"ipip+wireguard\"`",
            "set `transport.mode = \"ipip+wireguard\"` or remove `[transport.wireguard]`",
        ),
        _ => {}
    }
    if let Some(wg) = &t.wireguard {
        if wg.private_key.expose().0 == [0; 32] {
            checks.fail(
                "transport.wireguard.private_key",
                "the all-zero key is not a key",
                "generate one with `wg genkey`",
            );
        }
        if wg.listen_port == 0 {
            checks.fail(
                "transport.wireguard.listen_port",
                "port 0",
                "leave it out for 51820",
            );
        }
        if wg.address.is_unspecified() {
            checks.fail(
                "transport.wireguard.address",
                "no WireGuard address",
                "set this router's address on the WireGuard interface",
            );
        }
        if wg.persistent_keepalive == Some(0) {
            checks.fail(
                "transport.wireguard.persistent_keepalive",
                "0 disables keepalives",
                "leave it out, or use 25 behind NAT",
            );
        }
    }
    let behind_nat = config.node.mode == Mode::Leaf
        && config
            .sam
            .leaf
            .as_ref()
            .is_some_and(|l| l.claim.underlay_endpoint.is_none());
    if behind_nat {
        match &t.wireguard {
            None => checks.fail(
                "sam.leaf.claim.underlay_endpoint",
                "a leaf without an underlay endpoint (behind NAT) needs WireGuard: plain IPIP cannot cross NAT",
                "set `transport.mode = \"ipip+wireguard\"`, or set the leaf's public `underlay_endpoint`",
            ),
            Some(wg) if wg.persistent_keepalive.is_none() => checks.fail(
                "transport.wireguard.persistent_keepalive",
                "a leaf behind NAT needs keepalives to hold its NAT mapping open",
                "set `persistent_keepalive = 25`",
            ),
            Some(_) => {}
        }
    }
}

fn api(config: &Config, checks: &mut Checks) {
    let Some(api) = &config.api else { return };
    if api.bind.is_empty() {
        checks.fail(
            "api.bind",
            "no bind address",
            "list an address and port, e.g. `bind = [\"127.0.0.1:8080\"]`, or remove `[api]`",
        );
    }
    let mut seen = HashSet::new();
    for (i, addr) in api.bind.iter().enumerate() {
        let path = format!("api.bind[{i}]");
        if addr.port() == 0 {
            checks.fail(&path, "port 0", "choose a port, e.g. 8080");
        }
        if !seen.insert(addr) {
            checks.fail(&path, "listed twice", "list each bind address once");
        }
        if addr.ip().is_unspecified() && api.allow_sources.is_empty() {
            checks.fail(
                &path,
                format!(
                    "wildcard bind `{addr}` without a source allowlist exposes the API everywhere"
                ),
                "bind a specific address, or set `allow_sources` to the management prefixes",
            );
        }
    }
    for (i, source) in api.allow_sources.iter().enumerate() {
        let path = format!("api.allow_sources[{i}]");
        checks.canonical_prefix(&path, source);
        if source.prefix_len() == 0 {
            checks.fail(
                &path,
                format!("`{source}` allows every source"),
                "list only the management prefixes",
            );
        }
    }
    if api.token_sha256.0 == [0; 32] {
        checks.fail(
            "api.token_sha256",
            "the all-zero hash",
            "set `token_sha256` to `sha256sum` of the token",
        );
    }
    if !(10..=3600).contains(&api.try_revert_secs) {
        checks.fail(
            "api.try_revert_secs",
            format!("{} s is out of range", api.try_revert_secs),
            "use 10..=3600 seconds (default 120)",
        );
    }
    for (key, value, default) in [
        (
            "api.rate_per_second",
            api.rate_per_second,
            DEFAULT_API_RATE_PER_SECOND,
        ),
        ("api.rate_burst", api.rate_burst, DEFAULT_API_RATE_BURST),
    ] {
        if !(1..=MAX_API_RATE).contains(&value) {
            checks.fail(
                key,
                format!("{value} is out of range"),
                format!("use 1..={MAX_API_RATE} requests (default {default})"),
            );
        }
    }
}
