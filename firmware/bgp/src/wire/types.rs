//! Representations of BGP messages: what the rest of the crate works with.
//! (Definitions only; parsing and emitting live in sibling modules.)

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Length of the fixed header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Largest message without RFC 8654 extended messages.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// AS_TRANS (RFC 6793): stands in for a 4-octet AS in 2-octet fields.
pub const AS_TRANS: u16 = 23456;

/// Address family identifier (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Afi {
    /// IPv4 (1).
    Ipv4,
    /// IPv6 (2).
    Ipv6,
    /// Any other value, kept for round trips.
    Other(u16),
}

/// Subsequent address family identifier (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Safi {
    /// Unicast (1).
    Unicast,
    /// Any other value, kept for round trips.
    Other(u8),
}

/// What the session negotiated; changes how UPDATEs are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseCtx {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
    /// The session is iBGP (LOCAL_PREF expected; affects RFC 7606 handling).
    pub internal: bool,
}

/// One BGP message.
// UPDATE is by far the most frequent message: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN (type 1).
    Open(Open),
    /// UPDATE (type 2).
    Update(Update),
    /// NOTIFICATION (type 3).
    Notification(Notification),
    /// KEEPALIVE (type 4).
    Keepalive,
    /// ROUTE-REFRESH (type 5, RFC 2918).
    RouteRefresh(RouteRefresh),
}

/// OPEN message (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Protocol version, 4.
    pub version: u8,
    /// The 2-octet "My Autonomous System" field (AS_TRANS when the real AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or >= 3).
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities (RFC 5492), in the order received.
    pub capabilities: Vec<Capability>,
}

/// A capability advertised in OPEN (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Multiprotocol extensions (code 1, RFC 4760).
    Multiprotocol(Afi, Safi),
    /// Route refresh (code 2, RFC 2918).
    RouteRefresh,
    /// Graceful restart (code 64, RFC 4724).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS numbers (code 65, RFC 6793), carrying the sender's real AS.
    FourOctetAs(u32),
    /// Anything else, kept verbatim.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

/// Graceful restart capability value (RFC 4724 §3, N bit from RFC 8538 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Restart State bit: the sender has restarted.
    pub restarting: bool,
    /// Notification bit (RFC 8538): the sender applies graceful restart to sessions
    /// that end with a NOTIFICATION other than Cease/Hard Reset.
    pub notification: bool,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Families with their Forwarding State bit.
    pub families: Vec<(Afi, Safi, bool)>,
}

/// UPDATE message (RFC 4271 §4.3) with IPv4 NLRI in the body and other families in
/// MP_REACH/MP_UNREACH (RFC 4760).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn IPv4 routes.
    pub withdrawn: Vec<Ipv4Net>,
    /// Path attributes (absent ones are `None`/empty).
    pub attrs: PathAttributes,
    /// Reachable IPv4 prefixes.
    pub nlri: Vec<Ipv4Net>,
    /// RFC 7606: set when an attribute error means every NLRI here must be treated as
    /// withdrawn; carries the reason for the log and counters.
    pub treat_as_withdraw: Option<AttrError>,
    /// RFC 7606: attributes dropped ("attribute discard") with their type code and reason.
    pub discarded: Vec<(u8, AttrError)>,
}

/// ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// IGP (0).
    Igp,
    /// EGP (1).
    Egp,
    /// INCOMPLETE (2).
    Incomplete,
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AsSegment {
    /// AS_SET (1).
    Set(Vec<u32>),
    /// AS_SEQUENCE (2).
    Sequence(Vec<u32>),
    /// AS_CONFED_SEQUENCE (3).
    ConfedSequence(Vec<u32>),
    /// AS_CONFED_SET (4).
    ConfedSet(Vec<u32>),
}

/// AGGREGATOR (type 7); the AS is always held as 4 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aggregator {
    /// Aggregating AS.
    pub asn: u32,
    /// Aggregating router's identifier.
    pub address: Ipv4Addr,
}

/// MP_REACH_NLRI (type 14) for IPv6 unicast.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MpReach {
    /// Global next hop.
    pub next_hop: Ipv6Addr,
    /// Link-local next hop when the length was 32.
    pub link_local: Option<Ipv6Addr>,
    /// Reachable IPv6 prefixes.
    pub nlri: Vec<Ipv6Net>,
}

/// An attribute this speaker does not interpret, passed on when transitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawAttribute {
    /// Flags as received (the Partial bit is set when re-advertised).
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// The path attributes of one UPDATE. AS numbers are always 4-octet here: on a
/// 2-octet session the parser merges AS4_PATH/AS4_AGGREGATOR (RFC 6793 §4.2.3) and the
/// emitter splits them again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PathAttributes {
    /// ORIGIN (type 1).
    pub origin: Option<Origin>,
    /// AS_PATH (type 2).
    pub as_path: Vec<AsSegment>,
    /// NEXT_HOP (type 3).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC (type 4).
    pub med: Option<u32>,
    /// LOCAL_PREF (type 5).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE (type 6).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (type 7).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (type 8, RFC 1997).
    pub communities: Vec<u32>,
    /// ORIGINATOR_ID (type 9, RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (type 10, RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
    /// MP_REACH_NLRI (type 14) for IPv6 unicast.
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI (type 15) for IPv6 unicast.
    pub mp_unreach: Vec<Ipv6Net>,
    /// Unrecognised optional transitive (and non-transitive, dropped on export) attributes.
    pub unknown: Vec<RawAttribute>,
}

/// Why an attribute was found malformed (RFC 7606 wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    /// Attribute length does not match its type.
    #[error("attribute type {0} has a bad length")]
    BadLength(u8),
    /// Flags conflict with the type's definition.
    #[error("attribute type {0} has bad flags")]
    BadFlags(u8),
    /// A well-known mandatory attribute is missing.
    #[error("missing well-known attribute type {0}")]
    Missing(u8),
    /// A value is invalid (for example ORIGIN 7 or a martian NEXT_HOP).
    #[error("attribute type {0} has an invalid value")]
    BadValue(u8),
    /// The AS_PATH is malformed.
    #[error("malformed AS_PATH")]
    MalformedAsPath,
    /// An attribute appeared twice.
    #[error("attribute type {0} appears more than once")]
    Duplicate(u8),
}

/// NOTIFICATION message (RFC 4271 §4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code (1..=6).
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data.
    pub data: Vec<u8>,
}

/// ROUTE-REFRESH message (RFC 2918).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRefresh {
    /// Family to refresh.
    pub afi: Afi,
    /// Sub-family to refresh.
    pub safi: Safi,
}

/// A message that must end the session: the NOTIFICATION to send says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (NOTIFICATION {code}/{subcode})", code = notification.code, subcode = notification.subcode)]
pub struct ParseError {
    /// The NOTIFICATION that the session sends before it closes.
    pub notification: Notification,
    /// Human-readable reason for logs.
    pub reason: String,
}
