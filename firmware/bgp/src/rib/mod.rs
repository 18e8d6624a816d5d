//! Routing information bases, designed for a million routes.
//!
//! - [`intern`]: attribute sets are interned (`Arc<PathAttributes>` in a hash set), so
//!   the many prefixes sharing one set share one allocation and compare by pointer.
//! - [`adj_in`]: Adj-RIB-In of one peer: every received route with its import verdict,
//!   kept so that a new import policy can re-evaluate it; counters kept incrementally.
//!   A route accepted unchanged is the peer's Loc-RIB path alone (no second table).
//! - [`decision`]: the RFC 4271 §9.1.2 decision process with the RFC 4456 tie-breaks,
//!   naming the step at which a path lost.
//! - [`loc`]: Loc-RIB: every accepted path per prefix, best first; reports which
//!   prefixes changed best path (for export) and which changed forwarding (for the FIB).
//! - [`prefix_hash`]: the keyed hash of the prefix tables (peers choose prefixes).
//! - [`prefix_map`]: prefix → value; IPv4 prefixes in blocks of neighbours
//!   ([`prefix_blocks`]), so that a table far larger than the caches is still read and
//!   written a cache line at a time when UPDATEs carry neighbouring prefixes.
//! - [`prefix_set`]: prefix sets (membership only) and lists of marked prefixes.
//! - [`adj_out`]: Adj-RIB-Out of one peer: which prefixes were advertised and which
//!   changed since; the routes sent are worked out from the Loc-RIB at send time and
//!   grouped by attribute set so that one UPDATE carries many prefixes.
//!
//! Per prefix the hot path allocates nothing beyond map entries: paths hold an interned
//! `Arc`, and a prefix with a single path stores it inline.

pub mod adj_in;
#[cfg(test)]
mod adj_in_model;
pub mod adj_out;
pub mod decision;
pub mod intern;
pub mod loc;
pub mod prefix_blocks;
pub mod prefix_hash;
pub mod prefix_map;
pub mod prefix_set;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::reflect::Role;
use crate::wire::PathAttributes;

/// An interned attribute set.
pub type Attrs = Arc<PathAttributes>;

/// Where a path came from: 0 is this router, other values are peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

impl SourceId {
    /// Locally originated routes.
    pub const LOCAL: SourceId = SourceId(0);
}

/// What the decision process needs to know about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceInfo {
    /// Local, eBGP, iBGP client or non-client.
    pub role: Role,
    /// The source's BGP identifier (ours for local routes).
    pub router_id: Ipv4Addr,
    /// The peer address (`None` for local routes).
    pub address: Option<IpAddr>,
}

/// A change to the forwarding table (best path's forwarding part only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FibChange {
    /// Install or replace.
    Replace {
        /// Destination.
        prefix: IpNet,
        /// Next hops (more than one with multipath).
        next_hops: Vec<IpAddr>,
    },
    /// Remove.
    Withdraw {
        /// Destination.
        prefix: IpNet,
    },
}

/// The next hop a route forwards to: the MP_REACH next hop for IPv6 routes, NEXT_HOP
/// otherwise.
pub fn next_hop_of(attrs: &PathAttributes) -> Option<IpAddr> {
    match &attrs.mp_reach {
        Some(mp) => Some(IpAddr::V6(mp.next_hop)),
        None => attrs.next_hop.map(IpAddr::V4),
    }
}
