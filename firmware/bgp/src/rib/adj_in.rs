//! Adj-RIB-In of one peer: every route received, with its import verdict.
//!
//! The received attributes are kept (interned) so that a new import policy can
//! re-evaluate every route without a ROUTE-REFRESH. Counters (accepted, rejected per
//! reason) are kept incrementally, so status costs O(reasons).

use std::collections::HashMap;

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
}

/// Adj-RIB-In of one peer.
#[derive(Debug, Default)]
pub struct AdjRibIn {
    routes: HashMap<IpNet, InRoute>,
    accepted: u64,
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
        let old = self.routes.insert(prefix, route);
        if let Some(o) = &old {
            self.count(&o.verdict, false);
        }
        old
    }

    /// Remove a route.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<InRoute> {
        let old = self.routes.remove(prefix);
        if let Some(o) = &old {
            self.count(&o.verdict, false);
        }
        old
    }

    /// Change the verdict of a stored route; returns the old one.
    pub fn set_verdict(&mut self, prefix: &IpNet, verdict: Verdict) -> Option<Verdict> {
        let mut route = self.routes.remove(prefix)?;
        self.count(&route.verdict, false);
        self.count(&verdict, true);
        let old = std::mem::replace(&mut route.verdict, verdict);
        self.routes.insert(*prefix, route);
        Some(old)
    }

    /// A stored route.
    pub fn get(&self, prefix: &IpNet) -> Option<&InRoute> {
        self.routes.get(prefix)
    }

    /// Every stored route.
    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &InRoute)> {
        self.routes.iter()
    }

    /// Remove everything, returning the prefixes that were accepted.
    pub fn clear(&mut self) -> Vec<IpNet> {
        let accepted = self
            .routes
            .drain()
            .filter(|(_, r)| matches!(r.verdict, Verdict::Accepted(_)))
            .map(|(p, _)| p)
            .collect();
        self.accepted = 0;
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
            },
        );
        a.insert(
            p2,
            InRoute {
                received: attrs.clone(),
                verdict: Verdict::Rejected(r),
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
            },
        );
        assert_eq!((a.len(), a.accepted()), (2, 1));
        a.remove(&p1);
        assert_eq!((a.len(), a.accepted(), a.rejected().len()), (1, 1, 0));
        assert_eq!(a.clear(), vec![p2]);
        assert_eq!((a.len(), a.accepted()), (0, 0));
    }
}
