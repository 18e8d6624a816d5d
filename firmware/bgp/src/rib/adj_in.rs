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

/// How a route is stored: 24 octets (an [`InRoute`] takes 32).
#[derive(Debug, Clone)]
struct Stored {
    received: Attrs,
    /// `Some`: accepted with these attributes; `None`: rejected for `reason`.
    accepted: Option<Attrs>,
    reason: u16,
    stale: bool,
}

impl Stored {
    fn new(route: InRoute) -> Stored {
        let (accepted, reason) = match route.verdict {
            Verdict::Accepted(a) => (Some(a), 0),
            Verdict::Rejected(r) => (None, r),
        };
        Stored {
            received: route.received,
            accepted,
            reason,
            stale: route.stale,
        }
    }

    fn verdict(&self) -> Verdict {
        match &self.accepted {
            Some(a) => Verdict::Accepted(a.clone()),
            None => Verdict::Rejected(self.reason),
        }
    }

    fn into_route(self) -> InRoute {
        InRoute {
            verdict: self.verdict(),
            received: self.received,
            stale: self.stale,
        }
    }
}

/// Adj-RIB-In of one peer.
#[derive(Debug, Default)]
pub struct AdjRibIn {
    routes: PrefixMap<Stored>,
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

    /// Store a route (replacing any previous one) and return the previous one.
    pub fn insert(&mut self, prefix: IpNet, route: InRoute) -> Option<InRoute> {
        self.count(&route.verdict, true);
        self.stale += u64::from(route.stale);
        let old = self.routes.insert(prefix, Stored::new(route))?.into_route();
        self.count(&old.verdict, false);
        self.stale -= u64::from(old.stale);
        Some(old)
    }

    /// Remove a route.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<InRoute> {
        let old = self.routes.remove(prefix)?.into_route();
        self.count(&old.verdict, false);
        self.stale -= u64::from(old.stale);
        Some(old)
    }

    /// Mark every IPv4 (`v4`) and/or IPv6 (`v6`) route stale; returns how many are stale.
    pub fn mark_stale(&mut self, v4: bool, v6: bool) -> u64 {
        for (prefix, route) in self.routes.iter_mut() {
            let family = if matches!(prefix, IpNet::V4(_)) {
                v4
            } else {
                v6
            };
            if family && !route.stale {
                route.stale = true;
                self.stale += 1;
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
            .routes
            .iter()
            .filter(|(p, r)| r.stale && if matches!(p, IpNet::V4(_)) { v4 } else { v6 })
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
        let route = self.routes.get_mut(prefix)?;
        let old = route.verdict();
        let stale = route.stale;
        *route = Stored::new(InRoute {
            received: route.received.clone(),
            verdict: verdict.clone(),
            stale,
        });
        self.count(&old, false);
        self.count(&verdict, true);
        Some(old)
    }

    /// A stored route.
    pub fn get(&self, prefix: &IpNet) -> Option<InRoute> {
        self.routes.get(prefix).map(|r| r.clone().into_route())
    }

    /// Every stored route with its received attributes.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Attrs)> {
        self.routes.iter().map(|(p, r)| (p, &r.received))
    }

    /// Remove everything, returning the prefixes that were accepted.
    pub fn clear(&mut self) -> Vec<IpNet> {
        let accepted = self
            .routes
            .drain()
            .filter(|(_, r)| r.accepted.is_some())
            .map(|(p, _)| p)
            .collect();
        self.routes.clear();
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
    fn a_stored_route_takes_24_octets() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
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
