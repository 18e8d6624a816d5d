//! Incoming connections: configured peers, dynamic peers admitted from listen ranges,
//! and refusals.
//!
//! Rules, in order: a source that is one of the router's own addresses is refused
//! (`local-address`); nothing is admitted after shutdown (`shutting-down`); a configured
//! peer waiting out its idle-hold time, or a dynamic source held down after a max-prefix
//! shutdown, is refused (`peer-idle`); an unknown source must be
//! inside a range (`no-matching-range`, the most specific range wins) that is not full
//! (`range-full`). Every refusal is counted by reason, reported as
//! [`Event::Refused`], answered with Cease/Connection Rejected and closed.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::session::codes;
use crate::session::connection::Direction;
use crate::speaker::peer::Peer;
use crate::speaker::{ConnId, DynamicRange, Event, Output, PeerConfig, Speaker};
use crate::wire::{Message, Notification};

/// A listen range and how many peers it holds.
#[derive(Debug)]
pub(super) struct Range {
    pub(super) range: DynamicRange,
    pub(super) count: usize,
}

/// An IPv4 address seen through a dual-stack socket (`::ffff:a.b.c.d`) as plain IPv4,
/// so that it matches IPv4 peers and ranges and serves as an IPv4 next hop.
pub(super) fn unmapped(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

impl Speaker {
    pub(super) fn add_range(&mut self, range: DynamicRange) {
        if range.template.rr_client {
            self.reflector = true;
        }
        match self.ranges.iter_mut().find(|r| r.range.name == range.name) {
            Some(r) => r.range = range,
            None => self.ranges.push(Range { range, count: 0 }),
        }
    }

    pub(super) fn accepted(
        &mut self,
        now: Instant,
        conn: ConnId,
        remote: SocketAddr,
        local: SocketAddr,
    ) {
        let (remote, local) = (unmapped(remote), unmapped(local));
        let ip = remote.ip();
        if self.config.local_addresses.contains(&ip) {
            return self.refuse(conn, remote, "local-address");
        }
        if self.shut_down {
            return self.refuse(conn, remote, "shutting-down");
        }
        self.held_down.retain(|_, until| *until > now);
        if self.held_down.contains_key(&ip) {
            return self.refuse(conn, remote, "peer-idle");
        }
        if let Some(&idx) = self.by_addr.get(&ip) {
            if self.peer(idx).idle_until.is_some() {
                return self.refuse(conn, remote, "peer-idle");
            }
            return self.open_conn(now, idx, conn, local, Direction::Inbound);
        }
        let best = self
            .ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| r.range.prefix.contains(&ip))
            .max_by_key(|(_, r)| r.range.prefix.prefix_len())
            .map(|(i, _)| i);
        let Some(ri) = best else {
            return self.refuse(conn, remote, "no-matching-range");
        };
        let r = &self.ranges[ri];
        if r.count >= r.range.max_peers {
            return self.refuse(conn, remote, "range-full");
        }
        let config = PeerConfig {
            remote: ip,
            passive: true,
            ..r.range.template.clone()
        };
        let name = r.range.name.clone();
        let import = self.import_policy_for(ip, &config.import);
        self.ranges[ri].count += 1;
        let idx = self.insert_peer(Peer::new(config, import, Some(ri), self.backoff));
        self.event(Event::PeerAdmitted {
            peer: ip,
            range: name,
        });
        self.start_peer(now, idx);
        self.open_conn(now, idx, conn, local, Direction::Inbound);
    }

    fn refuse(&mut self, conn: ConnId, remote: SocketAddr, reason: &str) {
        *self.refusals.entry(reason.to_string()).or_default() += 1;
        self.event(Event::Refused {
            remote,
            reason: reason.to_string(),
        });
        let n = Notification {
            code: codes::CEASE,
            subcode: codes::CEASE_CONNECTION_REJECTED,
            data: Vec::new(),
        };
        let mut bytes = Vec::new();
        Message::Notification(n).emit(&self.conn_ctx(conn), &mut bytes);
        self.transmit(conn, bytes);
        self.out.push_back(Output::Close { conn });
    }
}
