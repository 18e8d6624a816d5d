//! Peer-level FSM (RFC 4271 §8): Idle, Connect and Active with the connect-retry and
//! idle-hold timers, the connections of each peer, connection collision detection
//! (§6.8) and what happens when a connection ends.
//!
//! Invariants: a peer has at most one Established connection; a connection that ends
//! is removed from `conns` and from its peer before anything else happens; a session
//! that goes down withdraws every route it brought before the next flush.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::policy::Policy;
use crate::rib::{SourceId, SourceInfo};
use crate::session::State;
use crate::session::codes;
use crate::session::connection::{Action, Connection, Direction};
use crate::speaker::peer::Peer;
use crate::speaker::{ConnId, Event, Output, PeerConfig, Speaker};
use crate::wire::{Message, Notification, ParseCtx};

/// Shortest connect-retry time, whatever the configuration says.
const MIN_CONNECT_RETRY: Duration = Duration::from_secs(1);

/// One TCP connection.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) peer: usize,
    pub(super) fsm: Connection,
    /// Bytes received and not yet framed.
    pub(super) rx: Vec<u8>,
    pub(super) local: SocketAddr,
}

/// Why a connection ended: decides what the peer does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseKind {
    /// Error or remote close: idle-hold backoff.
    Error,
    /// Shutdown or deconfiguration: stay idle.
    Admin,
    /// Lost a collision: the other connection carries on.
    Collision,
    /// Max-prefix shutdown: idle for this long.
    MaxPrefix(Duration),
}

fn cease(subcode: u8) -> Notification {
    Notification {
        code: codes::CEASE,
        subcode,
        data: Vec::new(),
    }
}

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

    /// Forget a peer whose routes are already withdrawn.
    pub(super) fn drop_peer(&mut self, idx: usize) {
        let Some(p) = self.peers[idx].take() else {
            return;
        };
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

    pub(super) fn fire_timers(&mut self, now: Instant) {
        for idx in 0..self.peers.len() {
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
        let mut due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.fsm.deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        due.sort();
        for id in due {
            if let Some(c) = self.conns.get_mut(&id) {
                let actions = c.fsm.on_timeout(now);
                self.apply(now, id, actions);
            }
        }
    }

    pub(super) fn connected(
        &mut self,
        now: Instant,
        peer: IpAddr,
        conn: ConnId,
        local: SocketAddr,
    ) {
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

    /// TCP is up: start the connection FSM and send our OPEN.
    pub(super) fn open_conn(
        &mut self,
        now: Instant,
        idx: usize,
        id: ConnId,
        local: SocketAddr,
        dir: Direction,
    ) {
        let (local_as, router_id) = (self.config.local_as, self.config.router_id);
        let p = self.peer_mut(idx);
        let side = p.local_side(local_as, router_id);
        p.conns.push(id);
        p.connect_retry_at = None;
        let (fsm, open) = Connection::start(now, dir, side);
        self.conns.insert(
            id,
            Conn {
                peer: idx,
                fsm,
                rx: Vec::new(),
                local,
            },
        );
        self.send(id, &open);
        self.refresh_state(idx);
    }

    /// The daemon reports a closed connection.
    pub(super) fn closed(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        self.peer_mut(conn.peer).last_error = Some("connection closed by peer".to_string());
        self.conn_gone(now, conn.peer, id, CloseKind::Error);
    }

    /// Encode and queue a message on a connection.
    pub(super) fn send(&mut self, id: ConnId, msg: &Message) {
        let ctx = self.conn_ctx(id);
        let mut bytes = Vec::new();
        msg.emit(&ctx, &mut bytes);
        self.transmit(id, bytes);
    }

    pub(super) fn conn_ctx(&self, id: ConnId) -> ParseCtx {
        self.conns
            .get(&id)
            .and_then(|c| c.fsm.negotiated())
            .map(|n| n.parse_ctx())
            .unwrap_or(ParseCtx {
                four_octet_as: false,
                internal: false,
            })
    }

    /// Queue bytes, appending to the previous transmit of the same connection while small.
    pub(super) fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        if let Some(Output::Transmit {
            conn: last,
            bytes: queued,
        }) = self.out.back_mut()
            && *last == conn
            && queued.len() < 64 * 1024
        {
            queued.extend_from_slice(&bytes);
            return;
        }
        self.out.push_back(Output::Transmit { conn, bytes });
    }

    pub(super) fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Act on what a connection FSM asked for.
    pub(super) fn apply(&mut self, now: Instant, id: ConnId, actions: Vec<Action>) {
        for action in actions {
            let Some(conn) = self.conns.get(&id) else {
                return;
            };
            let idx = conn.peer;
            match action {
                Action::Send(m) => self.send(id, &m),
                Action::OpenReceived(n) => {
                    self.peer_mut(idx).remote_as = Some(n.remote_as);
                    self.refresh_state(idx);
                    self.resolve_collision(now, id, n.remote_id);
                }
                Action::Established => self.session_up(now, id),
                Action::Update(u) => self.process_update(now, idx, *u),
                Action::RouteRefresh(r) => self.route_refresh(idx, r),
                Action::Close { notify, reason } => {
                    self.close_conn(now, id, notify, reason, CloseKind::Error)
                }
            }
        }
    }

    /// §6.8: an OPEN arrived on `id`; if another connection of the peer is in
    /// OpenConfirm, keep the one opened by the side with the higher BGP identifier; if
    /// another is Established, close `id`.
    fn resolve_collision(&mut self, now: Instant, id: ConnId, remote_id: std::net::Ipv4Addr) {
        let idx = self.conns[&id].peer;
        let others: Vec<ConnId> = self
            .peer(idx)
            .conns
            .iter()
            .copied()
            .filter(|c| *c != id)
            .collect();
        for other in others {
            let Some(o) = self.conns.get(&other) else {
                continue;
            };
            let loser = match o.fsm.state() {
                State::Established => id,
                State::OpenConfirm => {
                    let local_wins = u32::from(self.config.router_id) > u32::from(remote_id);
                    // The winner's side keeps the connection it opened.
                    let keep = if local_wins {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    };
                    if self.conns[&id].fsm.direction() == keep {
                        other
                    } else {
                        id
                    }
                }
                _ => continue,
            };
            let reason = "connection collision resolution".to_string();
            self.close_conn(
                now,
                loser,
                Some(cease(codes::CEASE_COLLISION)),
                reason,
                CloseKind::Collision,
            );
            if loser == id {
                return;
            }
        }
    }

    /// A connection reached Established: the peer's routes may flow.
    fn session_up(&mut self, now: Instant, id: ConnId) {
        let conn = &self.conns[&id];
        let (idx, local) = (conn.peer, conn.local);
        let Some(n) = conn.fsm.negotiated().copied() else {
            return;
        };
        let p = self.peer_mut(idx);
        p.established = Some(id);
        p.negotiated = Some(n);
        p.local_addr = Some(local.ip());
        p.established_at = Some(now);
        p.backoff.established(now);
        p.connect_retry_at = None;
        p.idle_until = None;
        p.send_eor = true;
        let info = SourceInfo {
            role: p.role(),
            router_id: n.remote_id,
            address: Some(p.config.remote),
        };
        self.loc.set_source(SourceId(idx as u32 + 1), info);
        self.refresh_state(idx);
        self.export_full(idx);
    }

    /// End a connection we decided to close.
    pub(super) fn close_conn(
        &mut self,
        now: Instant,
        id: ConnId,
        notify: Option<Notification>,
        reason: String,
        kind: CloseKind,
    ) {
        let Some(idx) = self.conns.get(&id).map(|c| c.peer) else {
            return;
        };
        if let Some(n) = notify {
            self.send(id, &Message::Notification(n.clone()));
            let peer = self.peer(idx).config.remote;
            self.event(Event::Notification {
                peer,
                sent: true,
                code: n.code,
                subcode: n.subcode,
            });
        }
        self.out.push_back(Output::Close { conn: id });
        self.conns.remove(&id);
        if kind != CloseKind::Collision {
            self.peer_mut(idx).last_error = Some(reason);
        }
        self.conn_gone(now, idx, id, kind);
    }

    /// Bookkeeping after a connection is gone.
    fn conn_gone(&mut self, now: Instant, idx: usize, id: ConnId, kind: CloseKind) {
        let p = self.peer_mut(idx);
        p.conns.retain(|c| *c != id);
        if p.established == Some(id) {
            self.session_down(idx);
        }
        let p = self.peer_mut(idx);
        if p.conns.is_empty() {
            if p.dynamic.is_some() {
                self.drop_peer(idx);
                return;
            }
            p.connect_retry_at = None;
            p.base = State::Idle;
            p.idle_until = match kind {
                CloseKind::Admin => None,
                CloseKind::MaxPrefix(d) => Some(now + d),
                CloseKind::Error | CloseKind::Collision => Some(now + p.backoff.failed(now)),
            };
        }
        self.refresh_state(idx);
    }

    /// The Established session is gone: withdraw its routes, forget what it was sent.
    fn session_down(&mut self, idx: usize) {
        let src = SourceId(idx as u32 + 1);
        let Speaker { peers, loc, .. } = self;
        // NOTE(unwrap): callers pass indices of live slots only.
        let p = peers[idx].as_mut().expect("live peer slot");
        for prefix in p.adj_in.clear() {
            loc.update(prefix, src, None);
        }
        p.adj_out.clear();
        p.established = None;
        p.negotiated = None;
        p.local_addr = None;
        p.established_at = None;
        p.send_eor = false;
        p.max_prefix_warned = false;
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
