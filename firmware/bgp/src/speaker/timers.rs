//! The peers' timer index: each peer's earliest deadline (idle hold, connect retry,
//! stale routes, export) filed in `Speaker::peer_timers`, ordered by time.
//!
//! Contract: after every `handle_input` and `handle_timeout`, each live peer's filed
//! deadline equals `Peer::deadline`. The entry points refile what they may have changed:
//! an input about one connection or address refiles that peer; any other input refiles
//! every peer; a timeout refiles the peers and connections' peers that were due; a flush
//! refiles the peers whose export deadline it moved. So finding the next deadline and the
//! due peers costs O(log n) per event instead of a scan of every peer (with a thousand
//! idle sessions, some 70 events a second). Debug builds compare the index with the
//! scan at every `poll_timeout`.

use std::net::IpAddr;
use std::time::Instant;

use crate::speaker::Speaker;
use crate::speaker::admission::unmapped;

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
        if deadline == p.filed {
            return;
        }
        if let Some(t) = p.filed {
            self.peer_timers.remove(&(t, idx));
        }
        if let Some(t) = deadline {
            self.peer_timers.insert((t, idx));
        }
        p.filed = deadline;
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

    /// Takes a removed peer's deadline out of the index.
    pub(super) fn unfile_peer(&mut self, idx: usize, filed: Option<Instant>) {
        if let Some(t) = filed {
            self.peer_timers.remove(&(t, idx));
        }
    }

    /// The peers with a deadline at or before `now`, by slot.
    pub(super) fn due_peers(&self, now: Instant) -> Vec<usize> {
        let mut due: Vec<usize> = self
            .peer_timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, idx)| *idx)
            .collect();
        due.sort_unstable();
        due
    }

    /// The earliest filed peer deadline.
    pub(super) fn next_peer_deadline(&self) -> Option<Instant> {
        let next = self.peer_timers.first().map(|(t, _)| *t);
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
