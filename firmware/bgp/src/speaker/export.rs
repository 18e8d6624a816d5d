//! Export: from Loc-RIB best paths to each Established peer's Adj-RIB-Out, and from
//! there to packed UPDATEs.
//!
//! A best-path change marks the prefix in each Established peer's Adj-RIB-Out; when the
//! peer's batch goes out, each marked prefix's route for the peer is worked out from the
//! Loc-RIB as it is then (so nothing per route is held per peer, see `rib::adj_out`).
//! Per prefix and peer: only the best path is considered; it is never sent back to the
//! peer it came from; RFC 4456 client/non-client rules decide whether it goes out at
//! all; then the attribute changes for the kind of session (reflection: ORIGINATOR_ID,
//! CLUSTER_LIST; eBGP: AS prepended, LOCAL_PREF/ORIGINATOR_ID/CLUSTER_LIST stripped,
//! next hop self; local routes: next hop self), then the peer's export policy. The
//! result is interned.
//! The attribute transformation is memoised within a flush per (attribute set, source,
//! the peer's kind of session, next-hop-self, local address), shared by every peer
//! alike: a million prefixes sharing one set cost one transformation, and a thousand
//! clients' routes reflected to each other cost one transformation per route, not one
//! per route and peer. The memo lives for one flush only, while the Loc-RIB holds every
//! keyed set (so no address is reused under it).
//! With an export interval ([`Speaker::set_export_interval`]) a peer's pending changes
//! go out at most once per interval; the peer's deadline wakes the speaker for them.
//! A scaled interval ([`Speaker::set_scaled_export_interval`]) is worked out at each
//! flush from the number of Established peers.
//! During a selection deferral (`deferral`) nothing goes out: changes stay marked.
//! With an export budget ([`Speaker::set_export_budget`]) one flush stops encoding once
//! the budget is spent; the remaining peers are due at once and the next flush starts
//! with them (round robin over the established peers).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::policy::Outcome;
use crate::reflect::{Role, may_advertise, reflected, set_next_hop, to_external, to_internal};
use crate::rib::adj_out::{Batch, BatchBuilder};
use crate::rib::loc::Path;
use crate::rib::prefix_hash::FastMap;
use crate::rib::{Attrs, SourceId};
use crate::speaker::{Output, Speaker};
use crate::wire::{self, Afi, RouteRefresh, Safi};

/// What the transformed attributes of a path depend on besides the peer's export policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MemoKey {
    /// Address of the best path's attribute set.
    attrs: usize,
    /// The best path's source.
    source: u32,
    /// The receiving peer's kind of session.
    to: Role,
    /// The receiving peer's next-hop-self setting.
    next_hop_self: bool,
    /// Our address on the receiving peer's session.
    local: IpAddr,
}

/// Transformed attributes for one flush, shared by every peer, with the last entry
/// looked up kept aside: consecutive prefixes of a batch mostly share their best path's
/// attribute set, and comparing one key is cheaper than hashing it.
#[derive(Default)]
struct Memo {
    map: FastMap<MemoKey, Attrs>,
    last: Option<(MemoKey, Attrs)>,
}

impl Memo {
    fn get(&mut self, key: &MemoKey) -> Option<Attrs> {
        if let Some((k, a)) = &self.last
            && k == key
        {
            return Some(Arc::clone(a));
        }
        let a = Arc::clone(self.map.get(key)?);
        self.last = Some((*key, Arc::clone(&a)));
        Some(a)
    }

    fn insert(&mut self, key: MemoKey, attrs: Attrs) {
        self.last = Some((key, Arc::clone(&attrs)));
        self.map.insert(key, attrs);
    }
}

/// Until when a peer's pending changes wait: `None` to send now (no interval, no clock
/// yet, or the last batch is at least `interval` old).
fn export_wait(
    exported_at: Option<Instant>,
    now: Option<Instant>,
    interval: Duration,
) -> Option<Instant> {
    let (last, now) = (exported_at?, now?);
    let at = last + interval;
    (at > now).then_some(at)
}

impl Speaker {
    /// Turn Loc-RIB changes into FIB outputs and UPDATEs.
    pub(super) fn flush(&mut self) {
        for change in self.loc.take_fib() {
            self.out.push_back(Output::Fib(change));
        }
        let changed = self.loc.take_changed();
        let established: Vec<usize> = (0..self.peers.len())
            .filter(|&i| {
                self.peers[i]
                    .as_ref()
                    .is_some_and(|p| p.established.is_some())
            })
            .collect();
        if !changed.is_empty() {
            for &idx in &established {
                let own = SourceId(idx as u32 + 1);
                let out = &mut self.peer_mut(idx).adj_out;
                for (prefix, best) in &changed {
                    out.mark_changed(*prefix, best.as_ref().is_some_and(|b| b.source != own));
                }
            }
        }
        let interval = match self.export_interval_per_peer {
            Some(per_peer) => {
                let fan_out = u32::try_from(established.len()).unwrap_or(u32::MAX);
                per_peer.saturating_mul(fan_out).min(self.export_interval)
            }
            None => self.export_interval,
        };
        let now = self.now;
        let deferred = self.deferral.is_some();
        let mut memo = Memo::default();
        // Round robin: start after the peer the last budgeted flush stopped at.
        let start = established
            .iter()
            .position(|&i| i >= self.export_cursor)
            .unwrap_or(0);
        let mut spent = 0usize;
        let mut stopped_at = None;
        for &idx in established[start..].iter().chain(&established[..start]) {
            let before = self.peer(idx).export_at;
            'peer: {
                let over_budget =
                    self.export_budget > 0 && spent >= self.export_budget && now.is_some();
                let p = self.peer_mut(idx);
                if deferred {
                    // Selection deferral (RFC 4724 §4.1): changes stay marked, End-of-RIB
                    // waits; the flush that ends the deferral sends both.
                    p.export_at = None;
                    break 'peer;
                }
                if !p.adj_out.has_pending() {
                    p.export_at = None;
                } else if let Some(at) = export_wait(p.exported_at, now, interval) {
                    // End-of-RIB follows the initial table, so it waits as well.
                    p.export_at = Some(at);
                    break 'peer;
                } else if over_budget {
                    // Due at once; the next flush starts here.
                    p.export_at = now;
                    stopped_at.get_or_insert(idx);
                    break 'peer;
                } else {
                    p.export_at = None;
                    p.exported_at = now;
                    let batch = self.take_batch(idx, &mut memo);
                    spent += self.send_batch(idx, &batch);
                }
                self.send_end_of_rib(idx);
            }
            if self.peer(idx).export_at != before {
                self.refile_peer(idx);
            }
        }
        if let Some(idx) = stopped_at {
            self.export_cursor = idx;
        }
    }

    /// The marked prefixes of peer `idx` with their routes as the Loc-RIB has them now,
    /// recorded as sent.
    fn take_batch(&mut self, idx: usize, memo: &mut Memo) -> Batch {
        let pending = self.peer_mut(idx).adj_out.take_pending();
        let mut batch = BatchBuilder::default();
        for prefix in &pending {
            let best = self.loc.best(prefix).cloned();
            let attrs = self.export_path(idx, prefix, best.as_ref(), memo);
            self.peer_mut(idx)
                .adj_out
                .record(&mut batch, *prefix, attrs.as_ref());
        }
        batch.finish()
    }

    /// Mark every prefix of the Loc-RIB for a peer (session up, export policy change).
    pub(super) fn export_full(&mut self, idx: usize) {
        let own = SourceId(idx as u32 + 1);
        let Speaker { peers, loc, .. } = self;
        let Some(p) = peers[idx].as_mut() else { return };
        for (prefix, best) in loc.iter_best() {
            p.adj_out.mark_changed(prefix, best.source != own);
        }
    }

    /// What `prefix`, whose best path is `best`, should look like at peer `idx`
    /// (`None`: not advertised).
    fn export_path(
        &mut self,
        idx: usize,
        prefix: &IpNet,
        best: Option<&Path>,
        memo: &mut Memo,
    ) -> Option<Attrs> {
        let cluster = self.cluster_id().unwrap_or(self.config.router_id);
        let Speaker {
            peers,
            loc,
            interner,
            config,
            ..
        } = self;
        let p = peers[idx].as_ref()?;
        let n = p.negotiated?;
        let family_ok = match prefix {
            IpNet::V4(_) => n.ipv4,
            IpNet::V6(_) => n.ipv6,
        };
        let best = best?;
        if !family_ok || best.source == SourceId(idx as u32 + 1) {
            return None;
        }
        let source = loc.source_info(best.source)?;
        let (from, to) = (source.role, p.role());
        if !may_advertise(from, to) {
            return None;
        }
        let self_nh = p.local_addr?;
        let key = MemoKey {
            attrs: Arc::as_ptr(&best.attrs) as usize,
            source: best.source.0,
            to,
            next_hop_self: p.config.next_hop_self,
            local: self_nh,
        };
        let transformed = match memo.get(&key) {
            Some(a) => a,
            None => {
                let mut out = match (to, from) {
                    (Role::External, _) => {
                        to_external(&best.attrs, config.local_as, self_nh, from == Role::Local)
                    }
                    (_, Role::Client | Role::NonClient) => {
                        reflected(&best.attrs, source.router_id, cluster)
                    }
                    _ => to_internal(&best.attrs),
                };
                if from == Role::Local || (to != Role::External && p.config.next_hop_self) {
                    set_next_hop(&mut out, self_nh);
                }
                let a = interner.intern(out);
                memo.insert(key, Arc::clone(&a));
                a
            }
        };
        if p.config.export.is_accept_all() {
            return Some(transformed);
        }
        match p.config.export.evaluate(prefix, &transformed) {
            Outcome::Reject(_) => None,
            Outcome::Accept {
                attrs: None,
                next_hop_self: false,
            } => Some(transformed),
            Outcome::Accept {
                attrs,
                next_hop_self,
            } => {
                let mut out = attrs.map_or_else(|| (*transformed).clone(), |a| *a);
                if next_hop_self {
                    set_next_hop(&mut out, self_nh);
                }
                Some(interner.intern(out))
            }
        }
    }

    /// Encode a batch into packed UPDATEs on the peer's Established connection; returns
    /// the octets encoded.
    fn send_batch(&mut self, idx: usize, batch: &Batch) -> usize {
        let p = self.peer(idx);
        let (Some(conn), Some(n)) = (p.established, p.negotiated) else {
            return 0;
        };
        let ctx = n.parse_ctx();
        let mut msgs = Vec::new();
        wire::pack_withdrawals(&ctx, &batch.withdraw_v4, &mut msgs);
        wire::pack_withdrawals_v6(&ctx, &batch.withdraw_v6, &mut msgs);
        for (attrs, nlri) in &batch.v4 {
            wire::pack_updates(&ctx, attrs, nlri, &mut msgs);
        }
        for (attrs, nlri) in &batch.v6 {
            wire::pack_updates_v6(&ctx, attrs, nlri, &mut msgs);
        }
        let octets = msgs.iter().map(Vec::len).sum();
        for m in msgs {
            self.transmit(conn, m);
        }
        octets
    }

    /// After the initial table: End-of-RIB (RFC 4724 §2) for each negotiated family.
    fn send_end_of_rib(&mut self, idx: usize) {
        let p = self.peer_mut(idx);
        if !std::mem::take(&mut p.send_eor) {
            return;
        }
        let (Some(conn), Some(n)) = (p.established, p.negotiated) else {
            return;
        };
        let mut bytes = Vec::new();
        if n.ipv4 {
            wire::emit_end_of_rib(Afi::Ipv4, Safi::Unicast, &mut bytes);
        }
        if n.ipv6 {
            wire::emit_end_of_rib(Afi::Ipv6, Safi::Unicast, &mut bytes);
        }
        if !bytes.is_empty() {
            self.transmit(conn, bytes);
        }
    }

    /// Answer a ROUTE-REFRESH: every advertised prefix of the family is sent again (with
    /// the next batch, which the flush ending this input starts unless an export interval
    /// holds it).
    pub(super) fn route_refresh(&mut self, idx: usize, r: RouteRefresh) {
        match r.afi {
            Afi::Ipv4 => self.peer_mut(idx).adj_out.mark_advertised(false),
            Afi::Ipv6 => self.peer_mut(idx).adj_out.mark_advertised(true),
            Afi::Other(_) => {}
        }
    }
}
