//! Signed configs of the three SAM guests (board pve-x86_64): NICs matched by MAC, the
//! kernel datapath required (`datapath = "kernel"`, so a fallback fails the test), the
//! status API on an address the test reaches, guarded by a bearer token.

use std::net::Ipv4Addr;

use system_tests::sam_configs::{self, Fabric};

/// The join token of the fabric.
const JOIN_TOKEN: &str = "sam-guest-test-join-token-00001";
/// The API bearer token of all three guests.
pub(crate) const API_TOKEN: &str = "sam-guest-api-token";
/// The RR's underlay address.
pub(crate) const RR_UNDERLAY: &str = "203.0.113.10";

/// MACs of the guests' NICs: WAN and site LAN per guest.
pub(crate) const RR_WAN_MAC: &str = "52:54:00:5b:00:01";
/// Leaf 1's WAN NIC.
pub(crate) const LEAF1_WAN_MAC: &str = "52:54:00:5b:01:01";
/// Leaf 1's site NIC.
pub(crate) const LEAF1_LAN_MAC: &str = "52:54:00:5b:01:02";
/// Leaf 2's WAN NIC (behind the NAT).
pub(crate) const LEAF2_WAN_MAC: &str = "52:54:00:5b:02:01";
/// Leaf 2's site NIC.
pub(crate) const LEAF2_LAN_MAC: &str = "52:54:00:5b:02:02";

fn api_section(bind: &str, allow: &str) -> String {
    sam_configs::api_section(bind, allow, API_TOKEN)
}

/// The fabric of the guests: signed configs, the kernel datapath required.
fn fabric(trusted_key: &str) -> Fabric<'_> {
    Fabric {
        trusted_key,
        board: "pve-x86_64",
        join_token: JOIN_TOKEN,
        datapath: "kernel",
        hold_time: 30,
        rr_underlay: RR_UNDERLAY,
    }
}

/// The RR: underlay 203.0.113.10, tunnel address 10.99.0.1, API for 203.0.113.100.
pub(crate) fn rr(trusted_key: &str) -> String {
    let fabric = fabric(trusted_key);
    sam_configs::Rr {
        fabric: &fabric,
        max_leaves: 8,
        wireguard_seed: 0x31,
        interfaces: format!(
            "[[interfaces]]\nname = \"wan0\"\nmac = \"{RR_WAN_MAC}\"\nrole = \"underlay\"\naddresses = [\"{RR_UNDERLAY}/24\"]\n"
        ),
        extra: api_section(RR_UNDERLAY, "203.0.113.100/32"),
    }
    .toml()
}

/// A leaf: site `site` (LAN 10.20.SITE.1/24, owns 10.20.SITE.10/32), tunnel address
/// 10.99.0.1SITE; `underlay` is its static WAN address, `None` behind the NAT (DHCP, no
/// underlay endpoint in the claim, keepalive 25 s). Its API listens on the LAN address
/// for the client of its site.
pub(crate) fn leaf(
    trusted_key: &str,
    site: u8,
    underlay: Option<&str>,
    macs: (&str, &str),
) -> String {
    let (wan_mac, lan_mac) = macs;
    let wan = match underlay {
        Some(address) => format!("addresses = [\"{address}/24\"]"),
        None => "dhcp4 = true".to_string(),
    };
    let fabric = fabric(trusted_key);
    sam_configs::Leaf {
        fabric: &fabric,
        name: format!("leaf{site}"),
        host: 10 + site,
        owned: vec![Ipv4Addr::new(10, 20, site, 10)],
        underlay_endpoint: underlay.map(str::to_string),
        wireguard_seed: 0x40 + site,
        interfaces: format!(
            "[[interfaces]]\nname = \"wan0\"\nmac = \"{wan_mac}\"\nrole = \"underlay\"\n{wan}\n\
             [[interfaces]]\nname = \"lan0\"\nmac = \"{lan_mac}\"\nrole = \"site\"\n\
             addresses = [\"10.20.{site}.1/24\"]\n"
        ),
        extra: api_section(&format!("10.20.{site}.1"), &format!("10.20.{site}.10/32")),
    }
    .toml()
}

/// Validates and signs `text` with the test owner key.
pub(crate) fn sign(text: &str, name: &str, key: &config::SigningKey, serial: u64) -> Vec<u8> {
    let config = config::load_toml(text, name)
        .unwrap_or_else(|e| panic!("{name} is not a valid config: {e}\n{text}"));
    config::sign(&config, key, serial).expect("sign")
}
