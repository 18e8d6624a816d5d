//! BGP part of the schema: listen settings, static peers, dynamic listen ranges and
//! named policies.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::scalars::{Community, IfName, Name, ReasonText};

/// The well-known BGP port.
pub const BGP_PORT: u16 = 179;
/// Default hold time in seconds (RFC 4271 §10 suggests 90).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// The kernel's main routing table.
pub const MAIN_TABLE: u32 = 254;

fn bgp_port() -> u16 {
    BGP_PORT
}
fn hold_time() -> u16 {
    DEFAULT_HOLD_TIME
}
fn main_table() -> u32 {
    MAIN_TABLE
}

/// The BGP speaker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bgp {
    /// TCP port to listen on (default 179).
    #[serde(default = "bgp_port")]
    pub listen_port: u16,
    /// Addresses to listen on; none means routerd does not accept sessions (leaves).
    #[serde(default)]
    pub listen_addresses: Vec<IpAddr>,
    /// Proposed hold time in seconds: 0 (no keepalives) or 3..=65535 (default 90).
    #[serde(default = "hold_time")]
    pub hold_time: u16,
    /// Route-reflector cluster id (RFC 4456); the router id when unset.
    #[serde(default)]
    pub cluster_id: Option<Ipv4Addr>,
    /// Kernel routing table for learned routes (default 254, main); 0: learned routes
    /// are not installed in the kernel (a route reflector that only reflects).
    #[serde(default = "main_table")]
    pub kernel_table: u32,
    /// Device learned routes point at (e.g. the tunnel); chosen per route when unset.
    #[serde(default)]
    pub kernel_device: Option<IfName>,
    /// Statically configured peers.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Dynamic listen ranges: sessions from these prefixes are accepted as peers.
    #[serde(default)]
    pub dynamic: Vec<DynamicRange>,
    /// Named route policies referenced by peers and templates.
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Prefixes this router originates into BGP (plain BGP; a SAM leaf announces its
    /// claim's /32s on top of these).
    #[serde(default)]
    pub networks: Vec<IpNet>,
}

impl Default for Bgp {
    fn default() -> Self {
        Bgp {
            listen_port: BGP_PORT,
            listen_addresses: Vec::new(),
            hold_time: DEFAULT_HOLD_TIME,
            cluster_id: None,
            kernel_table: MAIN_TABLE,
            kernel_device: None,
            peers: Vec::new(),
            dynamic: Vec::new(),
            policies: Vec::new(),
            networks: Vec::new(),
        }
    }
}

/// A statically configured BGP peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's AS number.
    pub remote_as: u32,
    /// Treat the peer as a route-reflector client (RFC 4456).
    #[serde(default)]
    pub rr_client: bool,
    /// Never connect; only accept the peer's connection.
    #[serde(default)]
    pub passive: bool,
    /// Set NEXT_HOP to our own address on routes sent to this peer.
    #[serde(default)]
    pub next_hop_self: bool,
    /// Import policy name; everything is accepted when unset.
    #[serde(default)]
    pub import: Option<Name>,
    /// Export policy name; everything is sent when unset.
    #[serde(default)]
    pub export: Option<Name>,
    /// Tear the session down when the peer sends more prefixes than this.
    #[serde(default)]
    pub max_prefixes: Option<u32>,
}

impl Peer {
    /// The per-peer settings of this peer, in the form dynamic ranges use.
    pub fn template(&self) -> PeerTemplate {
        PeerTemplate {
            remote_as: self.remote_as,
            rr_client: self.rr_client,
            passive: self.passive,
            next_hop_self: self.next_hop_self,
            import: self.import.clone(),
            export: self.export.clone(),
            max_prefixes: self.max_prefixes,
        }
    }
}

/// Settings applied to every peer accepted from a dynamic listen range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerTemplate {
    /// The peers' AS number.
    pub remote_as: u32,
    /// Treat the peers as route-reflector clients.
    #[serde(default)]
    pub rr_client: bool,
    /// Never connect to them (dynamic peers always connect to us).
    #[serde(default = "yes")]
    pub passive: bool,
    /// Set NEXT_HOP to our own address on routes sent to them.
    #[serde(default)]
    pub next_hop_self: bool,
    /// Import policy name.
    #[serde(default)]
    pub import: Option<Name>,
    /// Export policy name.
    #[serde(default)]
    pub export: Option<Name>,
    /// Per-session prefix limit.
    #[serde(default)]
    pub max_prefixes: Option<u32>,
}

fn yes() -> bool {
    true
}

/// A dynamic listen range: a session whose source address is inside `prefix` is
/// accepted as a peer with the settings of `template`, up to `max_peers` at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicRange {
    /// Source prefix admitted (host bits zero).
    pub prefix: IpNet,
    /// Settings of each admitted peer.
    pub template: PeerTemplate,
    /// Maximum simultaneous peers from this range (1..=4096).
    pub max_peers: u16,
}

/// A named route policy: rules are tried in order; the first match decides; when no
/// rule matches, `default_action` applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Name referenced by `import` / `export`.
    pub name: Name,
    /// Rules, tried in order.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// What happens to a route no rule matched (default reject).
    #[serde(default = "reject")]
    pub default_action: Action,
}

fn reject() -> Action {
    Action::Reject
}

/// One policy rule. A route matches when it matches one of `prefixes` (or `prefixes` is
/// empty) and carries one of `communities` (or `communities` is empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Prefix-list entries.
    #[serde(default)]
    pub prefixes: Vec<PrefixMatch>,
    /// Community match: any of these present.
    #[serde(default)]
    pub communities: Vec<Community>,
    /// Accept or reject a matching route.
    pub action: Action,
    /// Communities added to an accepted route.
    #[serde(default)]
    pub add_communities: Vec<Community>,
    /// Communities removed from an accepted route.
    #[serde(default)]
    pub remove_communities: Vec<Community>,
    /// Set NEXT_HOP to our own address on an accepted route.
    #[serde(default)]
    pub next_hop_self: bool,
    /// Reason counted and shown in status for a rejected route.
    #[serde(default)]
    pub reject_reason: Option<ReasonText>,
}

/// A prefix-list entry: routes inside `prefix` whose length is within `ge..=le`
/// (both default to the prefix's own length, i.e. an exact match).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixMatch {
    /// Covering prefix (host bits zero).
    pub prefix: IpNet,
    /// Minimum route prefix length.
    #[serde(default)]
    pub ge: Option<u8>,
    /// Maximum route prefix length.
    #[serde(default)]
    pub le: Option<u8>,
}

impl PrefixMatch {
    /// The inclusive range of prefix lengths this entry matches.
    pub fn length_range(&self) -> (u8, u8) {
        let own = self.prefix.prefix_len();
        let ge = self.ge.unwrap_or(own);
        let le = self.le.unwrap_or(if self.ge.is_some() {
            self.prefix.max_prefix_len()
        } else {
            own
        });
        (ge, le)
    }

    /// Whether `route` matches this entry.
    pub fn matches(&self, route: &IpNet) -> bool {
        let (ge, le) = self.length_range();
        self.prefix.contains(route) && (ge..=le).contains(&route.prefix_len())
    }
}

/// A policy verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Accept the route.
    Accept,
    /// Reject the route.
    Reject,
}
