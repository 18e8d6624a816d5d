//! Signed configs of the three SAM guests (board pve-x86_64): NICs matched by MAC, the
//! kernel datapath required (`datapath = "kernel"`, so a fallback fails the test), the
//! status API on an address the test reaches, guarded by a bearer token.

use std::process::{Command, Stdio};

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

/// SHA-256 of the API token in hex, from `sha256sum`.
fn api_token_sha256() -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), API_TOKEN.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn api_section(bind: &str, allow: &str) -> String {
    format!(
        "[api]\nbind = [\"{bind}:7179\"]\nallow_sources = [\"{allow}\"]\ntoken_sha256 = \"{}\"\n",
        api_token_sha256()
    )
}

/// The RR: underlay 203.0.113.10, tunnel address 10.99.0.1, API for 203.0.113.100.
pub(crate) fn rr(trusted_key: &str) -> String {
    format!(
        r#"trusted_keys = ["{trusted_key}"]
[node]
name = "rr1"
mode = "rr"
router_id = "10.99.0.1"
asn = 65000
board = "pve-x86_64"
[[interfaces]]
name = "wan0"
mac = "{RR_WAN_MAC}"
role = "underlay"
addresses = ["{RR_UNDERLAY}/24"]
[bgp]
listen_addresses = ["10.99.0.1"]
hold_time = 30
[[bgp.dynamic]]
prefix = "10.99.0.0/24"
max_peers = 16
template = {{ remote_as = 65000, rr_client = true, import = "leaf-routes", max_prefixes = 64 }}
[[bgp.policies]]
name = "leaf-routes"
default_action = "reject"
[[bgp.policies.rules]]
prefixes = [{{ prefix = "10.20.0.0/16", ge = 32, le = 32 }}]
action = "accept"
[sam.rr]
listen_address = "{RR_UNDERLAY}"
tunnel_address = "10.99.0.1"
[[sam.rr.policies]]
name = "sites"
tunnel_prefix = "10.99.0.0/24"
client_prefixes = ["10.20.0.0/16"]
join_tokens = ["{JOIN_TOKEN}"]
claim_ttl_secs = 3600
max_leaves = 8
[transport]
mode = "ipip+wireguard"
datapath = "kernel"
[transport.wireguard]
private_key = "{key}"
address = "10.98.0.1"
{api}"#,
        key = config::text::base64::encode(&[0x31; 32]),
        api = api_section(RR_UNDERLAY, "203.0.113.100/32"),
    )
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
    let (wan, endpoint, keepalive) = match underlay {
        Some(address) => (
            format!("addresses = [\"{address}/24\"]"),
            format!("underlay_endpoint = \"{address}\"\n"),
            String::new(),
        ),
        None => (
            "dhcp4 = true".to_string(),
            String::new(),
            "persistent_keepalive = 25\n".to_string(),
        ),
    };
    format!(
        r#"trusted_keys = ["{trusted_key}"]
[node]
name = "leaf{site}"
mode = "leaf"
router_id = "10.99.0.1{site}"
asn = 65000
board = "pve-x86_64"
[[interfaces]]
name = "wan0"
mac = "{wan_mac}"
role = "underlay"
{wan}
[[interfaces]]
name = "lan0"
mac = "{lan_mac}"
role = "site"
addresses = ["10.20.{site}.1/24"]
[bgp]
hold_time = 30
[sam.leaf]
rr = [{{ enrollment = "{RR_UNDERLAY}:4179" }}]
join_token = "{JOIN_TOKEN}"
leaf_id = "leaf{site}"
policy = "sites"
[sam.leaf.claim]
tunnel_address = "10.99.0.1{site}"
owned = ["10.20.{site}.10/32"]
{endpoint}[transport]
mode = "ipip+wireguard"
datapath = "kernel"
[transport.wireguard]
private_key = "{key}"
address = "10.98.0.1{site}"
{keepalive}{api}"#,
        key = config::text::base64::encode(&[0x40 + site; 32]),
        api = api_section(&format!("10.20.{site}.1"), &format!("10.20.{site}.10/32")),
    )
}

/// Validates and signs `text` with the test owner key.
pub(crate) fn sign(text: &str, name: &str, key: &config::SigningKey, serial: u64) -> Vec<u8> {
    let config = config::load_toml(text, name)
        .unwrap_or_else(|e| panic!("{name} is not a valid config: {e}\n{text}"));
    config::sign(&config, key, serial).expect("sign")
}
