//! The four-site topology on paper: sites, addresses, secrets and each router's TOML.
//!
//! Addresses (documentation and private ranges, used only inside the demo's namespaces):
//! - underlay 203.0.113.0/24: RR .10, leaves aws/azure/oci .11/.12/.13, the NAT router .14;
//! - the PVE site behind NAT: private underlay 10.0.4.0/24 (NAT router .1, pve leaf .2);
//! - site LAN of site N: 10.20.N.0/24, leaf .1, client .10 (the client's /32 is the
//!   claim's only owned route);
//! - tunnel addresses 10.99.0.1 (RR) and 10.99.0.1N, WireGuard addresses 10.98.0.1 and
//!   10.98.0.1N.
//!
//! Secrets (join token, WireGuard keys, API token) are fresh random values per run.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use config::text::{base64, hex};
use sha2::{Digest, Sha256};

/// The RR's underlay address.
pub(crate) const RR_UNDERLAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The NAT router's public address.
pub(crate) const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 14);
/// The NAT router's address on the PVE site's private underlay.
pub(crate) const NAT_PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 0, 4, 1);
/// The private underlay behind the NAT router.
pub(crate) const NAT_PRIVATE_NET: &str = "10.0.4.0/24";
/// The RR's tunnel address (its BGP session address and router id).
pub(crate) const RR_TUNNEL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// The SAM enrollment port on the RR.
pub(crate) const ENROLLMENT_PORT: u16 = 4179;
/// Where every router serves its API, on the loopback of its own namespace.
pub(crate) const API_ADDR: &str = "127.0.0.1:7179";
/// The API port of the guests (bound on the RR's underlay address and each leaf's LAN
/// address, see [`Placement::Guest`]).
pub(crate) const GUEST_API_PORT: u16 = 7179;
/// The address the demo's lab namespace holds on the underlay, to reach the RR guest's API.
pub(crate) const LAB_UNDERLAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
/// BGP hold time of every router in the netns flavour (short, so the outage outlives it).
pub(crate) const HOLD_TIME_SECS: u64 = 9;
/// BGP hold time of the guests: TCG guests on a loaded machine can stall for seconds, so
/// a longer hold time keeps sessions from flapping; the outage still outlives it.
pub(crate) const GUEST_HOLD_TIME_SECS: u64 = 30;
/// The iBGP AS of the fabric.
const ASN: u32 = 65000;

/// One leaf site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Site {
    /// Short name: `aws`, `azure`, `oci`, `pve`.
    pub(crate) name: &'static str,
    /// 1 to 4: the third octet of the site LAN, the last digit of the tunnel address.
    pub(crate) index: u8,
    /// True for the site behind the NAT router.
    pub(crate) behind_nat: bool,
}

/// The four leaf sites, in matrix order.
pub(crate) const SITES: [Site; 4] = [
    Site {
        name: "aws",
        index: 1,
        behind_nat: false,
    },
    Site {
        name: "azure",
        index: 2,
        behind_nat: false,
    },
    Site {
        name: "oci",
        index: 3,
        behind_nat: false,
    },
    Site {
        name: "pve",
        index: 4,
        behind_nat: true,
    },
];

impl Site {
    /// The leaf's underlay address (public, or private behind the NAT router).
    pub(crate) fn underlay(&self) -> Ipv4Addr {
        if self.behind_nat {
            Ipv4Addr::new(10, 0, 4, 2)
        } else {
            Ipv4Addr::new(203, 0, 113, 10 + self.index)
        }
    }

    /// The leaf's tunnel address (BGP session source and router id).
    pub(crate) fn tunnel(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, 10 + self.index)
    }

    /// The leaf's WireGuard address.
    pub(crate) fn wireguard(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 98, 0, 10 + self.index)
    }

    /// The leaf's address on its site LAN.
    pub(crate) fn lan_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 20, self.index, 1)
    }

    /// The site's client address; its /32 is the claim's owned route.
    pub(crate) fn client(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 20, self.index, 10)
    }

    /// Node name of the leaf (`aws-leaf`).
    pub(crate) fn leaf_node(&self) -> String {
        format!("{}-leaf", self.name)
    }
}

/// Fresh secrets of one run.
#[derive(Clone)]
pub(crate) struct Secrets {
    /// The policy's join token.
    pub(crate) join_token: String,
    /// The API bearer token (the configs hold only its SHA-256).
    pub(crate) api_token: String,
    /// WireGuard private keys: the RR first, then the sites in [`SITES`] order.
    pub(crate) wireguard: [String; 5],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    /// New random secrets.
    pub(crate) fn generate() -> Result<Secrets, getrandom::Error> {
        let mut token = [0u8; 24];
        getrandom::fill(&mut token)?;
        let mut api = [0u8; 16];
        getrandom::fill(&mut api)?;
        let mut wireguard: [String; 5] = Default::default();
        for key in &mut wireguard {
            let mut k = [0u8; 32];
            getrandom::fill(&mut k)?;
            // X25519 clamping, as `wg genkey` does.
            k[0] &= 248;
            k[31] = (k[31] & 127) | 64;
            *key = base64::encode(&k);
        }
        Ok(Secrets {
            join_token: base64::encode(&token),
            api_token: hex::encode(&api),
            wireguard,
        })
    }

    /// Every secret string, to check that no evidence file contains one.
    pub(crate) fn all(&self) -> Vec<&str> {
        let mut all = vec![self.join_token.as_str(), self.api_token.as_str()];
        all.extend(self.wireguard.iter().map(String::as_str));
        all
    }
}

/// SHA-256 of the API token, as `[api].token_sha256` wants it.
fn token_sha256(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes()))
}

/// The settings every config shares.
pub(crate) struct Common<'a> {
    /// Hex owner public key (`owner.pub`).
    pub(crate) owner_pub: &'a str,
    /// The run's secrets.
    pub(crate) secrets: &'a Secrets,
    /// `Some(dir)`: write `state_dir = dir` into the config (when the daemon has no
    /// `--state-dir` flag).
    pub(crate) state_dir_in_config: Option<&'a Path>,
    /// Board string of the blobs.
    pub(crate) board: &'a str,
    /// Where the routers run.
    pub(crate) placement: Placement,
}

/// Where the routers run, which decides NIC matching, datapath, API address and hold time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// routerd processes in network namespaces: userspace datapath, API on the
    /// namespace's loopback, addresses added by the demo.
    Namespace,
    /// QEMU guests: NICs matched by MAC ([`wan_mac`], [`lan_mac`]), kernel datapath, API on
    /// the RR's underlay address and on each leaf's LAN address, the pve leaf's WAN
    /// address by DHCP from the NAT router.
    Guest,
}

impl Placement {
    /// The BGP hold time of every router.
    pub(crate) fn hold_time_secs(self) -> u64 {
        match self {
            Placement::Namespace => HOLD_TIME_SECS,
            Placement::Guest => GUEST_HOLD_TIME_SECS,
        }
    }

    fn datapath(self) -> &'static str {
        match self {
            Placement::Namespace => "userspace",
            Placement::Guest => "kernel",
        }
    }
}

/// The MAC of the WAN NIC of router `index` (0 the RR, 1-4 the sites) in the qemu flavour.
pub(crate) fn wan_mac(index: u8) -> String {
    format!("52:54:00:6e:{index:02x}:01")
}

/// The MAC of the site-LAN NIC of site `index` in the qemu flavour.
pub(crate) fn lan_mac(index: u8) -> String {
    format!("52:54:00:6e:{index:02x}:02")
}

/// `name = ...` plus, for guests, the MAC the NIC is matched by.
fn interface_head(c: &Common<'_>, name: &str, mac: String) -> String {
    match c.placement {
        Placement::Namespace => format!("name = \"{name}\"\n"),
        Placement::Guest => format!("name = \"{name}\"\nmac = \"{mac}\"\n"),
    }
}

fn header(out: &mut String, c: &Common<'_>, name: &str, mode: &str, router_id: Ipv4Addr) {
    let _ = writeln!(out, "trusted_keys = [\"{}\"]", c.owner_pub);
    if let Some(dir) = c.state_dir_in_config {
        let _ = writeln!(out, "state_dir = \"{}\"", dir.display());
    }
    let _ = write!(
        out,
        "\n[node]\nname = \"{name}\"\nmode = \"{mode}\"\nrouter_id = \"{router_id}\"\n\
         asn = {ASN}\nboard = \"{}\"\n",
        c.board
    );
}

/// The `[api]` section; for guests `bind` is the address the demo reaches the router
/// on and `allow` the demo's address there.
fn api_section(out: &mut String, c: &Common<'_>, guest_bind: Ipv4Addr, guest_allow: Ipv4Addr) {
    let (comment, bind, allow) = match c.placement {
        Placement::Namespace => (
            "on the loopback of the router's own namespace",
            API_ADDR.to_string(),
            "127.0.0.0/8".to_string(),
        ),
        Placement::Guest => (
            "on an address the demo reaches, for the demo's address only",
            format!("{guest_bind}:{GUEST_API_PORT}"),
            format!("{guest_allow}/32"),
        ),
    };
    let _ = write!(
        out,
        "\n# Status API {comment}.\n[api]\n\
         bind = [\"{bind}\"]\nallow_sources = [\"{allow}\"]\ntoken_sha256 = \"{}\"\n",
        token_sha256(&c.secrets.api_token)
    );
}

/// The route reflector's TOML: a dynamic range and an enrollment policy, no leaves.
pub(crate) fn rr_toml(c: &Common<'_>) -> String {
    let mut out = String::from(
        "# Route reflector of the demo fabric: leaves enroll at run time and become dynamic\n\
         # peers; no static claims, no per-leaf peers.\n",
    );
    header(&mut out, c, "rr", "rr", RR_TUNNEL);
    let _ = write!(
        out,
        r#"
[[interfaces]]
{wan}role = "underlay"
addresses = ["{RR_UNDERLAY}/24"]

[bgp]
listen_addresses = ["{RR_TUNNEL}"]
hold_time = {hold}
cluster_id = "{RR_TUNNEL}"

[[bgp.dynamic]]
prefix = "10.99.0.0/24"
max_peers = 16
template = {{ remote_as = {ASN}, rr_client = true, import = "leaf-routes", max_prefixes = 64 }}

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
listen_address = "{RR_UNDERLAY}"
listen_port = {ENROLLMENT_PORT}
tunnel_address = "{RR_TUNNEL}"

[[sam.rr.policies]]
name = "sites"
tunnel_prefix = "10.99.0.0/24"
client_prefixes = ["10.20.0.0/16"]
join_tokens = ["{token}"]
claim_ttl_secs = 86400
max_leaves = 16

[transport]
mode = "ipip+wireguard"
datapath = "{datapath}"

[transport.wireguard]
private_key = "{key}"
listen_port = 51820
address = "10.98.0.1"
"#,
        wan = interface_head(c, "wan0", wan_mac(0)),
        hold = c.placement.hold_time_secs(),
        datapath = c.placement.datapath(),
        token = c.secrets.join_token,
        key = c.secrets.wireguard[0],
    );
    api_section(&mut out, c, RR_UNDERLAY, LAB_UNDERLAY);
    out
}

/// A leaf's TOML: its claim (the client /32), the RR's enrollment endpoint, WireGuard.
pub(crate) fn leaf_toml(c: &Common<'_>, site: &Site, slot: usize) -> String {
    let mut out = format!(
        "# Leaf of site {}{}.\n",
        site.name,
        if site.behind_nat {
            " (behind NAT: no underlay endpoint in its claim, WireGuard keepalive)"
        } else {
            ""
        }
    );
    header(&mut out, c, &site.leaf_node(), "leaf", site.tunnel());
    let _ = write!(
        out,
        r#"
[[interfaces]]
{wan}role = "underlay"
{wan_address}

[[interfaces]]
{lan}role = "site"
addresses = ["{lan_address}/24"]
"#,
        wan = interface_head(c, "wan0", wan_mac(site.index)),
        wan_address = if site.behind_nat && c.placement == Placement::Guest {
            "dhcp4 = true".to_string()
        } else {
            format!("addresses = [\"{}/24\"]", site.underlay())
        },
        lan = interface_head(c, "lan0", lan_mac(site.index)),
        lan_address = site.lan_gateway(),
    );
    let _ = write!(
        out,
        r#"
[bgp]
hold_time = {hold}

[sam.leaf]
rr = [{{ enrollment = "{RR_UNDERLAY}:{ENROLLMENT_PORT}" }}]
join_token = "{token}"
leaf_id = "{name}"
policy = "sites"

[sam.leaf.claim]
tunnel_address = "{tunnel}"
owned = ["{client}/32"]
"#,
        hold = c.placement.hold_time_secs(),
        token = c.secrets.join_token,
        name = site.name,
        tunnel = site.tunnel(),
        client = site.client(),
    );
    if !site.behind_nat {
        let _ = writeln!(out, "underlay_endpoint = \"{}\"", site.underlay());
    }
    let _ = write!(
        out,
        "\n[transport]\nmode = \"ipip+wireguard\"\ndatapath = \"{}\"\n\n\
         [transport.wireguard]\nprivate_key = \"{}\"\nlisten_port = 51820\naddress = \"{}\"\n",
        c.placement.datapath(),
        c.secrets.wireguard[slot],
        site.wireguard()
    );
    if site.behind_nat {
        out.push_str("persistent_keepalive = 25\n");
    }
    api_section(&mut out, c, site.lan_gateway(), site.client());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(secrets: &Secrets) -> Common<'_> {
        Common {
            owner_pub: "a44f7370a8216e2b623e3e165439f862b3b56985657ddc5bbeb4ee8fc3203b79",
            secrets,
            state_dir_in_config: Some(Path::new("/tmp/demo-state")),
            board: "pve-x86_64",
            placement: Placement::Namespace,
        }
    }

    #[test]
    fn every_generated_config_validates() {
        let secrets = Secrets::generate().unwrap();
        let c = common(&secrets);
        let rr = rr_toml(&c);
        assert!(config::check_toml(&rr, "rr.toml").is_ok(), "{rr}");
        for (i, site) in SITES.iter().enumerate() {
            let leaf = leaf_toml(&c, site, i + 1);
            if let Err(problems) = config::check_toml(&leaf, "leaf.toml") {
                panic!("{leaf}\n{problems:?}");
            }
        }
    }

    #[test]
    fn guest_configs_validate_and_match_nics_by_mac() {
        let secrets = Secrets::generate().unwrap();
        let c = Common {
            placement: Placement::Guest,
            state_dir_in_config: None,
            ..common(&secrets)
        };
        let rr = rr_toml(&c);
        assert!(config::check_toml(&rr, "rr.toml").is_ok(), "{rr}");
        assert!(rr.contains(&wan_mac(0)) && rr.contains("datapath = \"kernel\""));
        assert!(rr.contains("bind = [\"203.0.113.10:7179\"]"), "{rr}");
        for (i, site) in SITES.iter().enumerate() {
            let leaf = leaf_toml(&c, site, i + 1);
            if let Err(problems) = config::check_toml(&leaf, "leaf.toml") {
                panic!("{leaf}\n{problems:?}");
            }
            assert!(leaf.contains(&lan_mac(site.index)), "{leaf}");
            assert_eq!(leaf.contains("dhcp4 = true"), site.behind_nat, "{leaf}");
            assert!(leaf.contains(&format!("allow_sources = [\"{}/32\"]", site.client())));
        }
    }

    #[test]
    fn only_the_nat_site_leaves_out_its_underlay_endpoint() {
        let secrets = Secrets::generate().unwrap();
        let c = common(&secrets);
        for (i, site) in SITES.iter().enumerate() {
            let leaf = leaf_toml(&c, site, i + 1);
            assert_eq!(leaf.contains("underlay_endpoint"), !site.behind_nat);
            assert_eq!(leaf.contains("persistent_keepalive = 25"), site.behind_nat);
        }
    }

    #[test]
    fn secrets_are_fresh_and_distinct() {
        let a = Secrets::generate().unwrap();
        let b = Secrets::generate().unwrap();
        assert_ne!(a.join_token, b.join_token);
        let mut keys = a.wireguard.to_vec();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 5);
        assert!(!format!("{a:?}").contains(&a.join_token));
    }
}
