//! The speaker: every session, the RIBs and reflection behind one sans-IO object.
//!
//! Call order (the drain contract):
//! 1. `handle_input(now, input)` or `handle_timeout(now)`;
//! 2. `poll_output()` until `None`, acting on each [`Output`];
//! 3. sleep until `poll_timeout()` or the next input.
//!
//! Connections are the daemon's: it opens TCP when asked ([`Output::Connect`]), reports
//! accepted and established connections with a [`ConnId`] it chooses, passes received
//! bytes in arbitrary chunks (the speaker frames them), and closes when asked.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::policy::Policy;
use crate::wire::PathAttributes;

/// A TCP connection, numbered by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Speaker-wide settings.
#[derive(Debug, Clone)]
pub struct SpeakerConfig {
    /// Local AS (4-octet capable).
    pub local_as: u32,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Route-reflector cluster id; `None` means "not a reflector" unless a peer is an
    /// rr-client, in which case the router id is used.
    pub cluster_id: Option<Ipv4Addr>,
    /// Addresses of this router: never admitted as peers.
    pub local_addresses: Vec<IpAddr>,
    /// Routing multiple equal paths into the FIB (ECMP), by next hop.
    pub multipath: bool,
}

/// Internal (iBGP) or external (eBGP) session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Same AS.
    Internal,
    /// Different AS; `remote_as` must be set.
    External,
}

/// What to do when a peer sends more prefixes than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxPrefixAction {
    /// Log and keep going (extra prefixes are still accepted).
    Warn,
    /// Send Cease/Maximum Number of Prefixes Reached (RFC 4486) and close; retry after
    /// the given idle time.
    Shutdown(Duration),
}

/// Settings of one peer, or the template of a dynamic range.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Remote address (ignored for templates).
    pub remote: IpAddr,
    /// TCP port to connect to.
    pub port: u16,
    /// Remote AS; `None` = same as local (internal).
    pub remote_as: Option<u32>,
    /// Local address to connect from, if any.
    pub local: Option<IpAddr>,
    /// Internal or external.
    pub kind: PeerKind,
    /// Treat as a route-reflector client (RFC 4456).
    pub rr_client: bool,
    /// Never connect; only accept.
    pub passive: bool,
    /// Proposed hold time (seconds).
    pub hold_time: u16,
    /// Connect-retry time.
    pub connect_retry: Duration,
    /// Rewrite NEXT_HOP to our own address on export.
    pub next_hop_self: bool,
    /// Import policy (applied to received routes).
    pub import: Policy,
    /// Export policy (applied to advertised routes).
    pub export: Policy,
    /// Maximum accepted prefixes and what happens above it.
    pub max_prefix: Option<(u32, MaxPrefixAction)>,
}

/// A listen range: sessions from any source inside `prefix` are admitted with `template`.
#[derive(Debug, Clone)]
pub struct DynamicRange {
    /// Name for status and logs.
    pub name: String,
    /// Source prefix.
    pub prefix: IpNet,
    /// Settings applied to admitted peers.
    pub template: PeerConfig,
    /// Maximum simultaneous dynamic peers from this range.
    pub max_peers: usize,
}

/// An input to the speaker.
#[derive(Debug)]
pub enum Input<'a> {
    /// Add (or replace) a configured peer.
    AddPeer(PeerConfig),
    /// Remove a configured peer (Cease/Peer De-configured, routes withdrawn).
    RemovePeer(IpAddr),
    /// Add a dynamic listen range.
    AddRange(DynamicRange),
    /// Replace the import policy of a peer (configured or dynamic) and re-evaluate its
    /// Adj-RIB-In.
    SetImportPolicy {
        /// Peer address.
        peer: IpAddr,
        /// New policy.
        policy: Policy,
    },
    /// Originate a prefix from this router.
    Announce {
        /// The prefix.
        prefix: IpNet,
        /// Attributes (ORIGIN, communities, ...; NEXT_HOP defaults to self on export).
        attrs: PathAttributes,
    },
    /// Stop originating a prefix.
    Withdraw(IpNet),
    /// An incoming TCP connection was accepted.
    Accepted {
        /// Daemon's id for it.
        conn: ConnId,
        /// Remote address and port.
        remote: SocketAddr,
        /// Local address and port.
        local: SocketAddr,
    },
    /// An outgoing connection asked for by [`Output::Connect`] succeeded.
    Connected {
        /// The peer it was for.
        peer: IpAddr,
        /// Daemon's id for it.
        conn: ConnId,
        /// Local address and port actually used.
        local: SocketAddr,
    },
    /// An outgoing connection attempt failed.
    ConnectFailed {
        /// The peer it was for.
        peer: IpAddr,
    },
    /// Bytes arrived on a connection (any chunking).
    Received {
        /// Connection.
        conn: ConnId,
        /// The bytes.
        data: &'a [u8],
    },
    /// The connection closed or failed.
    Closed {
        /// Connection.
        conn: ConnId,
    },
    /// Administrative shutdown: Cease/Administrative Shutdown to every peer.
    Shutdown,
}

pub use crate::rib::FibChange;

/// A state change worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A peer's FSM changed state.
    PeerState {
        /// Peer.
        peer: IpAddr,
        /// New state.
        state: crate::session::State,
    },
    /// A dynamic peer was admitted from a range.
    PeerAdmitted {
        /// Peer.
        peer: IpAddr,
        /// Range name.
        range: String,
    },
    /// A dynamic peer went away (session ended).
    PeerRemoved {
        /// Peer.
        peer: IpAddr,
    },
    /// An incoming connection was refused.
    Refused {
        /// Source.
        remote: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A NOTIFICATION was sent or received.
    Notification {
        /// Peer.
        peer: IpAddr,
        /// True when we sent it.
        sent: bool,
        /// Code.
        code: u8,
        /// Subcode.
        subcode: u8,
    },
}

/// An action for the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer and report [`Input::Connected`] or
    /// [`Input::ConnectFailed`].
    Connect {
        /// Peer.
        peer: IpAddr,
        /// Where to connect.
        remote: SocketAddr,
        /// Bind to this local address first.
        local: Option<IpAddr>,
    },
    /// Write bytes to a connection.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// One or more whole messages.
        bytes: Vec<u8>,
    },
    /// Close a connection (after writing what was queued).
    Close {
        /// Connection.
        conn: ConnId,
    },
    /// Forwarding table change.
    Fib(FibChange),
    /// Status event.
    Event(Event),
}

/// Per-peer status, computed in O(1) per peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerStatus {
    /// Peer address.
    pub address: IpAddr,
    /// Remote AS (once known).
    pub remote_as: Option<u32>,
    /// FSM state name.
    pub state: String,
    /// Dynamic range name, if dynamic.
    pub dynamic: Option<String>,
    /// Seconds in Established (0 otherwise).
    pub uptime_secs: u64,
    /// Prefixes in Adj-RIB-In.
    pub received: u64,
    /// Prefixes accepted by import policy.
    pub accepted: u64,
    /// Rejected prefixes by reason.
    pub rejected: Vec<(String, u64)>,
    /// Prefixes advertised.
    pub advertised: u64,
    /// Last error (NOTIFICATION or connection failure), if any.
    pub last_error: Option<String>,
}

/// The BGP speaker.
#[derive(Debug)]
pub struct Speaker {
    _private: (),
}

impl Speaker {
    /// A speaker with no peers.
    pub fn new(_config: SpeakerConfig) -> Self {
        Speaker { _private: () }
    }
    /// Feed one input at time `now`.
    pub fn handle_input(&mut self, _now: Instant, _input: Input<'_>) {}
    /// Timers due at or before `now` fire.
    pub fn handle_timeout(&mut self, _now: Instant) {}
    /// Next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        None
    }
    /// Earliest deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Status of every peer (O(peers)).
    pub fn peers(&self) -> Vec<PeerStatus> {
        Vec::new()
    }
    /// Number of prefixes in the Loc-RIB.
    pub fn loc_rib_len(&self) -> usize {
        0
    }
}
