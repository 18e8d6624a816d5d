//! The configuration schema: one document for both router modes (leaf and RR).
//!
//! Operators write it in TOML (see `examples/leaf.toml`, `examples/rr.toml` and
//! `docs/config.md`); the signed blob carries the same structure encoded with postcard.
//! Every struct refuses unknown fields, so a misspelt key is an error, not a silent
//! default. Deserializing only checks shapes and bounds that types can express
//! (an interface name longer than 15 bytes does not fit [`IfName`]); every rule that
//! relates fields to each other lives in [`crate::validate`].
//!
//! Serde attributes are limited to what postcard supports: no `skip_serializing_if`, no
//! untagged or internally tagged enums, no `flatten`.

mod bgp;
mod sam;
mod scalars;
mod transport;

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use bgp::{
    Action, BGP_PORT, Bgp, DEFAULT_HOLD_TIME, DynamicRange, MAIN_TABLE, Peer, PeerTemplate, Policy,
    PolicyRule, PrefixMatch,
};
pub use sam::{
    Claim, DEFAULT_ENROLLMENT_PORT, DEFAULT_MAX_CLOCK_SKEW_SECS, OtherRr, RrEndpoint, Sam, SamLeaf,
    SamPolicy, SamRr,
};
pub use scalars::{
    BoardName, Community, IfName, JoinToken, MacAddr, Name, PathText, ReasonText, Secret,
    Sha256Digest, TrustedKey, WgKey,
};
pub use transport::{
    Api, DEFAULT_API_RATE_BURST, DEFAULT_API_RATE_PER_SECOND, DEFAULT_TRY_REVERT_SECS,
    DEFAULT_WIREGUARD_PORT, Datapath, MAX_API_RATE, Transport, TransportMode, WireGuard,
};

/// A complete router configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Public keys allowed to sign the *next* config blob (key rotation: the set in a
    /// verified config becomes the trust set for the blob that replaces it).
    pub trusted_keys: Vec<TrustedKey>,
    /// Where routerd keeps its state (enrollment, last applied serial) on a plain Linux
    /// host; images use their state partition and leave this unset.
    #[serde(default)]
    pub state_dir: Option<PathText>,
    /// Identity and mode of this router.
    pub node: Node,
    /// Network interfaces routerd configures or uses.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Static routes installed in the main table.
    #[serde(default)]
    pub routes: Vec<StaticRoute>,
    /// The BGP speaker.
    #[serde(default)]
    pub bgp: Bgp,
    /// Selective address mobility: leaf enrollment or RR enrollment service.
    #[serde(default)]
    pub sam: Sam,
    /// Tunnel transport between leaves and RRs.
    #[serde(default)]
    pub transport: Transport,
    /// The control and status API; off when absent.
    #[serde(default)]
    pub api: Option<Api>,
}

impl Config {
    /// The router's mode.
    pub fn mode(&self) -> Mode {
        self.node.mode
    }

    /// The route-reflector cluster id: `bgp.cluster_id`, or the router id when unset.
    pub fn cluster_id(&self) -> Ipv4Addr {
        self.bgp.cluster_id.unwrap_or(self.node.router_id)
    }
}

/// Identity of this router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Host name (letters, digits, `-`, `.`).
    pub name: Name,
    /// Leaf or route reflector.
    pub mode: Mode,
    /// BGP router id; must not be 0.0.0.0.
    pub router_id: Ipv4Addr,
    /// Autonomous system number (1..=4294967294, not 23456).
    pub asn: u32,
    /// Board compatibility string; a blob only boots on a board with this string.
    pub board: BoardName,
}

/// The router's role in the SAM fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A site router: enrolls with the RRs and advertises its claim's /32s.
    Leaf,
    /// A route reflector: admits enrolled leaves as dynamic BGP peers.
    Rr,
}

impl core::fmt::Display for Mode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Mode::Leaf => "leaf",
            Mode::Rr => "rr",
        })
    }
}

/// One network interface.
///
/// routerd matches the link by `mac` when given (and renames it to `name`), else by
/// `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Kernel interface name (at most 15 bytes).
    pub name: IfName,
    /// Match the link by this MAC address instead of its current name.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// What the interface is for.
    pub role: Role,
    /// Static addresses with prefix length, e.g. `203.0.113.2/24`.
    #[serde(default)]
    pub addresses: Vec<IpNet>,
    /// Obtain an IPv4 address with DHCP (underlay only; excludes static addresses).
    #[serde(default)]
    pub dhcp4: bool,
    /// Link MTU (576..=9216); the kernel default when unset.
    #[serde(default)]
    pub mtu: Option<u16>,
}

/// What an interface is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The WAN / transport network that carries the tunnels.
    Underlay,
    /// The site LAN whose clients own the mobile /32s.
    Site,
    /// Out-of-band management (the control API usually binds here).
    Management,
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// Destination prefix; host bits must be zero.
    pub prefix: IpNet,
    /// Gateway address.
    #[serde(default)]
    pub via: Option<IpAddr>,
    /// Output interface; must name an entry of `interfaces` when given.
    #[serde(default)]
    pub device: Option<IfName>,
    /// Route metric.
    #[serde(default)]
    pub metric: Option<u32>,
}
