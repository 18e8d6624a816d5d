//! Adj-RIB-In of one peer: every route received, with its import verdict.
//!
//! The received attributes are kept (interned) so that a new import policy can
//! re-evaluate every route without a ROUTE-REFRESH. Counters (received, accepted,
//! rejected per reason, stale) are kept incrementally, so status costs O(reasons).
//!
//! Graceful restart (RFC 4724 §4.2): when a peer's session ends without a NOTIFICATION,
//! its routes are marked stale ([`AdjRibIn::mark_stale`]) instead of being removed; a
//! route received again replaces its stale copy, and [`AdjRibIn::remove_stale`] drops
//! the ones left at End-of-RIB or when the restart timer fires.
//!
//! Storage: a route accepted with the attributes it was received with, and not stale
//! (the common case), is stored nowhere here: it is the peer's path in the Loc-RIB,
//! whose attributes are the received ones. Only the exceptions (rejected, accepted with
//! changed attributes, stale) have an entry here, with their received attributes. So a
//! reflector's table of a million routes from one peer is one prefix table, not two.
//!
//! Contract: every method that needs a route's state takes the Loc-RIB and the peer's
//! [`SourceId`]. The caller keeps the Loc-RIB in step: after [`AdjRibIn::insert`] or
//! [`AdjRibIn::set_verdict`] it sets the peer's path to the accepted attributes (or
//! removes it when rejected), after [`AdjRibIn::remove`], [`AdjRibIn::remove_stale`] and
//! [`AdjRibIn::clear`] it removes the path of every prefix that was accepted, before the
//! next call here. Invariant: the peer's Loc-RIB paths are exactly its accepted routes;
//! those without an exception entry are the routes accepted unchanged and fresh, and
//! their number is counted. Costs: per route O(1). [`AdjRibIn::clear`],
//! [`AdjRibIn::iter`] and [`AdjRibIn::mark_stale`] need the prefixes of those routes:
//! while a peer has at most [`LIST_LIMIT`] of them they are also listed here (a prefix
//! set), so a leaf with a few routes is cleared in O(its routes) however large the
//! Loc-RIB; above that the list is dropped and those calls scan the Loc-RIB for the
//! peer's paths (O(Loc-RIB), at most Loc-RIB / [`LIST_LIMIT`] per route of the peer),
//! until the peer has none left there.

use std::sync::Arc;

use ipnet::IpNet;

use crate::rib::loc::LocRib;
use crate::rib::prefix_map::PrefixMap;
use crate::rib::prefix_set::PrefixSet;
use crate::rib::{Attrs, SourceId};

/// The import verdict of one route.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Accepted with these (post-policy) attributes.
    Accepted(Attrs),
    /// Rejected; index into the reason table.
    Rejected(u16),
}

/// One received route.
#[derive(Debug, Clone)]
pub struct InRoute {
    /// Attributes as received (after RFC 7606 handling).
    pub received: Attrs,
    /// Import verdict.
    pub verdict: Verdict,
    /// Kept from a previous session of a restarting peer (RFC 4724), not yet received again.
    pub stale: bool,
}

impl InRoute {
    /// A fresh route accepted with the attributes it was received with.
    fn unchanged(attrs: &Attrs) -> InRoute {
        InRoute {
            received: Arc::clone(attrs),
            verdict: Verdict::Accepted(Arc::clone(attrs)),
            stale: false,
        }
    }
}

/// A route that is not "accepted unchanged and fresh": rejected, accepted with changed
/// attributes, or stale.
#[derive(Debug, Clone)]
struct Exception {
    received: Attrs,
    /// `Some`: accepted with these attributes; `None`: rejected for `reason`.
    accepted: Option<Attrs>,
    reason: u16,
    stale: bool,
}

impl Exception {
    /// The exception of `route`; `None` for a fresh route accepted with the attributes it
    /// was received with (kept as the peer's Loc-RIB path alone).
    fn of(route: InRoute) -> Option<Exception> {
        let (accepted, reason) = match route.verdict {
            Verdict::Accepted(a) if !route.stale && Arc::ptr_eq(&a, &route.received) => {
                return None;
            }
            Verdict::Accepted(a) => (Some(a), 0),
            Verdict::Rejected(r) => (None, r),
        };
        Some(Exception {
            received: route.received,
            accepted,
            reason,
            stale: route.stale,
        })
    }

    fn into_route(self) -> InRoute {
        InRoute {
            verdict: match self.accepted {
                Some(a) => Verdict::Accepted(a),
                None => Verdict::Rejected(self.reason),
            },
            received: self.received,
            stale: self.stale,
        }
    }
}

/// Up to this many routes accepted unchanged, a peer's Adj-RIB-In also lists their
/// prefixes (about 8 octets each beyond the Loc-RIB).
pub const LIST_LIMIT: usize = 4096;

/// The routes accepted unchanged and fresh, held as the peer's Loc-RIB paths: their
/// number, and their prefixes while there are at most `limit` of them.
#[derive(Debug)]
struct Unchanged {
    count: u64,
    /// `Some` while every such prefix is listed.
    listed: Option<PrefixSet>,
    limit: usize,
}

impl Unchanged {
    fn new(limit: usize) -> Self {
        Unchanged {
            count: 0,
            listed: Some(PrefixSet::default()),
            limit,
        }
    }

    fn add(&mut self, prefix: IpNet) {
        self.count += 1;
        if let Some(list) = &mut self.listed {
            if list.len() < self.limit {
                list.insert(prefix);
            } else {
                self.listed = None;
            }
        }
    }

    fn remove(&mut self, prefix: &IpNet) {
        self.count -= 1;
        match &mut self.listed {
            Some(list) => {
                list.remove(prefix);
            }
            None if self.count == 0 => self.listed = Some(PrefixSet::default()),
            None => {}
        }
    }
}

impl Default for Unchanged {
    fn default() -> Self {
        Unchanged::new(LIST_LIMIT)
    }
}

/// Adj-RIB-In of one peer.
#[derive(Debug, Default)]
pub struct AdjRibIn {
    /// Routes that are not accepted unchanged and fresh.
    exceptions: PrefixMap<Exception>,
    /// Routes accepted unchanged and fresh: held as the peer's Loc-RIB paths only.
    unchanged: Unchanged,
    accepted: u64,
    stale: u64,
    reasons: Vec<(String, u64)>,
}

impl AdjRibIn {
    /// An empty Adj-RIB-In.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty Adj-RIB-In that lists at most `limit` prefixes of routes accepted
    /// unchanged (tests of both ways to find them).
    #[cfg(test)]
    pub(crate) fn with_list_limit(limit: usize) -> Self {
        AdjRibIn {
            unchanged: Unchanged::new(limit),
            ..Self::default()
        }
    }

    /// The index of a rejection reason (reasons are never forgotten).
    pub fn reason(&mut self, name: &str) -> u16 {
        if let Some(i) = self.reasons.iter().position(|(n, _)| n == name) {
            return i as u16;
        }
        self.reasons.push((name.to_string(), 0));
        (self.reasons.len() - 1) as u16
    }

    fn count(&mut self, route: &InRoute, up: bool) {
        let c = match &route.verdict {
            Verdict::Accepted(_) => &mut self.accepted,
            Verdict::Rejected(i) => &mut self.reasons[*i as usize].1,
        };
        if up {
            *c += 1;
            self.stale += u64::from(route.stale);
        } else {
            *c -= 1;
            self.stale -= u64::from(route.stale);
        }
    }

    /// Take the route of `prefix` out (its exception entry, or one of the unchanged);
    /// the Loc-RIB is not touched.
    fn take(&mut self, loc: &LocRib, src: SourceId, prefix: &IpNet) -> Option<InRoute> {
        if !self.exceptions.is_empty()
            && let Some(e) = self.exceptions.remove(prefix)
        {
            let route = e.into_route();
            self.count(&route, false);
            return Some(route);
        }
        if self.unchanged.count == 0 {
            return None;
        }
        let route = InRoute::unchanged(loc.path_from(prefix, src)?);
        self.unchanged.remove(prefix);
        self.count(&route, false);
        Some(route)
    }

    /// Put a route in (nothing of it is there).
    fn put(&mut self, prefix: IpNet, route: InRoute) {
        self.count(&route, true);
        match Exception::of(route) {
            Some(e) => {
                self.exceptions.insert(prefix, e);
            }
            None => self.unchanged.add(prefix),
        }
    }

    /// Store a route (replacing any previous one) and return the previous one. The caller
    /// then sets the peer's Loc-RIB path (see the module contract).
    pub fn insert(
        &mut self,
        loc: &LocRib,
        src: SourceId,
        prefix: IpNet,
        route: InRoute,
    ) -> Option<InRoute> {
        let old = self.take(loc, src, &prefix);
        self.put(prefix, route);
        old
    }

    /// Remove a route. The caller then removes the peer's Loc-RIB path if it was accepted.
    pub fn remove(&mut self, loc: &LocRib, src: SourceId, prefix: &IpNet) -> Option<InRoute> {
        self.take(loc, src, prefix)
    }

    /// The peer's paths in the Loc-RIB that have no exception entry: its routes accepted
    /// unchanged and fresh, from the list or, without one, from a scan of the Loc-RIB.
    fn unchanged_in(&self, loc: &LocRib, src: SourceId) -> Vec<(IpNet, Attrs)> {
        if self.unchanged.count == 0 {
            return Vec::new();
        }
        match &self.unchanged.listed {
            Some(list) => list
                .iter_family(false)
                .chain(list.iter_family(true))
                .filter_map(|p| Some((p, Arc::clone(loc.path_from(&p, src)?))))
                .collect(),
            None => loc
                .paths_from(src)
                .filter(|(p, _)| self.exceptions.is_empty() || self.exceptions.get(p).is_none())
                .map(|(p, a)| (p, Arc::clone(a)))
                .collect(),
        }
    }

    /// Mark every IPv4 (`v4`) and/or IPv6 (`v6`) route stale; returns how many are stale.
    pub fn mark_stale(&mut self, loc: &LocRib, src: SourceId, v4: bool, v6: bool) -> u64 {
        let family = |p: &IpNet| if matches!(p, IpNet::V4(_)) { v4 } else { v6 };
        let mut fresh = self.unchanged_in(loc, src);
        fresh.retain(|(p, _)| family(p));
        for (prefix, attrs) in fresh {
            self.unchanged.remove(&prefix);
            self.stale += 1;
            self.exceptions.insert(
                prefix,
                Exception {
                    received: Arc::clone(&attrs),
                    accepted: Some(attrs),
                    reason: 0,
                    stale: true,
                },
            );
        }
        for (prefix, e) in self.exceptions.iter_mut() {
            if family(&prefix) && !e.stale {
                e.stale = true;
                self.stale += 1;
            }
        }
        self.stale
    }

    /// Remove the stale routes of IPv4 (`v4`) and/or IPv6 (`v6`), returning the removed
    /// prefixes that were accepted (stale routes are all exception entries).
    pub fn remove_stale(&mut self, v4: bool, v6: bool) -> Vec<IpNet> {
        if self.stale == 0 {
            return Vec::new();
        }
        let gone: Vec<IpNet> = self
            .exceptions
            .iter()
            .filter(|(p, e)| e.stale && if matches!(p, IpNet::V4(_)) { v4 } else { v6 })
            .map(|(p, _)| p)
            .collect();
        let mut accepted = Vec::new();
        for p in gone {
            if let Some(e) = self.exceptions.remove(&p) {
                let route = e.into_route();
                self.count(&route, false);
                if matches!(route.verdict, Verdict::Accepted(_)) {
                    accepted.push(p);
                }
            }
        }
        accepted
    }

    /// Routes kept stale from a previous session.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// Change the verdict of a stored route; returns the old one. The caller then sets
    /// the peer's Loc-RIB path to the new verdict (see the module contract).
    pub fn set_verdict(
        &mut self,
        loc: &LocRib,
        src: SourceId,
        prefix: &IpNet,
        verdict: Verdict,
    ) -> Option<Verdict> {
        let old = self.take(loc, src, prefix)?;
        let new = InRoute {
            received: Arc::clone(&old.received),
            verdict,
            stale: old.stale,
        };
        self.put(*prefix, new);
        Some(old.verdict)
    }

    /// A stored route.
    pub fn get(&self, loc: &LocRib, src: SourceId, prefix: &IpNet) -> Option<InRoute> {
        if let Some(e) = self.exceptions.get(prefix) {
            return Some(e.clone().into_route());
        }
        if self.unchanged.count == 0 {
            return None;
        }
        loc.path_from(prefix, src).map(InRoute::unchanged)
    }

    /// Every stored route with its received attributes.
    pub fn iter(&self, loc: &LocRib, src: SourceId) -> Vec<(IpNet, Attrs)> {
        let exceptions = self
            .exceptions
            .iter()
            .map(|(p, e)| (p, Arc::clone(&e.received)));
        let mut every: Vec<(IpNet, Attrs)> = exceptions.collect();
        every.extend(self.unchanged_in(loc, src));
        every
    }

    /// Remove everything, returning the prefixes that were accepted.
    pub fn clear(&mut self, loc: &LocRib, src: SourceId) -> Vec<IpNet> {
        let mut accepted: Vec<IpNet> = self
            .unchanged_in(loc, src)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        accepted.extend(
            self.exceptions
                .iter()
                .filter(|(_, e)| e.accepted.is_some())
                .map(|(p, _)| p),
        );
        self.exceptions.clear();
        self.unchanged = Unchanged::new(self.unchanged.limit);
        self.accepted = 0;
        self.stale = 0;
        for r in &mut self.reasons {
            r.1 = 0;
        }
        accepted
    }

    /// Routes received.
    pub fn len(&self) -> usize {
        self.unchanged.count as usize + self.exceptions.len()
    }

    /// Nothing received.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Routes accepted by import policy.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Rejected routes per reason (reasons with a zero count left out).
    pub fn rejected(&self) -> Vec<(String, u64)> {
        self.reasons
            .iter()
            .filter(|(_, c)| *c > 0)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use super::*;
    use crate::reflect::Role;
    use crate::rib::SourceInfo;
    use crate::wire::PathAttributes;

    const SRC: SourceId = SourceId(1);

    /// A Loc-RIB that knows source 1 (and 2).
    fn loc() -> LocRib {
        let mut loc = LocRib::new(false);
        for i in 1..=2u8 {
            loc.set_source(
                SourceId(u32::from(i)),
                SourceInfo {
                    role: Role::Client,
                    router_id: Ipv4Addr::new(10, 0, 0, i),
                    address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i))),
                },
            );
        }
        loc
    }

    /// What the speaker does: store, then keep the Loc-RIB in step.
    fn import(a: &mut AdjRibIn, loc: &mut LocRib, p: IpNet, route: InRoute) -> Option<InRoute> {
        let new = match &route.verdict {
            Verdict::Accepted(x) => Some(Arc::clone(x)),
            Verdict::Rejected(_) => None,
        };
        let old = a.insert(loc, SRC, p, route);
        loc.update(p, SRC, new);
        old
    }

    fn drop_route(a: &mut AdjRibIn, loc: &mut LocRib, p: &IpNet) -> Option<InRoute> {
        let old = a.remove(loc, SRC, p)?;
        loc.update(*p, SRC, None);
        Some(old)
    }

    fn route(received: &Attrs, verdict: Verdict) -> InRoute {
        InRoute {
            received: received.clone(),
            verdict,
            stale: false,
        }
    }

    fn attrs(lp: u32) -> Attrs {
        Arc::new(PathAttributes {
            local_pref: Some(lp),
            ..PathAttributes::default()
        })
    }

    #[test]
    fn a_route_accepted_unchanged_is_held_by_the_loc_rib_alone() {
        let (mut a, mut loc) = (AdjRibIn::new(), loc());
        let (received, changed) = (attrs(100), attrs(7));
        let p: IpNet = "192.0.2.1/32".parse().unwrap();
        import(
            &mut a,
            &mut loc,
            p,
            route(&received, Verdict::Accepted(received.clone())),
        );
        assert!(a.exceptions.is_empty());
        assert_eq!((a.len(), a.accepted()), (1, 1));
        let back = a.get(&loc, SRC, &p).unwrap();
        assert!(Arc::ptr_eq(&back.received, &received) && !back.stale);
        // Another source's path to the same prefix is not this peer's route.
        assert!(
            a.get(&loc, SourceId(2), &"192.0.2.2/32".parse().unwrap())
                .is_none()
        );

        import(
            &mut a,
            &mut loc,
            p,
            route(&received, Verdict::Accepted(changed.clone())),
        );
        assert_eq!((a.exceptions.len(), a.len()), (1, 1));
        let back = a.get(&loc, SRC, &p).unwrap();
        assert!(matches!(back.verdict, Verdict::Accepted(x) if Arc::ptr_eq(&x, &changed)));
        assert!(Arc::ptr_eq(&back.received, &received));
        // Back to the received attributes: the exception goes.
        a.set_verdict(&loc, SRC, &p, Verdict::Accepted(received.clone()));
        loc.update(p, SRC, Some(received.clone()));
        assert!(a.exceptions.is_empty());
        assert_eq!(a.iter(&loc, SRC).len(), 1);
        assert_eq!(a.mark_stale(&loc, SRC, true, true), 1);
        assert!(a.get(&loc, SRC, &p).unwrap().stale);
        assert_eq!(a.remove_stale(true, true), vec![p]);
        loc.update(p, SRC, None);
        assert!(a.is_empty() && a.exceptions.is_empty() && loc.is_empty());
    }

    #[test]
    fn counters_follow_inserts_verdicts_and_removals() {
        let (mut a, mut loc) = (AdjRibIn::new(), loc());
        let received = attrs(100);
        let p1: IpNet = "192.0.2.1/32".parse().unwrap();
        let p2: IpNet = "192.0.2.2/32".parse().unwrap();
        let r = a.reason("not-owned");
        let ok = || Verdict::Accepted(received.clone());
        import(&mut a, &mut loc, p1, route(&received, ok()));
        import(&mut a, &mut loc, p2, route(&received, Verdict::Rejected(r)));
        assert_eq!(
            (a.len(), a.accepted(), a.rejected()),
            (2, 1, vec![("not-owned".into(), 1)])
        );
        a.set_verdict(&loc, SRC, &p2, ok());
        loc.update(p2, SRC, Some(received.clone()));
        assert_eq!((a.accepted(), a.rejected().len()), (2, 0));
        let old = import(&mut a, &mut loc, p1, route(&received, Verdict::Rejected(r)));
        assert!(matches!(old.map(|o| o.verdict), Some(Verdict::Accepted(_))));
        assert_eq!((a.len(), a.accepted()), (2, 1));
        assert!(drop_route(&mut a, &mut loc, &p1).is_some());
        assert_eq!((a.len(), a.accepted(), a.rejected().len()), (1, 1, 0));
        assert!(drop_route(&mut a, &mut loc, &p1).is_none());
        // Graceful restart: stale routes are replaced when received again, the rest go.
        let p3: IpNet = "2001:db8::/32".parse().unwrap();
        import(&mut a, &mut loc, p1, route(&received, ok()));
        import(&mut a, &mut loc, p3, route(&received, ok()));
        assert_eq!(a.mark_stale(&loc, SRC, true, false), 2);
        import(&mut a, &mut loc, p1, route(&received, ok()));
        assert_eq!(a.stale(), 1);
        assert_eq!(a.remove_stale(true, true), vec![p2]);
        loc.update(p2, SRC, None);
        assert_eq!((a.len(), a.stale()), (2, 0));
        drop_route(&mut a, &mut loc, &p3);
        let mut every = a.iter(&loc, SRC);
        every.sort_by_key(|e| e.0);
        assert_eq!(every.iter().map(|e| e.0).collect::<Vec<_>>(), vec![p1]);
        assert_eq!(a.clear(&loc, SRC), vec![p1]);
        assert_eq!((a.len(), a.accepted()), (0, 0));
    }
}
