//! Selection deferral of a restarting speaker (RFC 4724 §4.1).
//!
//! A speaker that comes back from a restart has lost its routes; the peers that helped it
//! through the restart still forward on the stale copies of what it sent them. If it
//! sent its table and End-of-RIB to the first peer that returns, that peer would drop
//! every stale route the others have not sent again yet. So, once
//! [`Speaker::expect_peers_before_selection`] names the peers it expects back, the
//! speaker sends no UPDATE and no End-of-RIB to any peer (expected or not, dynamic or
//! configured) until every expected peer has sent End-of-RIB for each family its session
//! negotiated, or the deadline passes, whichever is first. Meanwhile it imports
//! everything it receives; the Loc-RIB and FIB outputs are not held back. When the
//! deferral ends, each Established peer gets the whole table as it is then, followed by
//! End-of-RIB, in the same flush.
//!
//! Invariants: with no expected peer nothing is deferred; the deadline is reported by
//! [`Speaker::poll_timeout`] and ends the deferral in [`Speaker::handle_timeout`]; an
//! expected peer whose session drops again stays expected (the deadline bounds it).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::speaker::Speaker;
use crate::speaker::admission::unmapped;
use crate::wire::Afi;

/// Default selection deferral time (RFC 4724 §4.1 suggests a configurable timer; 360 s
/// matches the time a helper keeps stale routes waiting for End-of-RIB).
pub const SELECTION_DEFERRAL_TIME: Duration = Duration::from_secs(360);

/// End-of-RIB markers received so far from one expected peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct EndOfRibSeen {
    ipv4: bool,
    ipv6: bool,
}

/// A selection deferral in progress.
#[derive(Debug, Clone)]
pub(super) struct Deferral {
    /// Expected peers whose End-of-RIB is still awaited.
    waiting: BTreeMap<IpAddr, EndOfRibSeen>,
    /// When the deferral ends whatever is still awaited.
    pub(super) until: Instant,
}

impl Speaker {
    /// Defers route export and End-of-RIB to every peer until each peer in `peers` has
    /// sent End-of-RIB for each family it negotiated, or until `deadline` (RFC 4724
    /// §4.1). Call it once at start, after [`Speaker::set_graceful_restart`] with
    /// `restarting` set and before the first session comes up; [`SELECTION_DEFERRAL_TIME`]
    /// is the usual distance of `deadline` from now. An empty `peers` defers nothing
    /// (and ends a deferral in progress at the next flush).
    pub fn expect_peers_before_selection(
        &mut self,
        peers: impl IntoIterator<Item = IpAddr>,
        deadline: Instant,
    ) {
        let waiting: BTreeMap<IpAddr, EndOfRibSeen> = peers
            .into_iter()
            .map(|p| {
                (
                    unmapped(SocketAddr::new(p, 0)).ip(),
                    EndOfRibSeen::default(),
                )
            })
            .collect();
        self.deferral = (!waiting.is_empty()).then_some(Deferral {
            waiting,
            until: deadline,
        });
    }

    /// Whether route export is still deferred (RFC 4724 §4.1).
    pub fn selection_deferred(&self) -> bool {
        self.deferral.is_some()
    }

    /// The expected peers whose End-of-RIB is still awaited (empty when not deferring).
    pub fn peers_awaited_before_selection(&self) -> Vec<IpAddr> {
        self.deferral
            .as_ref()
            .map(|d| d.waiting.keys().copied().collect())
            .unwrap_or_default()
    }

    /// End-of-RIB for `afi` arrived from the Established session of `idx`: the peer is
    /// no longer awaited once every family it negotiated has sent one.
    pub(super) fn deferral_end_of_rib(&mut self, idx: usize, afi: Afi) {
        let p = self.peer(idx);
        let (addr, negotiated) = (p.config.remote, p.negotiated);
        let Some(d) = self.deferral.as_mut() else {
            return;
        };
        let Some(seen) = d.waiting.get_mut(&addr) else {
            return;
        };
        match afi {
            Afi::Ipv4 => seen.ipv4 = true,
            Afi::Ipv6 => seen.ipv6 = true,
            Afi::Other(_) => return,
        }
        let (want4, want6) = negotiated.map_or((true, false), |n| (n.ipv4, n.ipv6));
        if (seen.ipv4 || !want4) && (seen.ipv6 || !want6) {
            d.waiting.remove(&addr);
        }
        if d.waiting.is_empty() {
            self.deferral = None;
        }
    }

    /// The deferral deadline passed at `now`: export resumes with the next flush.
    pub(super) fn deferral_timer(&mut self, now: Instant) {
        if self.deferral.as_ref().is_some_and(|d| d.until <= now) {
            self.deferral = None;
        }
    }
}
