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
//!
//! Inside, the work is split by concern: `peer` (per-peer state and status), `fsm`
//! (peer-level Idle/Connect/Active, timers, backoff), `conns` (connections, collision
//! detection, session up/down),
//! `admission` (dynamic peers and refusals), `receive` (framing, messages, UPDATE
//! import, max-prefix), `export` (Adj-RIB-Out, reflection, UPDATE packing), `graceful`
//! (helper side of graceful restart), `deferral` (selection deferral after our restart).
//! Every `handle_*` call ends with a flush: Loc-RIB changes become FIB outputs and
//! UPDATEs to every Established peer.

mod admission;
mod conns;
mod deferral;
mod export;
mod fsm;
mod graceful;
mod listing;
mod peer;
mod receive;
mod timers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::policy::Policy;
use crate::reflect::Role;
use crate::rib::intern::Interner;
use crate::rib::loc::LocRib;
use crate::rib::{Attrs, SourceId, SourceInfo};
use crate::session::backoff::BackoffConfig;
pub use crate::session::open::GracefulRestartConfig;
use crate::wire::PathAttributes;
pub use deferral::SELECTION_DEFERRAL_TIME;
pub use listing::RoutePage;

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
    /// Received prefixes kept stale while the peer restarts (RFC 4724), included in
    /// `received`.
    pub stale: u64,
    /// Last error (NOTIFICATION or connection failure), if any.
    pub last_error: Option<String>,
}

/// One path of a prefix in the Loc-RIB, as reported by [`Speaker::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathReport {
    /// The peer it came from; `None` for a locally originated route.
    pub peer: Option<IpAddr>,
    /// Its attributes after import policy.
    pub attrs: PathAttributes,
    /// It is the best path.
    pub best: bool,
    /// For the others: the decision step at which it lost to the best path
    /// (`local-pref`, `as-path-length`, ..., `peer-address`).
    pub lost_at: Option<&'static str>,
}

/// The BGP speaker.
#[derive(Debug)]
pub struct Speaker {
    config: SpeakerConfig,
    backoff: BackoffConfig,
    graceful_restart: GracefulRestartConfig,
    /// While `graceful_restart.restarting`: the end of the restart, set by the first OPEN.
    restart_ends: Option<Instant>,
    /// Route export held back until expected peers are back (RFC 4724 §4.1).
    deferral: Option<deferral::Deferral>,
    now: Option<Instant>,
    /// Peer slots; slot `i` is route source `i + 1`.
    peers: Vec<Option<peer::Peer>>,
    by_addr: HashMap<IpAddr, usize>,
    conns: HashMap<ConnId, conns::Conn>,
    /// Every connection's FSM deadline (hold, keepalive), earliest first: kept in step by
    /// `conns::refile_timer` wherever an FSM may change it, so that finding the next
    /// deadline and the due connections costs O(log n), not a scan of every connection
    /// per event (a thousand sessions' keepalives are some 70 events a second).
    conn_timers: timers::TimerIndex<ConnId>,
    /// Every peer's earliest deadline, earliest first (see `timers`).
    peer_timers: timers::TimerIndex<usize>,
    ranges: Vec<admission::Range>,
    dynamic_policies: HashMap<IpAddr, Policy>,
    /// Dynamic sources refused until the given time (after a max-prefix shutdown).
    held_down: HashMap<IpAddr, Instant>,
    refusals: BTreeMap<String, u64>,
    interner: Interner,
    loc: LocRib,
    /// Least time between two UPDATE batches to one peer (zero: every flush sends).
    export_interval: Duration,
    /// With [`Speaker::set_scaled_export_interval`]: the interval per Established peer,
    /// `export_interval` being the most.
    export_interval_per_peer: Option<Duration>,
    /// Most UPDATE octets one flush produces (zero: no limit); see `export`.
    export_budget: usize,
    /// The established peer the next budgeted flush starts with (round robin).
    export_cursor: usize,
    reflector: bool,
    shut_down: bool,
    out: VecDeque<Output>,
}

impl Speaker {
    /// A speaker with no peers.
    pub fn new(config: SpeakerConfig) -> Self {
        let mut loc = LocRib::new(config.multipath);
        loc.set_source(
            SourceId::LOCAL,
            SourceInfo {
                role: Role::Local,
                router_id: config.router_id,
                address: None,
            },
        );
        Speaker {
            reflector: config.cluster_id.is_some(),
            config,
            backoff: BackoffConfig::default(),
            graceful_restart: GracefulRestartConfig::default(),
            restart_ends: None,
            deferral: None,
            now: None,
            peers: Vec::new(),
            by_addr: HashMap::new(),
            conns: HashMap::new(),
            conn_timers: timers::TimerIndex::default(),
            peer_timers: timers::TimerIndex::default(),
            ranges: Vec::new(),
            dynamic_policies: HashMap::new(),
            held_down: HashMap::new(),
            refusals: BTreeMap::new(),
            interner: Interner::new(),
            loc,
            export_interval: Duration::ZERO,
            export_interval_per_peer: None,
            export_budget: 0,
            export_cursor: 0,
            shut_down: false,
            out: VecDeque::new(),
        }
    }

    /// Replace the idle-hold backoff settings (applies to peers added afterwards).
    pub fn set_backoff(&mut self, backoff: BackoffConfig) {
        self.backoff = backoff;
    }

    /// Replace what our graceful restart capability advertises (RFC 4724): restart time,
    /// Restart State (sent in the OPENs of the first restart time after the first one),
    /// Forwarding State. Applies to OPENs sent afterwards.
    pub fn set_graceful_restart(&mut self, graceful_restart: GracefulRestartConfig) {
        self.graceful_restart = graceful_restart;
        self.restart_ends = None;
    }

    /// Feed one input at time `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = Some(now);
        // The peer an input is about, for the timer index.
        let concerns = match &input {
            Input::Received { conn, .. } | Input::Closed { conn } => self
                .conns
                .get(conn)
                .map_or(timers::Concerns::Nobody, |c| timers::Concerns::Peer(c.peer)),
            Input::Accepted { remote, .. } => timers::Concerns::Address(remote.ip()),
            Input::Connected { peer, .. } | Input::ConnectFailed { peer } => {
                timers::Concerns::Address(*peer)
            }
            _ => timers::Concerns::Everyone,
        };
        match input {
            Input::AddPeer(cfg) => self.add_peer(now, cfg),
            Input::RemovePeer(addr) => self.remove_peer(now, addr),
            Input::AddRange(range) => self.add_range(range),
            Input::SetImportPolicy { peer, policy } => self.set_import_policy(peer, policy),
            Input::Announce { prefix, attrs } => self.announce(prefix, attrs),
            Input::Withdraw(prefix) => self.loc.update(prefix.trunc(), SourceId::LOCAL, None),
            Input::Accepted {
                conn,
                remote,
                local,
            } => self.accepted(now, conn, remote, local),
            Input::Connected { peer, conn, local } => self.connected(now, peer, conn, local),
            Input::ConnectFailed { peer } => self.connect_failed(peer),
            Input::Received { conn, data } => self.received(now, conn, data),
            Input::Closed { conn } => self.closed(now, conn),
            Input::Shutdown => self.shutdown(now),
        }
        self.flush();
        self.refile(concerns);
    }

    /// Timers due at or before `now` fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.deferral_timer(now);
        let touched = self.fire_timers(now);
        self.flush();
        for idx in touched {
            self.refile_peer(idx);
        }
    }

    /// Next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Earliest deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        debug_assert_eq!(
            self.conn_timers.first(),
            self.conns.values().filter_map(|c| c.fsm.deadline()).min(),
            "the connection timer index is in step with the FSMs"
        );
        let peers = self.next_peer_deadline();
        let conns = self.conn_timers.first();
        let deferral = self.deferral.as_ref().map(|d| d.until);
        peers.into_iter().chain(conns).chain(deferral).min()
    }

    /// Status of every peer (O(peers)).
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .flatten()
            .map(|p| p.status(self.now, &self.ranges))
            .collect()
    }

    /// Whether best-path changes come out as [`Output::Fib`] (default on). A router that
    /// installs no routes turns it off, and the forwarding part of each change is then
    /// not computed; export to peers is unchanged.
    pub fn set_fib_output(&mut self, on: bool) {
        self.loc.set_fib_output(on);
    }

    /// Least time between two batches of UPDATEs to one peer (default zero: each input's
    /// changes go out at once). A change after a quiet interval still goes out at once;
    /// changes during a burst (a thousand peers announcing) collect for up to `interval`
    /// and go out together, in as few UPDATEs as their attribute sets allow.
    pub fn set_export_interval(&mut self, interval: Duration) {
        self.export_interval = interval;
        self.export_interval_per_peer = None;
    }

    /// An export interval that grows with the fan-out: `per_peer` for each Established
    /// peer, at most `max`. A burst's cost is a flush per input over every peer, so with
    /// few peers changes go out at once (the interval is microseconds), and with a
    /// thousand they collect as with [`Speaker::set_export_interval`]`(max)`.
    pub fn set_scaled_export_interval(&mut self, per_peer: Duration, max: Duration) {
        self.export_interval = max;
        self.export_interval_per_peer = Some(per_peer);
    }

    /// Most UPDATE octets one flush produces (default zero: no limit). When a burst of
    /// changes meets many peers (a thousand leaves establishing at once), the peers past
    /// the budget keep their changes marked and are due at once: the next timeout sends
    /// theirs, round robin, so the caller's writers drain one slice before the next is
    /// encoded and the encoded-but-unsent octets stay near the budget. A peer's batch is
    /// never split: the first peer of a flush goes out whole.
    pub fn set_export_budget(&mut self, octets: usize) {
        self.export_budget = octets;
    }

    /// Number of prefixes in the Loc-RIB.
    pub fn loc_rib_len(&self) -> usize {
        self.loc.len()
    }

    /// Refused connections by reason (`local-address`, `no-matching-range`,
    /// `range-full`, `peer-idle`, `shutting-down`).
    pub fn refusals(&self) -> Vec<(String, u64)> {
        self.refusals.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Every path of `prefix` in the Loc-RIB, best first, with why the others lost.
    pub fn explain(&self, prefix: IpNet) -> Vec<PathReport> {
        self.loc
            .explain(&prefix.trunc())
            .into_iter()
            .map(|e| PathReport {
                peer: self.source_address(e.source),
                attrs: (*e.attrs).clone(),
                best: e.best,
                lost_at: e.lost_at.map(|s| s.name()),
            })
            .collect()
    }

    /// Number of distinct attribute sets held (interned).
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    fn source_address(&self, id: SourceId) -> Option<IpAddr> {
        let slot = (id.0 as usize).checked_sub(1)?;
        self.peers.get(slot)?.as_ref().map(|p| p.config.remote)
    }

    fn announce(&mut self, prefix: IpNet, mut attrs: PathAttributes) {
        let prefix = prefix.trunc();
        attrs.origin.get_or_insert(crate::wire::Origin::Igp);
        attrs.mp_unreach.clear();
        match prefix {
            IpNet::V4(_) => attrs.mp_reach = None,
            IpNet::V6(_) => {
                let mp = attrs.mp_reach.get_or_insert(crate::wire::MpReach {
                    next_hop: std::net::Ipv6Addr::UNSPECIFIED,
                    link_local: None,
                    nlri: Vec::new(),
                });
                mp.nlri.clear();
            }
        }
        let attrs: Attrs = self.interner.intern(attrs);
        self.loc.update(prefix, SourceId::LOCAL, Some(attrs));
    }
}
