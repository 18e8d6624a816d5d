//! Timer indexes: [`TimerIndex`], deadlines of keyed objects ordered by time; the
//! speaker keeps one for its connections (hold, keepalive: refiled after every FSM call,
//! see `conns`) and one for its peers (idle hold, connect retry, stale routes, export),
//! whose upkeep is here.
//!
//! Contract: after every `handle_input` and `handle_timeout`, each live peer's filed
//! deadline equals `Peer::deadline`. The entry points refile what they may have changed:
//! an input about one connection or address refiles that peer; any other input refiles
//! every peer; a timeout refiles the peers and connections' peers that were due; a flush
//! refiles the peers whose export deadline it moved. So finding the next deadline and the
//! due peers costs O(log n) per event instead of a scan of every peer (with a thousand
//! idle sessions, some 70 events a second). Debug builds compare the index with the
//! scan at every `poll_timeout`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use crate::speaker::Speaker;
use crate::speaker::admission::unmapped;

/// Deadlines of keyed objects, earliest first. Each object keeps the deadline it filed
/// (`filed`), so that refiling finds and replaces its entry.
#[derive(Debug)]
pub(super) struct TimerIndex<K> {
    by_time: BTreeSet<(Instant, K)>,
}

impl<K> Default for TimerIndex<K> {
    fn default() -> Self {
        TimerIndex {
            by_time: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy> TimerIndex<K> {
    /// Files `key`'s `deadline` in place of the one it `filed` before.
    pub(super) fn refile(
        &mut self,
        key: K,
        filed: &mut Option<Instant>,
        deadline: Option<Instant>,
    ) {
        if deadline == *filed {
            return;
        }
        self.unfile(key, *filed);
        if let Some(t) = deadline {
            self.by_time.insert((t, key));
        }
        *filed = deadline;
    }

    /// Takes `key`'s filed deadline out (the object is gone).
    pub(super) fn unfile(&mut self, key: K, filed: Option<Instant>) {
        if let Some(t) = filed {
            self.by_time.remove(&(t, key));
        }
    }

    /// The earliest deadline.
    pub(super) fn first(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// The keys with a deadline at or before `now`, in key order.
    pub(super) fn due(&self, now: Instant) -> Vec<K> {
        let mut due: Vec<K> = self
            .by_time
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, key)| *key)
            .collect();
        due.sort_unstable();
        due
    }
}

/// Whose deadlines an input may have changed.
pub(super) enum Concerns {
    /// The peer in this slot.
    Peer(usize),
    /// The peer at this address, if any (after the input: it may be new).
    Address(IpAddr),
    /// No peer (a connection already gone).
    Nobody,
    /// Any peer (configuration inputs).
    Everyone,
}

impl Speaker {
    /// Files peer `idx`'s deadline anew (nothing for an empty slot).
    pub(super) fn refile_peer(&mut self, idx: usize) {
        let Some(p) = self.peers.get_mut(idx).and_then(Option::as_mut) else {
            return;
        };
        let deadline = p.deadline();
        self.peer_timers.refile(idx, &mut p.filed, deadline);
    }

    /// Files every peer's deadline anew (after configuration inputs).
    pub(super) fn refile_all_peers(&mut self) {
        for idx in 0..self.peers.len() {
            self.refile_peer(idx);
        }
    }

    /// Refiles what an input concerns.
    pub(super) fn refile(&mut self, concerns: Concerns) {
        match concerns {
            Concerns::Peer(idx) => self.refile_peer(idx),
            Concerns::Address(addr) => {
                let addr = unmapped(std::net::SocketAddr::new(addr, 0)).ip();
                if let Some(&idx) = self.by_addr.get(&addr) {
                    self.refile_peer(idx);
                }
            }
            Concerns::Nobody => {}
            Concerns::Everyone => self.refile_all_peers(),
        }
    }

    /// The earliest filed peer deadline.
    pub(super) fn next_peer_deadline(&self) -> Option<Instant> {
        let next = self.peer_timers.first();
        debug_assert_eq!(
            next,
            self.peers
                .iter()
                .flatten()
                .filter_map(|p| p.deadline())
                .min(),
            "the peer timer index is in step with the peers"
        );
        next
    }
}
