//! Connections of peers: starting the connection FSM, encoding and queueing messages,
//! acting on what the FSM asks for, connection collision detection (RFC 4271 §6.8),
//! session up and down, and what a peer does when a connection ends.
//!
//! Invariants: a peer has at most one Established connection; a connection that ends
//! is removed from `conns` and from its peer before anything else happens; a session
//! that goes down withdraws every route it brought before the next flush.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::rib::{SourceId, SourceInfo};
use crate::session::State;
use crate::session::codes;
use crate::session::connection::{Action, Connection, Direction};
use crate::speaker::{ConnId, Event, Output, Speaker};
use crate::wire::{Message, Notification, ParseCtx};

/// One TCP connection.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) peer: usize,
    pub(super) fsm: Connection,
    /// Bytes received and not yet framed.
    pub(super) rx: Vec<u8>,
    pub(super) local: SocketAddr,
    /// The peer sent Cease/Hard Reset (RFC 8538 §3) on this connection.
    pub(super) hard_reset_received: bool,
    /// The FSM deadline filed in `Speaker::conn_timers`.
    filed: Option<Instant>,
}

/// Why a connection ended: decides what the peer does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CloseKind {
    /// Error, or a NOTIFICATION sent or received: idle-hold backoff. With the graceful
    /// restart N bit negotiated, anything but Cease/Hard Reset then counts as `Lost`
    /// (RFC 8538 §4).
    Error,
    /// TCP closed or reset without a NOTIFICATION: idle-hold backoff, and the routes of
    /// a peer that advertised graceful restart are kept stale (RFC 4724 §4.2).
    Lost,
    /// Shutdown or deconfiguration: stay idle.
    Admin,
    /// Lost a collision: the other connection carries on.
    Collision,
    /// Max-prefix shutdown: idle for this long.
    MaxPrefix(Duration),
}

/// A Cease NOTIFICATION with this subcode.
pub(super) fn cease(subcode: u8) -> Notification {
    Notification {
        code: codes::CEASE,
        subcode,
        data: Vec::new(),
    }
}

/// RFC 8538 §5: the Cease subcodes whose suggested behaviour is a hard reset (Maximum
/// Number of Prefixes Reached, Administrative Shutdown, Peer De-configured); when the N
/// bit is negotiated they are sent wrapped in Cease/Hard Reset.
fn wants_hard_reset(n: &Notification) -> bool {
    n.code == codes::CEASE
        && matches!(
            n.subcode,
            codes::CEASE_MAX_PREFIX | codes::CEASE_ADMIN_SHUTDOWN | codes::CEASE_PEER_DECONFIGURED
        )
}

/// Cease/Hard Reset carrying `inner` (RFC 8538 §3: its code, subcode and data).
fn hard_reset(inner: Notification) -> Notification {
    let mut data = vec![inner.code, inner.subcode];
    data.extend_from_slice(&inner.data);
    Notification {
        code: codes::CEASE,
        subcode: codes::CEASE_HARD_RESET,
        data,
    }
}

impl Speaker {
    /// TCP is up: start the connection FSM and send our OPEN.
    pub(super) fn open_conn(
        &mut self,
        now: Instant,
        idx: usize,
        id: ConnId,
        local: SocketAddr,
        dir: Direction,
    ) {
        if self.conns.contains_key(&id) {
            // The daemon reused an id that is still open: ignore the duplicate.
            return;
        }
        let (local_as, router_id) = (self.config.local_as, self.config.router_id);
        let graceful_restart = self.advertised_restart(now);
        let p = self.peer_mut(idx);
        let side = p.local_side(local_as, router_id, graceful_restart);
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
                hard_reset_received: false,
                filed: None,
            },
        );
        self.refile_timer(id);
        self.send(id, &open);
        self.refresh_state(idx);
    }

    /// Files connection `id`'s FSM deadline in the timer index anew: called after every
    /// FSM call that may change it (start, a message, a timeout).
    pub(super) fn refile_timer(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let deadline = c.fsm.deadline();
        self.conn_timers.refile(id, &mut c.filed, deadline);
    }

    /// Removes a connection and its deadline from the timer index.
    fn remove_conn(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        self.conn_timers.unfile(id, conn.filed);
        Some(conn)
    }

    /// The daemon reports a closed connection.
    pub(super) fn closed(&mut self, now: Instant, id: ConnId) {
        let Some(conn) = self.remove_conn(id) else {
            return;
        };
        self.peer_mut(conn.peer).last_error = Some("connection closed by peer".to_string());
        self.conn_gone(now, conn.peer, id, CloseKind::Lost);
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
    fn resolve_collision(&mut self, now: Instant, id: ConnId, remote_id: Ipv4Addr) {
        // NOTE(unwrap): called from `apply`, which checked that `id` is open; `id` is
        // only looked up again before it can be closed.
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
        // NOTE(unwrap): called from `apply`, which checked that `id` is open.
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
        self.stale_session_up(now, idx);
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
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let idx = conn.peer;
        let n_bit = conn
            .fsm
            .negotiated()
            .is_some_and(|n| n.graceful_notification);
        let notify = match notify {
            Some(n) if n_bit && wants_hard_reset(&n) => Some(hard_reset(n)),
            other => other,
        };
        // RFC 8538 §4: with the N bit, a NOTIFICATION other than Hard Reset, sent or
        // received, ends the session the way a lost connection does.
        let hard = conn.hard_reset_received
            || notify
                .as_ref()
                .is_some_and(|n| n.code == codes::CEASE && n.subcode == codes::CEASE_HARD_RESET);
        let kind = if kind == CloseKind::Error && n_bit && !hard {
            CloseKind::Lost
        } else {
            kind
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
        self.remove_conn(id);
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
            let keep = kind == CloseKind::Lost && self.keep_stale(now, idx);
            self.session_down(idx, keep);
        }
        let p = self.peer_mut(idx);
        if p.conns.is_empty() {
            if p.dynamic.is_some() {
                if p.stale.is_none() {
                    if let CloseKind::MaxPrefix(d) = kind {
                        let addr = p.config.remote;
                        self.held_down.insert(addr, now + d);
                    }
                    self.drop_peer(idx);
                    return;
                }
                // Helped through its restart: the slot waits for the peer to come back.
                p.base = State::Active;
            } else {
                p.connect_retry_at = None;
                p.base = State::Idle;
                p.idle_until = match kind {
                    CloseKind::Admin => None,
                    CloseKind::MaxPrefix(d) => Some(now + d),
                    CloseKind::Error | CloseKind::Lost | CloseKind::Collision => {
                        Some(now + p.backoff.failed(now))
                    }
                };
            }
        }
        self.refresh_state(idx);
    }

    /// The Established session is gone: withdraw its routes (unless they are kept
    /// stale), forget what it was sent.
    fn session_down(&mut self, idx: usize, keep_routes: bool) {
        let src = SourceId(idx as u32 + 1);
        let Speaker { peers, loc, .. } = self;
        // NOTE(unwrap): callers pass indices of live slots only.
        let p = peers[idx].as_mut().expect("live peer slot");
        if !keep_routes {
            p.stale = None;
            for prefix in p.adj_in.clear(loc, src) {
                loc.update(prefix, src, None);
            }
        }
        p.adj_out.clear();
        p.established = None;
        p.negotiated = None;
        p.local_addr = None;
        p.established_at = None;
        p.send_eor = false;
        p.max_prefix_warned = false;
    }
}
