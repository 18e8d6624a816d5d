//! `/v1/routes?prefix=P`: every path the router holds for one prefix, best first, with the
//! decision step at which each other path lost.
//!
//! Unlike the other endpoints this one asks the core: the handler sends a [`RouteQuery`]
//! on a bounded channel and waits (with a deadline) for the answer. The core answers
//! between two inputs at a cost of O(paths of that prefix), so a query never holds up
//! routing for longer than one lookup.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// A question for the core.
#[derive(Debug)]
pub enum RouteQuery {
    /// Every path of `prefix`.
    Explain {
        /// The prefix, e.g. `198.51.100.11/32`.
        prefix: ipnet::IpNet,
        /// Where the answer goes.
        reply: oneshot::Sender<RouteView>,
    },
}

/// Answer of `/v1/routes?prefix=P`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// The prefix asked about.
    pub prefix: String,
    /// Its paths in the Loc-RIB, best first; empty when the router has none.
    pub paths: Vec<PathView>,
}

/// One path of a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathView {
    /// The peer it came from; `None` for a route this router originates.
    pub from: Option<IpAddr>,
    /// It is the best path (installed and advertised).
    pub best: bool,
    /// For the others: the decision step at which it lost (`local-pref`, ...).
    pub lost_at: Option<String>,
    /// NEXT_HOP (IPv4) or the MP_REACH next hop (IPv6).
    pub next_hop: Option<IpAddr>,
    /// AS_PATH, written as BGP tools do (`65001 65002 {65003,65004}`).
    pub as_path: String,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// COMMUNITIES as `high:low`.
    pub communities: Vec<String>,
    /// ORIGINATOR_ID (RFC 4456).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456).
    pub cluster_list: Vec<Ipv4Addr>,
}
