//! The per-connection part of the RFC 4271 §8 FSM: OpenSent, OpenConfirm, Established.
//!
//! A [`Connection`] is created when TCP is up and our OPEN is sent; it then consumes
//! decoded messages and timer deadlines and answers with [`Action`]s. It never sends by
//! itself: the caller encodes `Action::Send` and acts on `Action::Close` (send the
//! NOTIFICATION if any, then close TCP). Collision detection (§6.8) is the caller's:
//! it sees [`Action::OpenReceived`] and may close either connection.

use std::time::{Duration, Instant};

use crate::session::State;
use crate::session::codes;
use crate::session::open::{LocalSide, Negotiated, negotiate};
use crate::wire::{Message, Notification, RouteRefresh, Update};

/// Hold time used while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// Who opened the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We connected out.
    Outbound,
    /// The peer connected to us.
    Inbound,
}

/// What the caller must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Encode and write this message.
    Send(Box<Message>),
    /// The peer's OPEN was accepted (now OpenConfirm): check for a collision.
    OpenReceived(Negotiated),
    /// The session reached Established.
    Established,
    /// An UPDATE arrived in Established.
    Update(Box<Update>),
    /// A ROUTE-REFRESH arrived in Established.
    RouteRefresh(RouteRefresh),
    /// The session ends: send `notify` if present, then close TCP.
    Close {
        /// NOTIFICATION to send first.
        notify: Option<Notification>,
        /// Why, for logs and status.
        reason: String,
    },
}

/// One TCP connection's FSM.
#[derive(Debug, Clone)]
pub struct Connection {
    state: State,
    direction: Direction,
    local: LocalSide,
    negotiated: Option<Negotiated>,
    hold_deadline: Option<Instant>,
    keepalive_deadline: Option<Instant>,
}

impl Connection {
    /// TCP is up: returns the connection (in OpenSent) and the OPEN to send.
    pub fn start(now: Instant, direction: Direction, local: LocalSide) -> (Connection, Message) {
        let open = Message::Open(local.open());
        let conn = Connection {
            state: State::OpenSent,
            direction,
            local,
            negotiated: None,
            hold_deadline: Some(now + OPEN_HOLD_TIME),
            keepalive_deadline: None,
        };
        (conn, open)
    }

    /// Current state (OpenSent, OpenConfirm or Established).
    pub fn state(&self) -> State {
        self.state
    }

    /// Who opened the connection.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The negotiated parameters, from OpenConfirm on.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Earliest timer deadline.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.hold_deadline, self.keepalive_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn restart_hold(&mut self, now: Instant) {
        if self.state != State::OpenSent {
            self.hold_deadline = self.negotiated.and_then(|n| n.hold()).map(|h| now + h);
        }
    }

    fn fsm_error(&self, what: &str) -> Action {
        let subcode = match self.state {
            State::OpenSent => codes::FSM_IN_OPEN_SENT,
            State::OpenConfirm => codes::FSM_IN_OPEN_CONFIRM,
            _ => codes::FSM_IN_ESTABLISHED,
        };
        Action::Close {
            notify: Some(Notification {
                code: codes::FSM_ERROR,
                subcode,
                data: Vec::new(),
            }),
            reason: format!("unexpected {what} in {}", self.state.name()),
        }
    }

    /// A decoded message arrived.
    pub fn on_message(&mut self, now: Instant, msg: Message) -> Vec<Action> {
        match (self.state, msg) {
            (_, Message::Notification(n)) => vec![Action::Close {
                notify: None,
                reason: format!("received notification {}/{}", n.code, n.subcode),
            }],
            (State::OpenSent, Message::Open(open)) => match negotiate(&self.local, &open) {
                Err(notify) => {
                    let reason = format!(
                        "rejected open: notification {}/{}",
                        notify.code, notify.subcode
                    );
                    vec![Action::Close {
                        notify: Some(notify),
                        reason,
                    }]
                }
                Ok(n) => {
                    self.negotiated = Some(n);
                    self.state = State::OpenConfirm;
                    self.restart_hold(now);
                    self.keepalive_deadline = n.keepalive().map(|k| now + k);
                    vec![
                        Action::Send(Box::new(Message::Keepalive)),
                        Action::OpenReceived(n),
                    ]
                }
            },
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.restart_hold(now);
                vec![Action::Established]
            }
            (State::Established, Message::Keepalive) => {
                self.restart_hold(now);
                Vec::new()
            }
            (State::Established, Message::Update(u)) => {
                self.restart_hold(now);
                vec![Action::Update(Box::new(u))]
            }
            (State::Established, Message::RouteRefresh(r)) => {
                self.restart_hold(now);
                vec![Action::RouteRefresh(r)]
            }
            (_, Message::Open(_)) => vec![self.fsm_error("open")],
            (_, Message::Keepalive) => vec![self.fsm_error("keepalive")],
            (_, Message::Update(_)) => vec![self.fsm_error("update")],
            (_, Message::RouteRefresh(_)) => vec![self.fsm_error("route-refresh")],
        }
    }

    /// Timers due at or before `now` fire.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        if self.hold_deadline.is_some_and(|d| d <= now) {
            self.hold_deadline = None;
            self.keepalive_deadline = None;
            return vec![Action::Close {
                notify: Some(Notification {
                    code: codes::HOLD_TIMER_EXPIRED,
                    subcode: 0,
                    data: Vec::new(),
                }),
                reason: "hold timer expired".to_string(),
            }];
        }
        if self.keepalive_deadline.is_some_and(|d| d <= now) {
            self.keepalive_deadline = self.negotiated.and_then(|n| n.keepalive()).map(|k| now + k);
            return vec![Action::Send(Box::new(Message::Keepalive))];
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::session::open::ExpectedAs;

    fn side(id: u8) -> LocalSide {
        LocalSide {
            local_as: 65000,
            router_id: Ipv4Addr::new(10, 0, 0, id),
            hold_time: 9,
            expected_as: ExpectedAs::Exact(65000),
            graceful_restart: Default::default(),
        }
    }

    fn established(now: Instant) -> Connection {
        let (mut c, open) = Connection::start(now, Direction::Outbound, side(1));
        assert!(matches!(open, Message::Open(_)));
        let acts = c.on_message(now, Message::Open(side(2).open()));
        assert_eq!(acts[0], Action::Send(Box::new(Message::Keepalive)));
        assert!(matches!(acts[1], Action::OpenReceived(n) if n.hold_time == 9));
        assert_eq!(c.state(), State::OpenConfirm);
        assert_eq!(
            c.on_message(now, Message::Keepalive),
            vec![Action::Established]
        );
        assert_eq!(c.state(), State::Established);
        c
    }

    #[test]
    fn keepalives_every_third_of_hold_time_and_hold_expiry() {
        let t0 = Instant::now();
        let mut c = established(t0);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(3)));
        assert!(c.on_timeout(t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(
            c.on_timeout(t0 + Duration::from_secs(3)),
            vec![Action::Send(Box::new(Message::Keepalive))]
        );
        // Nothing received for 9 s: the hold timer fires with NOTIFICATION 4/0.
        let acts = c.on_timeout(t0 + Duration::from_secs(9));
        assert!(matches!(&acts[0], Action::Close { notify: Some(n), .. } if n.code == 4));
    }

    #[test]
    fn received_keepalive_restarts_hold_timer() {
        let t0 = Instant::now();
        let mut c = established(t0);
        c.on_message(t0 + Duration::from_secs(8), Message::Keepalive);
        let acts = c.on_timeout(t0 + Duration::from_secs(9));
        assert!(!acts.iter().any(|a| matches!(a, Action::Close { .. })));
    }

    #[test]
    fn update_before_established_is_an_fsm_error() {
        let t0 = Instant::now();
        let (mut c, _) = Connection::start(t0, Direction::Inbound, side(1));
        let acts = c.on_message(t0, Message::Update(Update::default()));
        assert!(matches!(&acts[0], Action::Close { notify: Some(n), .. }
            if (n.code, n.subcode) == (codes::FSM_ERROR, codes::FSM_IN_OPEN_SENT)));
    }

    #[test]
    fn open_hold_timer_is_four_minutes() {
        let t0 = Instant::now();
        let (mut c, _) = Connection::start(t0, Direction::Inbound, side(1));
        assert!(c.on_timeout(t0 + Duration::from_secs(239)).is_empty());
        assert!(matches!(
            &c.on_timeout(t0 + OPEN_HOLD_TIME)[0],
            Action::Close { .. }
        ));
    }

    #[test]
    fn notification_closes_without_answer() {
        let t0 = Instant::now();
        let mut c = established(t0);
        let n = Notification {
            code: 6,
            subcode: 2,
            data: vec![],
        };
        assert!(matches!(
            &c.on_message(t0, Message::Notification(n))[0],
            Action::Close { notify: None, .. }
        ));
    }
}
