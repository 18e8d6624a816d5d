//! Receiving: framing of the byte stream, message dispatch to the connection FSM, and
//! UPDATE import into Adj-RIB-In and Loc-RIB.
//!
//! RFC 7606 outcomes from the parser are applied here: a `ParseError` sends its
//! NOTIFICATION and closes; `treat_as_withdraw` withdraws every NLRI of the UPDATE;
//! discarded attributes are already gone. Import runs loop detection (RFC 4456 and the
//! eBGP AS loop), then the peer's import policy; rejected routes stay in Adj-RIB-In
//! (counted per reason) so that a new policy can re-evaluate them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use crate::policy::{Outcome, Policy};
use crate::reflect::{Role, loop_check};
use crate::rib::adj_in::{InRoute, Verdict};
use crate::rib::intern::Interner;
use crate::rib::{Attrs, SourceId};
use crate::session::codes;
use crate::speaker::conns::CloseKind;
use crate::speaker::peer::Peer;
use crate::speaker::{ConnId, Event, MaxPrefixAction, Speaker, SpeakerConfig};
use crate::wire::{self, Message, MpReach, Notification, Update};

/// Capacity of an empty receive buffer kept for the next chunk; a larger one (left by a
/// bulk transfer) is given back.
const RX_KEEP: usize = 8 * 1024;

/// The import verdict of one route.
fn judge(
    peer: &mut Peer,
    interner: &mut Interner,
    config: &SpeakerConfig,
    cluster_id: Option<Ipv4Addr>,
    prefix: &IpNet,
    received: &Attrs,
) -> Verdict {
    let external = peer.role() == Role::External;
    if let Some(l) = loop_check(
        received,
        config.router_id,
        cluster_id,
        config.local_as,
        external,
    ) {
        return Verdict::Rejected(peer.adj_in.reason(l.name()));
    }
    match peer.import.evaluate(prefix, received) {
        Outcome::Reject(reason) => Verdict::Rejected(peer.adj_in.reason(reason)),
        Outcome::Accept { attrs: None, .. } => Verdict::Accepted(Arc::clone(received)),
        Outcome::Accept { attrs: Some(a), .. } => Verdict::Accepted(interner.intern(*a)),
    }
}

fn accepted(v: &Verdict) -> Option<&Attrs> {
    match v {
        Verdict::Accepted(a) => Some(a),
        Verdict::Rejected(_) => None,
    }
}

impl Speaker {
    /// The cluster id used for reflection and loop detection, when reflecting at all.
    pub(super) fn cluster_id(&self) -> Option<Ipv4Addr> {
        self.config
            .cluster_id
            .or(self.reflector.then_some(self.config.router_id))
    }

    pub(super) fn received(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        // Whole messages are framed straight from `data` when nothing is left over from
        // the previous chunk; only a partial message is copied into `rx`.
        let from_input = c.rx.is_empty();
        if !from_input {
            c.rx.extend_from_slice(data);
        }
        let mut offset = 0;
        loop {
            let ctx = self.conn_ctx(id);
            let Some(c) = self.conns.get(&id) else { return };
            let buf = if from_input {
                &data[offset..]
            } else {
                &c.rx[offset..]
            };
            let mut end_of_rib = None;
            let parsed = match wire::frame_len(buf) {
                Ok(None) => break,
                Ok(Some(n)) => {
                    offset += n;
                    end_of_rib = wire::end_of_rib_family(&buf[..n]);
                    Message::parse(&buf[..n], &ctx)
                }
                Err(e) => Err(e),
            };
            match parsed {
                Err(e) => {
                    return self.close_conn(
                        now,
                        id,
                        Some(e.notification),
                        e.reason,
                        CloseKind::Error,
                    );
                }
                Ok(msg) => {
                    if let Message::Notification(n) = &msg {
                        let hard = n.code == codes::CEASE && n.subcode == codes::CEASE_HARD_RESET;
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.hard_reset_received |= hard;
                        }
                        let Some(c) = self.conns.get(&id) else { return };
                        let peer = self.peer(c.peer).config.remote;
                        self.event(Event::Notification {
                            peer,
                            sent: false,
                            code: n.code,
                            subcode: n.subcode,
                        });
                    }
                    let Some(c) = self.conns.get_mut(&id) else {
                        return;
                    };
                    let actions = c.fsm.on_message(now, msg);
                    self.refile_timer(id);
                    self.apply(now, id, actions);
                    if let Some((afi, _)) = end_of_rib
                        && let Some(c) = self.conns.get(&id)
                        && self.peer(c.peer).established == Some(id)
                    {
                        self.end_of_rib_received(c.peer, afi);
                    }
                }
            }
        }
        if let Some(c) = self.conns.get_mut(&id) {
            if from_input {
                c.rx.extend_from_slice(&data[offset..]);
            } else {
                c.rx.drain(..offset);
            }
            // A bulk transfer grew the buffer; a quiet session keeps none.
            if c.rx.is_empty() && c.rx.capacity() > RX_KEEP {
                c.rx = Vec::new();
            }
        }
    }

    pub(super) fn process_update(&mut self, now: Instant, idx: usize, update: Update) {
        let Update {
            withdrawn,
            mut attrs,
            nlri,
            treat_as_withdraw,
            discarded: _,
        } = update;
        let external = self.peer(idx).role() == Role::External;
        for p in withdrawn {
            self.remove_route(idx, IpNet::V4(p.trunc()));
        }
        for p in std::mem::take(&mut attrs.mp_unreach) {
            self.remove_route(idx, IpNet::V6(p.trunc()));
        }
        let mp = attrs.mp_reach.take();
        if external {
            attrs.local_pref = None;
        }
        if let Some(err) = treat_as_withdraw {
            for p in nlri {
                self.remove_route(idx, IpNet::V4(p.trunc()));
            }
            for p in mp.into_iter().flat_map(|m| m.nlri) {
                self.remove_route(idx, IpNet::V6(p.trunc()));
            }
            self.peer_mut(idx).last_error = Some(format!("update treated as withdraw: {err}"));
            return;
        }
        if !nlri.is_empty() {
            if attrs.next_hop.is_none() {
                for p in nlri {
                    self.remove_route(idx, IpNet::V4(p.trunc()));
                }
            } else {
                let shared = self.interner.intern(attrs.clone());
                let prefixes = nlri.into_iter().map(|p| IpNet::V4(p.trunc()));
                self.add_routes(idx, prefixes, &shared);
            }
        }
        if let Some(mp) = mp
            && !mp.nlri.is_empty()
        {
            let MpReach {
                next_hop,
                link_local,
                nlri,
            } = mp;
            attrs.mp_reach = Some(MpReach {
                next_hop,
                link_local,
                nlri: Vec::new(),
            });
            attrs.next_hop = None;
            let shared = self.interner.intern(attrs);
            let prefixes = nlri.into_iter().map(|p| IpNet::V6(p.trunc()));
            self.add_routes(idx, prefixes, &shared);
        }
        self.check_max_prefix(now, idx);
    }

    /// Store routes that share one received attribute set. When the import policy does
    /// not look at prefixes, the verdict is worked out once for all of them.
    fn add_routes(&mut self, idx: usize, prefixes: impl Iterator<Item = IpNet>, received: &Attrs) {
        let cluster = self.cluster_id();
        let Speaker {
            peers,
            interner,
            loc,
            config,
            ..
        } = self;
        // NOTE(unwrap): callers pass indices of live slots only.
        let p = peers[idx].as_mut().expect("live peer slot");
        let src = SourceId(idx as u32 + 1);
        let mut shared: Option<Verdict> = None;
        let per_prefix = p.import.depends_on_prefix();
        for prefix in prefixes {
            let verdict = match &shared {
                Some(v) => v.clone(),
                None => {
                    let v = judge(p, interner, config, cluster, &prefix, received);
                    if !per_prefix {
                        shared = Some(v.clone());
                    }
                    v
                }
            };
            let new = accepted(&verdict).cloned();
            let old = p.adj_in.insert(
                loc,
                src,
                prefix,
                InRoute {
                    received: Arc::clone(received),
                    verdict,
                    stale: false,
                },
            );
            let was_accepted = old.as_ref().is_some_and(|o| accepted(&o.verdict).is_some());
            if new.is_some() || was_accepted {
                loc.update(prefix, src, new);
            }
        }
    }

    fn remove_route(&mut self, idx: usize, prefix: IpNet) {
        let Speaker { peers, loc, .. } = self;
        // NOTE(unwrap): callers pass indices of live slots only.
        let p = peers[idx].as_mut().expect("live peer slot");
        let src = SourceId(idx as u32 + 1);
        if let Some(old) = p.adj_in.remove(loc, src, &prefix)
            && accepted(&old.verdict).is_some()
        {
            loc.update(prefix, src, None);
        }
    }

    fn check_max_prefix(&mut self, now: Instant, idx: usize) {
        let p = self.peer_mut(idx);
        let Some((limit, action)) = p.config.max_prefix else {
            return;
        };
        let count = p.adj_in.len();
        if count <= limit as usize {
            p.max_prefix_warned = false;
            return;
        }
        let reason = format!("maximum prefixes exceeded: {count} received, limit {limit}");
        match action {
            MaxPrefixAction::Warn => {
                if !p.max_prefix_warned {
                    p.max_prefix_warned = true;
                    p.last_error = Some(reason);
                }
            }
            MaxPrefixAction::Shutdown(idle) => {
                let Some(conn) = p.established else { return };
                // RFC 4486 §4: AFI, SAFI and the upper bound.
                let mut data = vec![0, 1, 1];
                data.extend_from_slice(&limit.to_be_bytes());
                let n = Notification {
                    code: codes::CEASE,
                    subcode: codes::CEASE_MAX_PREFIX,
                    data,
                };
                self.close_conn(now, conn, Some(n), reason, CloseKind::MaxPrefix(idle));
            }
        }
    }

    pub(super) fn set_import_policy(&mut self, addr: IpAddr, policy: Policy) {
        match self.by_addr.get(&addr).copied() {
            Some(idx) => {
                if self.peer(idx).dynamic.is_some() {
                    self.dynamic_policies.insert(addr, policy.clone());
                }
                self.reevaluate(idx, policy);
            }
            None => {
                if self.ranges.iter().any(|r| r.range.prefix.contains(&addr)) {
                    self.dynamic_policies.insert(addr, policy);
                }
            }
        }
    }

    /// Install a new import policy and re-evaluate the peer's whole Adj-RIB-In.
    pub(super) fn reevaluate(&mut self, idx: usize, policy: Policy) {
        let cluster = self.cluster_id();
        let src = SourceId(idx as u32 + 1);
        let Speaker {
            peers,
            interner,
            loc,
            config,
            ..
        } = self;
        // NOTE(unwrap): callers pass indices of live slots only.
        let p = peers[idx].as_mut().expect("live peer slot");
        p.import = policy;
        let routes = p.adj_in.iter(loc, src);
        for (prefix, received) in routes {
            let verdict = judge(p, interner, config, cluster, &prefix, &received);
            let new = accepted(&verdict).cloned();
            let old = p.adj_in.set_verdict(loc, src, &prefix, verdict);
            let old = old.as_ref().and_then(accepted);
            let same = match (old, &new) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                loc.update(prefix, src, new);
            }
        }
    }
}
