//! Per-peer state: configuration, peer-level FSM state, RIBs and counters.
//!
//! Invariant: every counter shown by [`Peer::status`] is kept incrementally (Adj-RIB-In
//! and Adj-RIB-Out sizes, accepted, rejected per reason), so status is O(1) per peer.

use std::net::IpAddr;
use std::time::Instant;

use crate::policy::Policy;
use crate::reflect::Role;
use crate::rib::adj_in::AdjRibIn;
use crate::rib::adj_out::AdjRibOut;
use crate::session::State;
use crate::session::backoff::{Backoff, BackoffConfig};
use crate::session::open::{ExpectedAs, GracefulRestartConfig, LocalSide, Negotiated};
use crate::speaker::admission::Range;
use crate::speaker::{ConnId, PeerConfig, PeerKind, PeerStatus};

/// One peer (configured or dynamic).
#[derive(Debug)]
pub(super) struct Peer {
    pub(super) config: PeerConfig,
    /// Index of the dynamic range it was admitted from.
    pub(super) dynamic: Option<usize>,
    /// Effective import policy.
    pub(super) import: Policy,
    /// Idle, Connect or Active when no connection is further along.
    pub(super) base: State,
    /// State last reported in an event.
    pub(super) reported: State,
    pub(super) connect_retry_at: Option<Instant>,
    pub(super) idle_until: Option<Instant>,
    /// Open connections (at most two during a collision).
    pub(super) conns: Vec<ConnId>,
    pub(super) established: Option<ConnId>,
    pub(super) negotiated: Option<Negotiated>,
    /// Our address on the Established connection (next-hop-self).
    pub(super) local_addr: Option<IpAddr>,
    pub(super) established_at: Option<Instant>,
    pub(super) backoff: Backoff,
    pub(super) adj_in: AdjRibIn,
    pub(super) adj_out: AdjRibOut,
    pub(super) remote_as: Option<u32>,
    pub(super) last_error: Option<String>,
    pub(super) max_prefix_warned: bool,
    /// Send End-of-RIB after the next flush (initial table sent).
    pub(super) send_eor: bool,
    /// Routes kept stale after the session ended without a NOTIFICATION (RFC 4724).
    pub(super) stale: Option<StaleRoutes>,
    /// When the last batch of UPDATEs went out (export interval).
    pub(super) exported_at: Option<Instant>,
    /// Pending changes wait for the export interval until then (Established only).
    pub(super) export_at: Option<Instant>,
    /// The deadline filed in `Speaker::peer_timers` (see `timers`).
    pub(super) filed: Option<Instant>,
}

/// Stale routes of a peer helped through a restart (RFC 4724 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StaleRoutes {
    /// IPv4 unicast routes are stale.
    pub(super) v4: bool,
    /// IPv6 unicast routes are stale.
    pub(super) v6: bool,
    /// When the stale routes still left are removed: the peer's restart time while the
    /// session is down, the stale-routes time once it is back.
    pub(super) until: Instant,
}

impl Peer {
    pub(super) fn new(
        config: PeerConfig,
        import: Policy,
        dynamic: Option<usize>,
        backoff: BackoffConfig,
    ) -> Self {
        Peer {
            remote_as: config.remote_as,
            config,
            dynamic,
            import,
            base: State::Idle,
            reported: State::Idle,
            connect_retry_at: None,
            idle_until: None,
            conns: Vec::new(),
            established: None,
            negotiated: None,
            local_addr: None,
            established_at: None,
            backoff: Backoff::new(backoff),
            adj_in: AdjRibIn::new(),
            adj_out: AdjRibOut::new(),
            last_error: None,
            max_prefix_warned: false,
            send_eor: false,
            stale: None,
            exported_at: None,
            export_at: None,
            filed: None,
        }
    }

    /// Reflection role of this peer.
    pub(super) fn role(&self) -> Role {
        match (self.config.kind, self.config.rr_client) {
            (PeerKind::External, _) => Role::External,
            (PeerKind::Internal, true) => Role::Client,
            (PeerKind::Internal, false) => Role::NonClient,
        }
    }

    /// Our side of this peer's sessions.
    pub(super) fn local_side(
        &self,
        local_as: u32,
        router_id: std::net::Ipv4Addr,
        graceful_restart: GracefulRestartConfig,
    ) -> LocalSide {
        let expected_as = match (self.config.kind, self.config.remote_as) {
            (_, Some(asn)) => ExpectedAs::Exact(asn),
            (PeerKind::Internal, None) => ExpectedAs::Exact(local_as),
            (PeerKind::External, None) => ExpectedAs::AnyExternal,
        };
        // RFC 4271 §4.2: a hold time of 1 or 2 s is invalid; propose 3 instead.
        let hold_time = match self.config.hold_time {
            1 | 2 => 3,
            h => h,
        };
        LocalSide {
            local_as,
            router_id,
            hold_time,
            expected_as,
            graceful_restart,
        }
    }

    /// Earliest peer-level deadline.
    pub(super) fn deadline(&self) -> Option<Instant> {
        [
            self.idle_until,
            self.connect_retry_at,
            self.stale.map(|s| s.until),
            self.export_at.filter(|_| self.established.is_some()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Status in O(reasons).
    pub(super) fn status(&self, now: Option<Instant>, ranges: &[Range]) -> PeerStatus {
        let uptime_secs = match (self.established.is_some(), self.established_at, now) {
            (true, Some(at), Some(now)) => now.saturating_duration_since(at).as_secs(),
            _ => 0,
        };
        PeerStatus {
            address: self.config.remote,
            remote_as: self.remote_as,
            state: self.reported.name().to_string(),
            dynamic: self
                .dynamic
                .and_then(|i| ranges.get(i))
                .map(|r| r.range.name.clone()),
            uptime_secs,
            received: self.adj_in.len() as u64,
            accepted: self.adj_in.accepted(),
            rejected: self.adj_in.rejected(),
            advertised: self.adj_out.len() as u64,
            stale: self.adj_in.stale(),
            last_error: self.last_error.clone(),
        }
    }
}
