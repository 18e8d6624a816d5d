//! Adj-RIB-Out of one peer: which prefixes were advertised, and which changed since.
//!
//! The routes themselves are not stored here: what a peer is sent for a prefix is a
//! function of the prefix's current Loc-RIB best path and the peer's export (reflection
//! rules, policy), worked out when the change is sent. Per peer this keeps:
//! - `advertised`: the prefixes the peer holds from us (a set, no attributes), so that a
//!   withdrawal is sent only for a prefix that was announced, and the advertised count
//!   is exact;
//! - `pending`: the prefixes marked changed since the last batch (a list; a prefix
//!   marked twice is sent once).
//!
//! Contract (call order): [`AdjRibOut::mark`] a prefix whenever its best path changes
//! (or the peer's export does); at send time [`AdjRibOut::take_pending`] hands out every
//! marked prefix once, the caller works out each one's route for the peer from the
//! Loc-RIB as it is then, and [`AdjRibOut::record`] adds it to a [`BatchBuilder`] and
//! updates `advertised`. Invariants: after a batch, `advertised` holds exactly the
//! prefixes whose last recorded route was `Some`; a withdrawal goes out only for an
//! advertised prefix; an announcement always goes out (a prefix whose best path changed
//! and back within one batch is announced again, with the same attributes).
//! A prefix whose new best path cannot go to the peer (none left, or the peer's own
//! route) and which is not advertised needs no mark ([`AdjRibOut::mark_changed`] skips
//! it), so the source of a table pays nothing for its own routes.

use crate::rib::prefix_hash::FastMap;
use crate::rib::prefix_set::{PrefixList, PrefixSet};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::rib::Attrs;

/// Changes to send, grouped by attribute set.
#[derive(Debug, Default)]
pub struct Batch {
    /// IPv4 announcements: one attribute set, many prefixes.
    pub v4: Vec<(Attrs, Vec<Ipv4Net>)>,
    /// IPv6 announcements.
    pub v6: Vec<(Attrs, Vec<Ipv6Net>)>,
    /// IPv4 withdrawals.
    pub withdraw_v4: Vec<Ipv4Net>,
    /// IPv6 withdrawals.
    pub withdraw_v6: Vec<Ipv6Net>,
}

impl Batch {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty()
            && self.v6.is_empty()
            && self.withdraw_v4.is_empty()
            && self.withdraw_v6.is_empty()
    }

    /// Number of prefixes announced or withdrawn.
    pub fn prefixes(&self) -> usize {
        self.v4.iter().map(|g| g.1.len()).sum::<usize>()
            + self.v6.iter().map(|g| g.1.len()).sum::<usize>()
            + self.withdraw_v4.len()
            + self.withdraw_v6.len()
    }

    fn add(&mut self, index: &mut GroupIndex, prefix: IpNet, attrs: Option<&Attrs>) {
        match (prefix, attrs) {
            (IpNet::V4(p), None) => self.withdraw_v4.push(p),
            (IpNet::V6(p), None) => self.withdraw_v6.push(p),
            (IpNet::V4(p), Some(a)) => {
                let i = index.group(a, false, &mut self.v4);
                self.v4[i].1.push(p);
            }
            (IpNet::V6(p), Some(a)) => {
                let i = index.group(a, true, &mut self.v6);
                self.v6[i].1.push(p);
            }
        }
    }
}

/// Where each attribute set's group is in a [`Batch`], remembering the last one asked
/// for (consecutive prefixes mostly share a set).
#[derive(Default)]
struct GroupIndex {
    groups: FastMap<(usize, bool), usize>,
    last: Option<((usize, bool), usize)>,
}

impl GroupIndex {
    /// The index of `attrs`' group in `groups`, added when missing.
    fn group<P>(&mut self, attrs: &Attrs, v6: bool, groups: &mut Vec<(Attrs, Vec<P>)>) -> usize {
        let key = (Arc::as_ptr(attrs) as usize, v6);
        if let Some((k, i)) = self.last
            && k == key
        {
            return i;
        }
        let i = *self.groups.entry(key).or_insert_with(|| {
            groups.push((Arc::clone(attrs), Vec::new()));
            groups.len() - 1
        });
        self.last = Some((key, i));
        i
    }
}

/// A [`Batch`] being filled, with the index of its attribute-set groups.
#[derive(Default)]
pub struct BatchBuilder {
    batch: Batch,
    index: GroupIndex,
}

impl BatchBuilder {
    /// Add one change (`None`: withdraw).
    pub fn add(&mut self, prefix: IpNet, attrs: Option<&Attrs>) {
        self.batch.add(&mut self.index, prefix, attrs);
    }

    /// The batch.
    pub fn finish(self) -> Batch {
        self.batch
    }
}

/// Adj-RIB-Out of one peer.
#[derive(Debug, Default)]
pub struct AdjRibOut {
    advertised: PrefixSet,
    pending: PrefixList,
}

impl AdjRibOut {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mark `prefix` changed: its route at the peer is worked out at the next batch.
    pub fn mark(&mut self, prefix: IpNet) {
        self.pending.push(prefix);
    }

    /// Mark `prefix` changed unless nothing is to be done for it: `may_export` false
    /// says its best path cannot go to this peer (no path left, or the peer's own), and
    /// then an unadvertised prefix needs no mark.
    pub fn mark_changed(&mut self, prefix: IpNet, may_export: bool) {
        if may_export || (!self.advertised.is_empty() && self.advertised.contains(&prefix)) {
            self.pending.push(prefix);
        }
    }

    /// Mark every advertised prefix of one family (IPv6 when `v6`): all are sent again
    /// (a ROUTE-REFRESH answer).
    pub fn mark_advertised(&mut self, v6: bool) {
        let AdjRibOut {
            advertised,
            pending,
        } = self;
        for prefix in advertised.iter_family(v6) {
            pending.push(prefix);
        }
    }

    /// Anything marked?
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Every marked prefix once; nothing is marked afterwards. Each is to be passed to
    /// [`AdjRibOut::record`] with its route as of now.
    pub fn take_pending(&mut self) -> Vec<IpNet> {
        self.pending.take_unique()
    }

    /// `prefix` goes to the peer with `route` (`None`: not advertised): added to the
    /// batch (a withdrawal only when it was advertised) and recorded.
    pub fn record(&mut self, batch: &mut BatchBuilder, prefix: IpNet, route: Option<&Attrs>) {
        match route {
            Some(_) => {
                self.advertised.insert(prefix);
            }
            None if !self.advertised.remove(&prefix) => return,
            None => {}
        }
        batch.add(prefix, route);
    }

    /// Whether `prefix` is advertised to the peer.
    pub fn is_advertised(&self, prefix: &IpNet) -> bool {
        self.advertised.contains(prefix)
    }

    /// Forget everything (session down).
    pub fn clear(&mut self) {
        self.advertised.clear();
        self.pending.clear();
    }

    /// Prefixes advertised.
    pub fn len(&self) -> usize {
        self.advertised.len()
    }

    /// Nothing advertised.
    pub fn is_empty(&self) -> bool {
        self.advertised.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PathAttributes;

    fn attrs(med: u32) -> Attrs {
        Arc::new(PathAttributes {
            med: Some(med),
            ..Default::default()
        })
    }

    /// One batch: every pending prefix with the route `route` gives it now.
    fn send(out: &mut AdjRibOut, route: impl Fn(IpNet) -> Option<Attrs>) -> Batch {
        let mut b = BatchBuilder::default();
        for p in out.take_pending() {
            out.record(&mut b, p, route(p).as_ref());
        }
        b.finish()
    }

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn groups_by_attribute_set_and_sends_a_prefix_marked_twice_once() {
        let mut out = AdjRibOut::new();
        let (a, b) = (attrs(1), attrs(2));
        let route = |p: IpNet| {
            let IpNet::V4(v4) = p else { return None };
            Some(if v4.addr().octets()[2] % 2 == 0 {
                a.clone()
            } else {
                b.clone()
            })
        };
        for i in 0..100u8 {
            out.mark(p(&format!("10.0.{i}.0/24")));
            out.mark(p(&format!("10.0.{i}.0/24")));
        }
        let batch = send(&mut out, route);
        assert_eq!(batch.v4.len(), 2);
        assert_eq!(batch.prefixes(), 100);
        assert_eq!(out.len(), 100);
        assert!(!out.has_pending());
        assert!(
            send(&mut out, route).is_empty(),
            "nothing marked, nothing sent"
        );
    }

    #[test]
    fn a_withdrawal_goes_out_only_for_an_advertised_prefix() {
        let mut out = AdjRibOut::new();
        let a = attrs(1);
        out.mark(p("10.0.1.0/24"));
        send(&mut out, |_| Some(a.clone()));
        // The sent one is withdrawn; one never advertised is not.
        out.mark(p("10.0.1.0/24"));
        out.mark(p("10.9.0.0/16"));
        let batch = send(&mut out, |_| None);
        assert_eq!(
            batch.withdraw_v4,
            vec!["10.0.1.0/24".parse::<Ipv4Net>().unwrap()]
        );
        assert_eq!(batch.prefixes(), 1);
        assert!(out.is_empty());
        // Announced and gone again before the batch: nothing at all.
        out.mark(p("10.0.2.0/24"));
        assert!(send(&mut out, |_| None).is_empty());
    }

    #[test]
    fn the_peers_own_routes_are_not_marked_unless_advertised() {
        let mut out = AdjRibOut::new();
        out.mark_changed(p("10.0.1.0/24"), false);
        assert!(!out.has_pending(), "own route, never advertised: no work");
        out.mark_changed(p("10.0.1.0/24"), true);
        send(&mut out, |_| Some(attrs(1)));
        assert!(out.is_advertised(&p("10.0.1.0/24")));
        // Now the peer's own path won: the advertised copy must be withdrawn.
        out.mark_changed(p("10.0.1.0/24"), false);
        let batch = send(&mut out, |_| None);
        assert_eq!(batch.withdraw_v4.len(), 1);
        assert!(!out.is_advertised(&p("10.0.1.0/24")));
    }

    #[test]
    fn a_refresh_marks_every_advertised_prefix_of_the_family() {
        let mut out = AdjRibOut::new();
        let a = attrs(1);
        for s in ["10.0.1.0/24", "10.0.2.0/24", "2001:db8::/32"] {
            out.mark(p(s));
        }
        send(&mut out, |_| Some(a.clone()));
        out.mark_advertised(false);
        let batch = send(&mut out, |_| Some(a.clone()));
        assert_eq!((batch.prefixes(), batch.v6.len()), (2, 0));
        out.mark_advertised(true);
        assert_eq!(send(&mut out, |_| Some(a.clone())).v6[0].1.len(), 1);
        out.clear();
        assert!(out.is_empty() && !out.has_pending());
    }
}
