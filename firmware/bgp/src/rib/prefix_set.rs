//! Compact sets and lists of prefixes, for the per-peer state of the Adj-RIB-Out.
//!
//! - [`PrefixSet`]: membership only (no value), IPv4 prefixes packed into one `u64` as in
//!   [`PrefixMap`](crate::rib::prefix_map::PrefixMap): 8 octets and a control octet per
//!   bucket, half of a map entry with an `Arc` value.
//! - [`PrefixList`]: prefixes in the order they were pushed, duplicates allowed until
//!   [`PrefixList::take_unique`] sorts and deduplicates them. Pushing is a vector push,
//!   with no hashing: the cheap way to mark a prefix "changed" many times per second.
//!
//! Prefixes are stored as given: callers pass them with host bits cleared.

use std::collections::HashSet;

use ipnet::{IpNet, Ipv6Net};

use crate::rib::prefix_hash::PrefixHashBuilder;
use crate::rib::prefix_map::{key4, net4};

/// A set of prefixes, IPv4 and IPv6.
#[derive(Debug, Default)]
pub struct PrefixSet {
    v4: HashSet<u64, PrefixHashBuilder>,
    v6: HashSet<Ipv6Net, PrefixHashBuilder>,
}

impl PrefixSet {
    /// Whether `prefix` is in the set.
    pub fn contains(&self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(p) => self.v4.contains(&key4(p)),
            IpNet::V6(p) => self.v6.contains(p),
        }
    }

    /// Add `prefix`; false when it was already there.
    pub fn insert(&mut self, prefix: IpNet) -> bool {
        match prefix {
            IpNet::V4(p) => self.v4.insert(key4(&p)),
            IpNet::V6(p) => self.v6.insert(p),
        }
    }

    /// Remove `prefix`; false when it was not there.
    pub fn remove(&mut self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(p) => self.v4.remove(&key4(p)),
            IpNet::V6(p) => self.v6.remove(p),
        }
    }

    /// Every prefix of one family (IPv6 when `v6`), in no particular order.
    pub fn iter_family(&self, v6: bool) -> Box<dyn Iterator<Item = IpNet> + '_> {
        if v6 {
            Box::new(self.v6.iter().map(|p| IpNet::V6(*p)))
        } else {
            Box::new(self.v4.iter().map(|k| net4(*k)))
        }
    }

    /// Remove everything and give the memory back.
    pub fn clear(&mut self) {
        *self = PrefixSet::default();
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// No prefixes.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Prefixes in push order, duplicates allowed.
#[derive(Debug, Default)]
pub struct PrefixList {
    v4: Vec<u64>,
    v6: Vec<Ipv6Net>,
}

impl PrefixList {
    /// Append `prefix` (again, if it is already there).
    pub fn push(&mut self, prefix: IpNet) {
        match prefix {
            IpNet::V4(p) => self.v4.push(key4(&p)),
            IpNet::V6(p) => self.v6.push(p),
        }
    }

    /// Every prefix once, IPv4 first, each family in ascending order; the list is left
    /// empty (a large buffer is given back).
    pub fn take_unique(&mut self) -> Vec<IpNet> {
        let (mut v4, mut v6) = (std::mem::take(&mut self.v4), std::mem::take(&mut self.v6));
        v4.sort_unstable();
        v4.dedup();
        v6.sort_unstable();
        v6.dedup();
        let mut out = Vec::with_capacity(v4.len() + v6.len());
        out.extend(v4.into_iter().map(net4));
        out.extend(v6.into_iter().map(IpNet::V6));
        out
    }

    /// Entries pushed since the last take (duplicates counted).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Nothing pushed since the last take.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        *self = PrefixList::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_set_holds_each_prefix_once_per_family() {
        let mut s = PrefixSet::default();
        assert!(s.insert(p("192.0.2.0/24")));
        assert!(!s.insert(p("192.0.2.0/24")));
        assert!(s.insert(p("192.0.2.0/25")));
        assert!(s.insert(p("2001:db8::/32")));
        assert!(s.contains(&p("192.0.2.0/25")) && !s.contains(&p("192.0.2.128/25")));
        assert_eq!(s.len(), 3);
        let mut v4: Vec<IpNet> = s.iter_family(false).collect();
        v4.sort();
        assert_eq!(v4, vec![p("192.0.2.0/24"), p("192.0.2.0/25")]);
        assert_eq!(
            s.iter_family(true).collect::<Vec<_>>(),
            vec![p("2001:db8::/32")]
        );
        assert!(s.remove(&p("192.0.2.0/24")) && !s.remove(&p("192.0.2.0/24")));
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn a_list_hands_out_each_prefix_once_in_order() {
        let mut l = PrefixList::default();
        for s in [
            "2001:db8::/48",
            "198.51.100.7/32",
            "192.0.2.0/24",
            "198.51.100.7/32",
        ] {
            l.push(p(s));
        }
        l.push(p("2001:db8::/48"));
        assert_eq!(l.len(), 5);
        assert_eq!(
            l.take_unique(),
            vec![p("192.0.2.0/24"), p("198.51.100.7/32"), p("2001:db8::/48")]
        );
        assert!(l.is_empty() && l.take_unique().is_empty());
    }
}
