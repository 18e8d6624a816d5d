//! Adj-RIB-In of one peer: every route received, with its import verdict.
//!
//! The received attributes are kept (interned) so that a new import policy can
//! re-evaluate every route without a ROUTE-REFRESH. Counters (accepted, rejected per
//! reason) are kept incrementally, so status costs O(reasons).
//!
//! Graceful restart (RFC 4724 §4.2): when a peer's session ends without a NOTIFICATION,
//! its routes are marked stale ([`AdjRibIn::mark_stale`]) instead of being removed; a
//! route received again replaces its stale copy, and [`AdjRibIn::remove_stale`] drops
//! the ones left at End-of-RIB or when the restart timer fires.
//!
//! Storage: one map holds every route's received attributes (8 octets a route); a
//! second map holds the exceptions (rejected, accepted with changed attributes, stale),
//! so a peer whose routes are accepted unchanged costs one small entry per route.

use std::sync::Arc;

use crate::rib::prefix_map::PrefixMap;

use ipnet::IpNet;

use crate::rib::Attrs;

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

/// What a route has beyond its received attributes, kept only for routes that are not
/// "accepted unchanged and fresh": rejected, accepted with changed attributes, or stale.
#[derive(Debug, Clone)]
struct Exception {
    /// `Some`: accepted with these attributes; `None`: rejected for `reason`.
    accepted: Option<Attrs>,
    reason: u16,
    stale: bool,
}

impl Exception {
    /// The exception of `route`; `None` for a fresh route accepted with the attributes it
    /// was received with (the common case, stored as the received attributes alone).
    fn of(route: &InRoute) -> Option<Exception> {
        let (accepted, reason) = match &route.verdict {
            Verdict::Accepted(a) if !route.stale && Arc::ptr_eq(a, &route.received) => {
                return None;
            }
            Verdict::Accepted(a) => (Some(Arc::clone(a)), 0),
            Verdict::Rejected(r) => (None, *r),
        };
        Some(Exception {
            accepted,
            reason,
            stale: route.stale,
        })
    }

    fn verdict(&self) -> Verdict {
        match &self.accepted {
            Some(a) => Verdict::Accepted(Arc::clone(a)),
            None => Verdict::Rejected(self.reason),
        }
    }
}

/// The route made of its received attributes and its exception, if any.
fn route_of(received: Attrs, exception: Option<Exception>) -> InRoute {
    match exception {
        None => InRoute {
            verdict: Verdict::Accepted(Arc::clone(&received)),
            received,
            stale: false,
        },
        Some(e) => InRoute {
            verdict: e.verdict(),
            received,
            stale: e.stale,
        },
    }
}

/// Adj-RIB-In of one peer.
#[derive(Debug, Default)]
pub struct AdjRibIn {
    /// Received attributes of every route.
    routes: PrefixMap<Attrs>,
    /// Routes that are not accepted unchanged and fresh (a subset of `routes`' keys).
    exceptions: PrefixMap<Exception>,
    accepted: u64,
    stale: u64,
    reasons: Vec<(String, u64)>,
}

impl AdjRibIn {
    /// An empty Adj-RIB-In.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of a rejection reason (reasons are never forgotten).
    pub fn reason(&mut self, name: &str) -> u16 {
        if let Some(i) = self.reasons.iter().position(|(n, _)| n == name) {
            return i as u16;
        }
        self.reasons.push((name.to_string(), 0));
        (self.reasons.len() - 1) as u16
    }

    fn count(&mut self, v: &Verdict, up: bool) {
        let c = match v {
            Verdict::Accepted(_) => &mut self.accepted,
            Verdict::Rejected(i) => &mut self.reasons[*i as usize].1,
        };
        if up {
            *c += 1;
        } else {
            *c -= 1;
        }
    }

    /// The exception of `prefix` (cheap when there are none).
    fn exception(&self, prefix: &IpNet) -> Option<&Exception> {
        if self.exceptions.is_empty() {
            return None;
        }
        self.exceptions.get(prefix)
    }

    fn take_exception(&mut self, prefix: &IpNet) -> Option<Exception> {
        if self.exceptions.is_empty() {
            return None;
        }
        self.exceptions.remove(prefix)
    }

    /// Store a route (replacing any previous one) and return the previous one.
    pub fn insert(&mut self, prefix: IpNet, route: InRoute) -> Option<InRoute> {
        self.count(&route.verdict, true);
        self.stale += u64::from(route.stale);
        let exception = Exception::of(&route);
        let old_exception = match exception {
            Some(e) => self.exceptions.insert(prefix, e),
            None => self.take_exception(&prefix),
        };
        let old = route_of(self.routes.insert(prefix, route.received)?, old_exception);
        self.count(&old.verdict, false);
        self.stale -= u64::from(old.stale);
        Some(old)
    }

    /// Remove a route.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<InRoute> {
        let received = self.routes.remove(prefix)?;
        let old = route_of(received, self.take_exception(prefix));
        self.count(&old.verdict, false);
        self.stale -= u64::from(old.stale);
        Some(old)
    }

    /// Mark every IPv4 (`v4`) and/or IPv6 (`v6`) route stale; returns how many are stale.
    pub fn mark_stale(&mut self, v4: bool, v6: bool) -> u64 {
        let AdjRibIn {
            routes,
            exceptions,
            stale,
            ..
        } = self;
        for (prefix, received) in routes.iter() {
            let family = if matches!(prefix, IpNet::V4(_)) {
                v4
            } else {
                v6
            };
            if !family {
                continue;
            }
            match exceptions.get_mut(&prefix) {
                Some(e) if e.stale => {}
                Some(e) => {
                    e.stale = true;
                    *stale += 1;
                }
                None => {
                    exceptions.insert(
                        prefix,
                        Exception {
                            accepted: Some(Arc::clone(received)),
                            reason: 0,
                            stale: true,
                        },
                    );
                    *stale += 1;
                }
            }
        }
        self.stale
    }

    /// Remove the stale routes of IPv4 (`v4`) and/or IPv6 (`v6`), returning the removed
    /// prefixes that were accepted.
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
            if let Some(r) = self.remove(&p)
                && matches!(r.verdict, Verdict::Accepted(_))
            {
                accepted.push(p);
            }
        }
        accepted
    }

    /// Routes kept stale from a previous session.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// Change the verdict of a stored route; returns the old one.
    pub fn set_verdict(&mut self, prefix: &IpNet, verdict: Verdict) -> Option<Verdict> {
        let received = Arc::clone(self.routes.get(prefix)?);
        let old = route_of(Arc::clone(&received), self.exception(prefix).cloned());
        let new = InRoute {
            received,
            verdict: verdict.clone(),
            stale: old.stale,
        };
        match Exception::of(&new) {
            Some(e) => {
                self.exceptions.insert(*prefix, e);
            }
            None => {
                self.take_exception(prefix);
            }
        }
        self.count(&old.verdict, false);
        self.count(&verdict, true);
        Some(old.verdict)
    }

    /// A stored route.
    pub fn get(&self, prefix: &IpNet) -> Option<InRoute> {
        let received = Arc::clone(self.routes.get(prefix)?);
        Some(route_of(received, self.exception(prefix).cloned()))
    }

    /// Every stored route with its received attributes.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Attrs)> {
        self.routes.iter()
    }

    /// Remove everything, returning the prefixes that were accepted.
    pub fn clear(&mut self) -> Vec<IpNet> {
        let exceptions = &self.exceptions;
        let accepted = self
            .routes
            .iter()
            .filter(|(p, _)| exceptions.get(p).is_none_or(|e| e.accepted.is_some()))
            .map(|(p, _)| p)
            .collect();
        self.routes.clear();
        self.exceptions.clear();
        self.accepted = 0;
        self.stale = 0;
        for r in &mut self.reasons {
            r.1 = 0;
        }
        accepted
    }

    /// Routes received.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Nothing received.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
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
    use std::sync::Arc;

    use super::*;
    use crate::wire::PathAttributes;

    #[test]
    fn a_route_accepted_unchanged_is_stored_without_an_exception() {
        let mut a = AdjRibIn::new();
        let attrs: Attrs = Arc::new(PathAttributes::default());
        let changed: Attrs = Arc::new(PathAttributes {
            local_pref: Some(7),
            ..PathAttributes::default()
        });
        let p: IpNet = "192.0.2.1/32".parse().unwrap();
        let route = |verdict| InRoute {
            received: attrs.clone(),
            verdict,
            stale: false,
        };
        a.insert(p, route(Verdict::Accepted(attrs.clone())));
        assert!(a.exceptions.is_empty());
        a.insert(p, route(Verdict::Accepted(changed.clone())));
        assert_eq!(a.exceptions.len(), 1);
        let back = a.get(&p).unwrap();
        assert!(matches!(back.verdict, Verdict::Accepted(x) if Arc::ptr_eq(&x, &changed)));
        a.set_verdict(&p, Verdict::Accepted(attrs.clone()));
        assert!(a.exceptions.is_empty());
        assert_eq!(a.mark_stale(true, true), 1);
        assert!(a.get(&p).unwrap().stale);
        assert_eq!(a.remove_stale(true, true), vec![p]);
        assert!(a.is_empty() && a.exceptions.is_empty());
    }

    #[test]
    fn counters_follow_inserts_verdicts_and_removals() {
        let mut a = AdjRibIn::new();
        let attrs: Attrs = Arc::new(PathAttributes::default());
        let p1: IpNet = "192.0.2.1/32".parse().unwrap();
        let p2: IpNet = "192.0.2.2/32".parse().unwrap();
        let r = a.reason("not-owned");
        a.insert(
            p1,
            InRoute {
                received: attrs.clone(),
                verdict: Verdict::Accepted(attrs.clone()),
                stale: false,
            },
        );
        a.insert(
            p2,
            InRoute {
                received: attrs.clone(),
                verdict: Verdict::Rejected(r),
                stale: false,
            },
        );
        assert_eq!(
            (a.len(), a.accepted(), a.rejected()),
            (2, 1, vec![("not-owned".into(), 1)])
        );
        a.set_verdict(&p2, Verdict::Accepted(attrs.clone()));
        assert_eq!((a.accepted(), a.rejected().len()), (2, 0));
        a.insert(
            p1,
            InRoute {
                received: attrs.clone(),
                verdict: Verdict::Rejected(r),
                stale: false,
            },
        );
        assert_eq!((a.len(), a.accepted()), (2, 1));
        a.remove(&p1);
        assert_eq!((a.len(), a.accepted(), a.rejected().len()), (1, 1, 0));
        // Graceful restart: stale routes are replaced when received again, the rest go.
        let p3: IpNet = "2001:db8::/32".parse().unwrap();
        let fresh = |verdict| InRoute {
            received: attrs.clone(),
            verdict,
            stale: false,
        };
        a.insert(p1, fresh(Verdict::Accepted(attrs.clone())));
        a.insert(p3, fresh(Verdict::Accepted(attrs.clone())));
        assert_eq!(a.mark_stale(true, false), 2);
        a.insert(p1, fresh(Verdict::Accepted(attrs.clone())));
        assert_eq!(a.stale(), 1);
        assert_eq!(a.remove_stale(true, true), vec![p2]);
        assert_eq!((a.len(), a.stale()), (2, 0));
        a.remove(&p3);
        assert_eq!(a.clear(), vec![p1]);
        assert_eq!((a.len(), a.accepted()), (0, 0));
    }
}
