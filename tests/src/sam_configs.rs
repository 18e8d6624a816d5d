//! The router configs (TOML) of the SAM system tests: one RR and its leaves in the
//! fabric layout every SAM test uses, so a test states only what differs.
//!
//! Layout: AS 65000, policy `sites`, tunnel prefix 10.99.0.0/24 with the RR at
//! 10.99.0.1, client pool 10.20.0.0/16 (/32s only, anything else rejected as
//! `outside-pool`), IPIP inside WireGuard, and a node's WireGuard address 10.98.0.H for
//! its tunnel address 10.99.0.H (router id = tunnel address). The RR's enrollment
//! listener is on its underlay address, port 4179; leaves enroll there. Board,
//! datapath, hold time, interfaces and an optional `[api]` section are the test's.
//!
//! The texts are plain TOML: tests validate and sign them (or run them unsigned as
//! development configs) with the config crate like any operator's file.

use std::net::Ipv4Addr;

/// What the RR and the leaves of one test share.
#[derive(Debug, Clone)]
pub struct Fabric<'a> {
    /// The owner key the configs trust (base64 public key).
    pub trusted_key: &'a str,
    /// The board name (`dev` for processes, `pve-x86_64` for guests).
    pub board: &'a str,
    /// The policy's join token.
    pub join_token: &'a str,
    /// `transport.datapath`: `auto`, `kernel` or `userspace`.
    pub datapath: &'a str,
    /// `bgp.hold_time` of every router.
    pub hold_time: u16,
    /// The RR's underlay address (enrollment listener and WireGuard endpoint).
    pub rr_underlay: &'a str,
}

/// The RR of a fabric.
#[derive(Debug, Clone)]
pub struct Rr<'a> {
    /// The shared settings.
    pub fabric: &'a Fabric<'a>,
    /// `max_leaves` of the policy.
    pub max_leaves: u16,
    /// Seed of the RR's WireGuard private key (32 bytes of this value).
    pub wireguard_seed: u8,
    /// `[[interfaces]]` tables, or empty (a process in a namespace set up by the test).
    pub interfaces: String,
    /// Anything appended at the end (an `[api]` section), or empty.
    pub extra: String,
}

/// A leaf of a fabric.
#[derive(Debug, Clone)]
pub struct Leaf<'a> {
    /// The shared settings.
    pub fabric: &'a Fabric<'a>,
    /// Node name and leaf id.
    pub name: String,
    /// H of its tunnel address 10.99.0.H and WireGuard address 10.98.0.H.
    pub host: u8,
    /// The client /32s it claims, without the length.
    pub owned: Vec<Ipv4Addr>,
    /// Its underlay address for the claim; `None` behind NAT (the RR learns the
    /// endpoint from the handshake; the leaf sends keepalives every 25 s).
    pub underlay_endpoint: Option<String>,
    /// Seed of its WireGuard private key (32 bytes of this value).
    pub wireguard_seed: u8,
    /// `[[interfaces]]` tables, or empty.
    pub interfaces: String,
    /// Anything appended at the end (an `[api]` section), or empty.
    pub extra: String,
}

/// The tunnel address 10.99.0.H.
pub fn tunnel_address(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, host)
}

/// A WireGuard private key of 32 bytes `seed`, base64 as the config holds it.
pub fn wireguard_key(seed: u8) -> String {
    config::text::base64::encode(&[seed; 32])
}

impl Rr<'_> {
    /// The RR's config text.
    pub fn toml(&self) -> String {
        let f = self.fabric;
        format!(
            r#"trusted_keys = ["{trusted}"]
[node]
name = "rr1"
mode = "rr"
router_id = "10.99.0.1"
asn = 65000
board = "{board}"
{interfaces}[bgp]
listen_addresses = ["10.99.0.1"]
hold_time = {hold}
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
[[bgp.policies.rules]]
action = "reject"
reject_reason = "outside-pool"
[sam.rr]
listen_address = "{underlay}"
tunnel_address = "10.99.0.1"
[[sam.rr.policies]]
name = "sites"
tunnel_prefix = "10.99.0.0/24"
client_prefixes = ["10.20.0.0/16"]
wireguard_prefix = "10.98.0.0/24"
join_tokens = ["{token}"]
claim_ttl_secs = 3600
max_leaves = {max_leaves}
[transport]
mode = "ipip+wireguard"
datapath = "{datapath}"
[transport.wireguard]
private_key = "{key}"
address = "10.98.0.1"
{extra}"#,
            trusted = f.trusted_key,
            board = f.board,
            interfaces = self.interfaces,
            hold = f.hold_time,
            underlay = f.rr_underlay,
            token = f.join_token,
            max_leaves = self.max_leaves,
            datapath = f.datapath,
            key = wireguard_key(self.wireguard_seed),
            extra = self.extra,
        )
    }
}

impl Leaf<'_> {
    /// The leaf's config text.
    pub fn toml(&self) -> String {
        let f = self.fabric;
        let owned: Vec<String> = self.owned.iter().map(|o| format!("\"{o}/32\"")).collect();
        let (endpoint, keepalive) = match &self.underlay_endpoint {
            Some(address) => (format!("underlay_endpoint = \"{address}\"\n"), ""),
            None => (String::new(), "persistent_keepalive = 25\n"),
        };
        format!(
            r#"trusted_keys = ["{trusted}"]
[node]
name = "{name}"
mode = "leaf"
router_id = "{tunnel}"
asn = 65000
board = "{board}"
{interfaces}[bgp]
hold_time = {hold}
[sam.leaf]
rr = [{{ enrollment = "{rr}:4179" }}]
join_token = "{token}"
leaf_id = "{name}"
policy = "sites"
[sam.leaf.claim]
tunnel_address = "{tunnel}"
owned = [{owned}]
{endpoint}[transport]
mode = "ipip+wireguard"
datapath = "{datapath}"
[transport.wireguard]
private_key = "{key}"
address = "10.98.0.{host}"
{keepalive}{extra}"#,
            trusted = f.trusted_key,
            name = self.name,
            tunnel = tunnel_address(self.host),
            board = f.board,
            interfaces = self.interfaces,
            hold = f.hold_time,
            rr = f.rr_underlay,
            token = f.join_token,
            owned = owned.join(", "),
            datapath = f.datapath,
            key = wireguard_key(self.wireguard_seed),
            host = self.host,
            extra = self.extra,
        )
    }
}

/// An `[api]` section: the API on `bind` port 7179 for sources in `allow`, guarded by
/// the bearer token `token` (the config holds its SHA-256, see [`crate::sha256_hex`]).
pub fn api_section(bind: &str, allow: &str, token: &str) -> String {
    format!(
        "[api]\nbind = [\"{bind}:7179\"]\nallow_sources = [\"{allow}\"]\ntoken_sha256 = \"{}\"\n",
        crate::sha256_hex(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fabric() -> Fabric<'static> {
        Fabric {
            trusted_key: crate::DEV_TRUSTED_KEY,
            board: "dev",
            join_token: "a-join-token-for-the-unit-test",
            datapath: "userspace",
            hold_time: 9,
            rr_underlay: "203.0.113.10",
        }
    }

    #[test]
    fn the_rr_and_a_nated_leaf_are_valid_configs() {
        let fabric = fabric();
        let rr = Rr {
            fabric: &fabric,
            max_leaves: 8,
            wireguard_seed: 1,
            interfaces: String::new(),
            extra: String::new(),
        };
        let rr = config::load_toml(&rr.toml(), "rr.toml").unwrap_or_else(|e| panic!("{e}"));
        assert!(rr.sam.rr.is_some());
        let leaf = Leaf {
            fabric: &fabric,
            name: "leaf-1".into(),
            host: 11,
            owned: vec![Ipv4Addr::new(10, 20, 1, 10)],
            underlay_endpoint: None,
            wireguard_seed: 11,
            interfaces: String::new(),
            extra: String::new(),
        };
        let text = leaf.toml();
        let leaf = config::load_toml(&text, "leaf.toml").unwrap_or_else(|e| panic!("{e}"));
        let wg = leaf.transport.wireguard.expect("WireGuard");
        assert_eq!(wg.address, Ipv4Addr::new(10, 98, 0, 11));
        assert_eq!(wg.persistent_keepalive, Some(25), "behind NAT");
    }
}
