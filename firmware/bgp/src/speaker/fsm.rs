//! Peer-level FSM (RFC 4271 §8): Idle, Connect and Active with the connect-retry and
//! idle-hold timers; adding, replacing and removing peers; shutdown. The connections
//! themselves are handled in `conns`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::policy::Policy;
use crate::session::State;
use crate::session::codes;
use crate::session::connection::Direction;
use crate::speaker::admission::unmapped;
use crate::speaker::conns::{CloseKind, cease};
use crate::speaker::peer::Peer;
use crate::speaker::{ConnId, Event, Output, PeerConfig, Speaker};

/// Shortest connect-retry time, whatever the configuration says.
const MIN_CONNECT_RETRY: Duration = Duration::from_secs(1);

/// Configuration changes that need a new session.
fn session_changed(a: &PeerConfig, b: &PeerConfig) -> bool {
    (
        a.port,
        a.remote_as,
        a.local,
        a.kind,
        a.rr_client,
        a.passive,
        a.hold_time,
        a.next_hop_self,
    ) != (
        b.port,
        b.remote_as,
        b.local,
        b.kind,
        b.rr_client,
        b.passive,
        b.hold_time,
        b.next_hop_self,
    )
}

impl Speaker {
    pub(super) fn peer(&self, idx: usize) -> &Peer {
        // NOTE(unwrap): callers pass indices of live slots only.
        self.peers[idx].as_ref().expect("live peer slot")
    }

    pub(super) fn peer_mut(&mut self, idx: usize) -> &mut Peer {
        // NOTE(unwrap): callers pass indices of live slots only.
        self.peers[idx].as_mut().expect("live peer slot")
    }

    /// Put a new peer into a free slot.
    pub(super) fn insert_peer(&mut self, peer: Peer) -> usize {
        if peer.config.rr_client {
            self.reflector = true;
        }
        let addr = peer.config.remote;
        let idx = match self.peers.iter().position(Option::is_none) {
            Some(i) => {
                self.peers[i] = Some(peer);
                i
            }
            None => {
                self.peers.push(Some(peer));
                self.peers.len() - 1
            }
        };
        self.by_addr.insert(addr, idx);
        idx
    }

    pub(super) fn add_peer(&mut self, now: Instant, cfg: PeerConfig) {
        // A dynamic peer at this address gives way to the configured one.
        if let Some(&idx) = self.by_addr.get(&cfg.remote)
            && self.peer(idx).dynamic.is_some()
        {
            let reason = "peer configured statically";
            self.close_all(now, idx, codes::CEASE_CONFIG_CHANGE, reason);
            if self.peers[idx].is_some() {
                self.drop_peer(idx);
            }
        }
        let Some(&idx) = self.by_addr.get(&cfg.remote) else {
            let peer = Peer::new(cfg.clone(), cfg.import.clone(), None, self.backoff);
            let idx = self.insert_peer(peer);
            self.start_peer(now, idx);
            return;
        };
        if session_changed(&self.peer(idx).config, &cfg) {
            self.close_all(
                now,
                idx,
                codes::CEASE_CONFIG_CHANGE,
                "configuration changed",
            );
            self.purge_stale(idx, true, true);
            let p = self.peer_mut(idx);
            p.import = cfg.import.clone();
            p.config = cfg;
            self.reflector |= self.peer(idx).config.rr_client;
            self.start_peer(now, idx);
            return;
        }
        let (import_changed, export_changed) = {
            let old = &self.peer(idx).config;
            (old.import != cfg.import, old.export != cfg.export)
        };
        let import = cfg.import.clone();
        self.peer_mut(idx).config = cfg;
        if import_changed {
            self.reevaluate(idx, import);
        }
        if export_changed {
            self.export_full(idx);
        }
    }

    pub(super) fn remove_peer(&mut self, now: Instant, addr: IpAddr) {
        let Some(&idx) = self.by_addr.get(&addr) else {
            return;
        };
        self.close_all(
            now,
            idx,
            codes::CEASE_PEER_DECONFIGURED,
            "peer de-configured",
        );
        if self.peers[idx].is_some() {
            self.drop_peer(idx);
        }
    }

    pub(super) fn shutdown(&mut self, now: Instant) {
        self.shut_down = true;
        for idx in 0..self.peers.len() {
            if self.peers[idx].is_some() {
                self.close_all(
                    now,
                    idx,
                    codes::CEASE_ADMIN_SHUTDOWN,
                    "administrative shutdown",
                );
            }
            self.purge_stale(idx, true, true);
            if let Some(p) = self.peers[idx].as_mut() {
                p.base = State::Idle;
                p.idle_until = None;
                p.connect_retry_at = None;
                self.refresh_state(idx);
            }
        }
    }

    /// Close every connection of a peer with a Cease subcode (an administrative end).
    fn close_all(&mut self, now: Instant, idx: usize, subcode: u8, reason: &str) {
        let mut conns = self.peer(idx).conns.clone();
        conns.sort();
        for id in conns {
            self.close_conn(
                now,
                id,
                Some(cease(subcode)),
                reason.to_string(),
                CloseKind::Admin,
            );
        }
    }

    /// Forget a peer whose session is down (its stale routes are withdrawn).
    pub(super) fn drop_peer(&mut self, idx: usize) {
        self.purge_stale(idx, true, true);
        let Some(p) = self.peers[idx].take() else {
            return;
        };
        self.peer_timers.unfile(idx, p.filed);
        self.by_addr.remove(&p.config.remote);
        if p.reported != State::Idle {
            self.event(Event::PeerState {
                peer: p.config.remote,
                state: State::Idle,
            });
        }
        if let Some(r) = p.dynamic {
            self.ranges[r].count -= 1;
            self.event(Event::PeerRemoved {
                peer: p.config.remote,
            });
        }
    }

    /// Leave Idle: connect out (Connect) or wait for the peer (Active).
    pub(super) fn start_peer(&mut self, now: Instant, idx: usize) {
        let shut_down = self.shut_down;
        let p = self.peer_mut(idx);
        p.idle_until = None;
        if shut_down {
            p.base = State::Idle;
        } else if p.config.passive || p.dynamic.is_some() {
            p.base = State::Active;
            p.connect_retry_at = None;
        } else {
            self.connect(now, idx);
        }
        self.refresh_state(idx);
    }

    fn connect(&mut self, now: Instant, idx: usize) {
        let p = self.peer_mut(idx);
        p.base = State::Connect;
        p.connect_retry_at = Some(now + p.config.connect_retry.max(MIN_CONNECT_RETRY));
        let out = Output::Connect {
            peer: p.config.remote,
            remote: SocketAddr::new(p.config.remote, p.config.port),
            local: p.config.local,
        };
        self.out.push_back(out);
    }

    /// Fires what is due; returns the peers whose timers fired or whose connections'
    /// did (to be refiled in the timer index).
    pub(super) fn fire_timers(&mut self, now: Instant) -> Vec<usize> {
        let due_peers = self.peer_timers.due(now);
        for &idx in &due_peers {
            self.stale_timer(now, idx);
            let Some(p) = self.peers[idx].as_ref() else {
                continue;
            };
            if p.idle_until.is_some_and(|t| t <= now) {
                self.start_peer(now, idx);
            } else if p.connect_retry_at.is_some_and(|t| t <= now) {
                if p.conns.is_empty() && !p.config.passive && p.dynamic.is_none() {
                    self.connect(now, idx);
                } else {
                    self.peer_mut(idx).connect_retry_at = None;
                }
                self.refresh_state(idx);
            }
        }
        let due = self.conn_timers.due(now);
        let mut touched = due_peers;
        for id in due {
            if let Some(c) = self.conns.get_mut(&id) {
                touched.push(c.peer);
                let actions = c.fsm.on_timeout(now);
                self.refile_timer(id);
                self.apply(now, id, actions);
            }
        }
        touched
    }

    pub(super) fn connected(
        &mut self,
        now: Instant,
        peer: IpAddr,
        conn: ConnId,
        local: SocketAddr,
    ) {
        let local = unmapped(local);
        let usable = self.by_addr.get(&peer).copied().filter(|&idx| {
            let p = self.peer(idx);
            !self.shut_down
                && p.idle_until.is_none()
                && p.established.is_none()
                && !p.config.passive
        });
        match usable {
            Some(idx) => self.open_conn(now, idx, conn, local, Direction::Outbound),
            None => self.out.push_back(Output::Close { conn }),
        }
    }

    pub(super) fn connect_failed(&mut self, peer: IpAddr) {
        let Some(&idx) = self.by_addr.get(&peer) else {
            return;
        };
        let p = self.peer_mut(idx);
        if p.base == State::Connect {
            p.base = State::Active;
        }
        p.last_error = Some("connection attempt failed".to_string());
        self.refresh_state(idx);
    }

    /// Report the peer's state if it changed.
    pub(super) fn refresh_state(&mut self, idx: usize) {
        let p = self.peer(idx);
        let state = if p.established.is_some() {
            State::Established
        } else {
            p.conns
                .iter()
                .filter_map(|c| self.conns.get(c).map(|c| c.fsm.state()))
                .max()
                .unwrap_or(p.base)
        };
        if state != p.reported {
            let peer = p.config.remote;
            self.peer_mut(idx).reported = state;
            self.event(Event::PeerState { peer, state });
        }
    }

    /// The effective import policy of a peer.
    pub(super) fn import_policy_for(&self, addr: IpAddr, template: &Policy) -> Policy {
        self.dynamic_policies
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| template.clone())
    }
}
