//! Rules for the node identity, trusted keys, state directory, interfaces and static
//! routes.

use std::collections::HashSet;

use super::{Checks, MAX_INTERFACES, MAX_ROUTES, MAX_TRUSTED_KEYS, valid_asn};
use crate::schema::{Config, Role};

pub(super) fn check(config: &Config, checks: &mut Checks) {
    node(config, checks);
    keys(config, checks);
    interfaces(config, checks);
    routes(config, checks);
}

fn node(config: &Config, checks: &mut Checks) {
    let node = &config.node;
    let name_ok = !node.name.is_empty()
        && node
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !node.name.starts_with('-');
    if !name_ok {
        checks.fail(
            "node.name",
            format!("`{}` is not a valid host name", node.name),
            "use letters, digits, `-` and `.`, not starting with `-`",
        );
    }
    let id = node.router_id;
    if id.is_unspecified() || id.is_broadcast() || id.is_multicast() {
        checks.fail(
            "node.router_id",
            format!("`{id}` cannot be a router id"),
            "set a unicast IPv4 address unique in the fabric, e.g. the tunnel address",
        );
    }
    if !valid_asn(node.asn) {
        checks.fail(
            "node.asn",
            format!("AS {} is reserved", node.asn),
            "use an AS number in 1..=4294967294 other than 23456 (private: 64512..=65534)",
        );
    }
    let board_ok = !node.board.is_empty()
        && node
            .board
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !board_ok {
        checks.fail(
            "node.board",
            format!("`{}` is not a board compatibility string", node.board),
            "use the board's slug from board/*.toml, e.g. `pve-x86_64` (lowercase, digits, `._-`)",
        );
    }
    if let Some(dir) = &config.state_dir
        && !dir.starts_with('/')
    {
        checks.fail(
            "state_dir",
            format!("`{dir}` is not an absolute path"),
            "write an absolute path such as `/var/lib/routerd`",
        );
    }
}

fn keys(config: &Config, checks: &mut Checks) {
    if config.trusted_keys.is_empty() {
        checks.fail(
            "trusted_keys",
            "no trusted keys: no later config could ever be accepted",
            "list at least one owner public key (`routerd-tool keygen` writes owner.pub)",
        );
    }
    checks.at_most("trusted_keys", &config.trusted_keys, MAX_TRUSTED_KEYS);
    let mut seen = HashSet::new();
    for (i, key) in config.trusted_keys.iter().enumerate() {
        if !seen.insert(key) {
            checks.fail(
                format!("trusted_keys[{i}]"),
                "duplicate key",
                "list each key once",
            );
        }
        if ed25519_dalek::VerifyingKey::from_bytes(&key.0).is_err() {
            checks.fail(
                format!("trusted_keys[{i}]"),
                "not a valid ed25519 public key",
                "copy the key from owner.pub",
            );
        }
    }
}

fn interfaces(config: &Config, checks: &mut Checks) {
    checks.at_most("interfaces", &config.interfaces, MAX_INTERFACES);
    let mut names = HashSet::new();
    let mut macs = HashSet::new();
    for (i, iface) in config.interfaces.iter().enumerate() {
        let path = format!("interfaces[{i}]");
        let name_ok = !iface.name.is_empty()
            && iface.name.as_str() != "."
            && iface.name.as_str() != ".."
            && iface
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
        if !name_ok {
            checks.fail(
                format!("{path}.name"),
                format!("`{}` is not a valid interface name", iface.name),
                "use 1 to 15 printable characters without `/`, `:` or spaces",
            );
        }
        if !names.insert(iface.name.as_str()) {
            checks.fail(
                format!("{path}.name"),
                format!("interface `{}` is listed twice", iface.name),
                "give each interface a unique name",
            );
        }
        if let Some(mac) = iface.mac {
            if !macs.insert(mac) {
                checks.fail(
                    format!("{path}.mac"),
                    format!("MAC {mac} is listed twice"),
                    "match each link by one entry only",
                );
            }
            if mac.0[0] & 1 == 1 {
                checks.fail(
                    format!("{path}.mac"),
                    format!("{mac} is a multicast address"),
                    "use the link's unicast MAC",
                );
            }
        }
        if iface.dhcp4 && iface.role != Role::Underlay {
            checks.fail(
                format!("{path}.dhcp4"),
                "DHCPv4 is only supported on the underlay",
                "set `role = \"underlay\"` or configure static `addresses`",
            );
        }
        if iface.dhcp4 && iface.addresses.iter().any(|a| a.addr().is_ipv4()) {
            checks.fail(
                format!("{path}.addresses"),
                "static IPv4 addresses and `dhcp4 = true` exclude each other",
                "remove the IPv4 addresses or set `dhcp4 = false`",
            );
        }
        for (j, addr) in iface.addresses.iter().enumerate() {
            if addr.addr().is_unspecified() || addr.addr().is_multicast() {
                checks.fail(
                    format!("{path}.addresses[{j}]"),
                    format!("`{addr}` is not a host address"),
                    "use a unicast address with its prefix length, e.g. `203.0.113.2/24`",
                );
            }
        }
        if let Some(mtu) = iface.mtu
            && !(576..=9216).contains(&mtu)
        {
            checks.fail(
                format!("{path}.mtu"),
                format!("MTU {mtu} is out of range"),
                "use 576..=9216 (1500 for Ethernet)",
            );
        }
    }
}

fn routes(config: &Config, checks: &mut Checks) {
    checks.at_most("routes", &config.routes, MAX_ROUTES);
    for (i, route) in config.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        checks.canonical_prefix(&format!("{path}.prefix"), &route.prefix);
        if route.via.is_none() && route.device.is_none() {
            checks.fail(
                &path,
                "a route needs a gateway or a device",
                "set `via = \"<gateway>\"` or `device = \"<interface>\"`",
            );
        }
        if let Some(via) = route.via
            && via.is_ipv4() != route.prefix.addr().is_ipv4()
        {
            checks.fail(
                format!("{path}.via"),
                "gateway and prefix are of different address families",
                "use a gateway of the prefix's family",
            );
        }
        if let Some(dev) = &route.device
            && !config.interfaces.iter().any(|i| i.name == *dev)
        {
            checks.fail(
                format!("{path}.device"),
                format!("no interface named `{dev}`"),
                "name an entry of `[[interfaces]]` or add one",
            );
        }
    }
}
