//! `/v1/routes`: the router's routes, asked of the core.
//!
//! Two questions share the path:
//! - `?prefix=P` alone ([`RouteQuery::Explain`], answer [`RouteView`]): every path the
//!   router holds for exactly `P`, best first, with the decision step at which each other
//!   path lost; O(paths of that prefix).
//! - `?limit=N`, `?after=A` and/or no `prefix` ([`RouteQuery::List`], answer
//!   [`RouteListing`]): the best path of every prefix inside `prefix` (when given), in a
//!   stable order (IPv4 before IPv6, then address, then length), at most `N` per page
//!   (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]); [`RouteListing::next`] is the
//!   `after` of the next page. One page costs the core one pass over the Loc-RIB keeping
//!   at most `N + 1` prefixes.
//!
//! Unlike the other endpoints these ask the core: the handler sends a [`RouteQuery`]
//! on a bounded channel and waits (with a deadline) for the answer. The core answers
//! between two inputs, so a query holds up routing for one bounded lookup at most.

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
    /// One page of best paths.
    List {
        /// Only prefixes inside this one (itself included).
        within: Option<ipnet::IpNet>,
        /// Only prefixes after this one in the listing order.
        after: Option<ipnet::IpNet>,
        /// Page size, 1..=[`MAX_PAGE`].
        limit: usize,
        /// Where the answer goes.
        reply: oneshot::Sender<RouteListing>,
    },
}

/// Page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page served; larger `limit`s are answered `400`.
pub const MAX_PAGE: usize = 1000;

/// Answer of `/v1/routes?limit=N[&prefix=P][&after=A]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteListing {
    /// The page's prefixes in listing order, each with its best path.
    pub routes: Vec<ListedRoute>,
    /// The `after` of the next page; `None` on the last page.
    pub next: Option<String>,
}

/// One prefix of a [`RouteListing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedRoute {
    /// The prefix.
    pub prefix: String,
    /// Its best path.
    pub best: PathView,
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
