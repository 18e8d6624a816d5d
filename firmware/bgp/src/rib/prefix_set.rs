//! Compact sets and lists of prefixes, for the per-peer state of the Adj-RIB-Out.
//!
//! - [`PrefixSet`]: membership only (no value). IPv4 prefixes are packed into one `u64`
//!   as in [`PrefixMap`](crate::rib::prefix_map::PrefixMap) and kept in a sorted vector
//!   (8 octets per prefix; exactly sized after a merge, grown by doubling while a table
//!   arrives in ascending order and is appended) plus two small staging sets of recent
//!   insertions and removals, merged into the vector once they hold more than an eighth
//!   of it (at least 64): 8–16 octets per prefix at rest, against 10–20 for a hash set
//!   (9 octets per bucket between 44 % and 87.5 % load). A change costs a staging-set
//!   insert and, amortised, a share of the linear merge; a lookup is a staging-set probe
//!   and a binary search. IPv6 prefixes stay in a hash set (rare in the tables this
//!   serves).
//! - [`PrefixList`]: prefixes in the order they were pushed, duplicates allowed until
//!   [`PrefixList::take_unique`] sorts and deduplicates them. Pushing is a vector push,
//!   with no hashing: the cheap way to mark a prefix "changed" many times per second.
//!
//! Prefixes are stored as given: callers pass them with host bits cleared.

use std::collections::HashSet;

use ipnet::{IpNet, Ipv6Net};

use crate::rib::prefix_hash::PrefixHashBuilder;
use crate::rib::prefix_map::{key4, net4};

/// Least staging size before a merge.
const MIN_STAGING: usize = 64;

/// A set of prefixes, IPv4 and IPv6.
#[derive(Debug, Default)]
pub struct PrefixSet {
    v4: SortedKeys,
    v6: HashSet<Ipv6Net, PrefixHashBuilder>,
}

impl PrefixSet {
    /// Whether `prefix` is in the set.
    pub fn contains(&self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(p) => self.v4.contains(key4(p)),
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
            IpNet::V4(p) => self.v4.remove(key4(p)),
            IpNet::V6(p) => self.v6.remove(p),
        }
    }

    /// Every prefix of one family (IPv6 when `v6`), in no particular order.
    pub fn iter_family(&self, v6: bool) -> Box<dyn Iterator<Item = IpNet> + '_> {
        if v6 {
            Box::new(self.v6.iter().map(|p| IpNet::V6(*p)))
        } else {
            Box::new(self.v4.iter().map(net4))
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
        self.v4.len() == 0 && self.v6.is_empty()
    }
}

/// A set of `u64` keys: a sorted vector plus staged changes.
///
/// Invariants: `base` is sorted and without duplicates; `added` and `base` are disjoint;
/// `removed` is a subset of `base`. The set is `(base \ removed) ∪ added`.
#[derive(Debug, Default)]
struct SortedKeys {
    base: Vec<u64>,
    added: HashSet<u64, PrefixHashBuilder>,
    removed: HashSet<u64, PrefixHashBuilder>,
}

impl SortedKeys {
    fn in_base(&self, key: u64) -> bool {
        self.base.binary_search(&key).is_ok()
    }

    fn contains(&self, key: u64) -> bool {
        self.added.contains(&key) || (self.in_base(key) && !self.removed.contains(&key))
    }

    fn insert(&mut self, key: u64) -> bool {
        if self.added.contains(&key) {
            return false;
        }
        let inserted = if self.in_base(key) {
            // Present unless staged for removal; then the removal is undone.
            self.removed.remove(&key)
        } else if self.base.last().is_none_or(|&last| last < key) && self.staged() == 0 {
            // Ascending inserts (a table sent in order) append straight to the base.
            self.base.push(key);
            return true;
        } else {
            self.added.insert(key)
        };
        self.merge_if_due();
        inserted
    }

    fn remove(&mut self, key: u64) -> bool {
        let removed = if self.added.remove(&key) {
            true
        } else if self.in_base(key) {
            self.removed.insert(key)
        } else {
            false
        };
        self.merge_if_due();
        removed
    }

    fn len(&self) -> usize {
        self.base.len() - self.removed.len() + self.added.len()
    }

    fn staged(&self) -> usize {
        self.added.len() + self.removed.len()
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let removed = &self.removed;
        self.base
            .iter()
            .copied()
            .filter(move |k| !removed.contains(k))
            .chain(self.added.iter().copied())
    }

    /// Merges the staged changes into the base once they hold more than an eighth of it.
    fn merge_if_due(&mut self) {
        if self.staged() > MIN_STAGING.max(self.base.len() / 8) {
            self.merge();
        }
    }

    /// One linear pass: the base without the removed keys, merged with the sorted added
    /// keys, into an exactly sized vector; the staging sets are emptied.
    fn merge(&mut self) {
        let mut added: Vec<u64> = self.added.drain().collect();
        added.sort_unstable();
        let mut removed: Vec<u64> = self.removed.drain().collect();
        removed.sort_unstable();
        let mut merged = Vec::with_capacity(self.base.len() - removed.len() + added.len());
        let mut new = added.into_iter().peekable();
        let mut gone = removed.into_iter().peekable();
        for &key in &self.base {
            if gone.next_if_eq(&key).is_some() {
                continue;
            }
            while let Some(a) = new.next_if(|&a| a < key) {
                merged.push(a);
            }
            merged.push(key);
        }
        merged.extend(new);
        self.base = merged;
        // The staging sets start small again rather than keeping their peak capacity.
        self.added = HashSet::default();
        self.removed = HashSet::default();
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
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(IpNet),
        Remove(IpNet),
        Clear,
    }

    /// Prefixes from a small space (so re-inserts and removals of present prefixes are
    /// frequent), both families.
    fn small_prefix() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            8 => (0u32..300, prop_oneof![Just(24u8), Just(32u8), Just(16u8)]).prop_map(|(i, len)| {
                let addr = std::net::Ipv4Addr::from(0xc000_0000u32 + (i << 8));
                IpNet::V4(ipnet::Ipv4Net::new(addr, len).unwrap().trunc())
            }),
            1 => (0u16..20).prop_map(|i| {
                let addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 0);
                IpNet::V6(Ipv6Net::new(addr, 48).unwrap())
            }),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => small_prefix().prop_map(Op::Insert),
            8 => small_prefix().prop_map(Op::Remove),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn a_set_behaves_like_an_ordered_set(ops in proptest::collection::vec(op(), 1..3000)) {
            let (mut set, mut model) = (PrefixSet::default(), BTreeSet::new());
            for op in ops {
                match op {
                    Op::Insert(p) => prop_assert_eq!(set.insert(p), model.insert(p)),
                    Op::Remove(p) => prop_assert_eq!(set.remove(&p), model.remove(&p)),
                    Op::Clear => {
                        set.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(set.len(), model.len());
            }
            for p in &model {
                prop_assert!(set.contains(p));
            }
            let mut listed: Vec<IpNet> = set.iter_family(false).chain(set.iter_family(true)).collect();
            listed.sort();
            prop_assert_eq!(listed, model.iter().copied().collect::<Vec<_>>());
        }
    }

    #[test]
    fn ascending_inserts_then_every_second_removed_leave_the_rest() {
        let mut s = PrefixSet::default();
        let net = |i: u32| IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + i).into(), 32).unwrap());
        for i in 0..100_000 {
            assert!(s.insert(net(i)));
        }
        for i in (0..100_000).step_by(2) {
            assert!(s.remove(&net(i)));
        }
        assert_eq!(s.len(), 50_000);
        for i in 0..100_000 {
            assert_eq!(s.contains(&net(i)), i % 2 == 1, "{i}");
        }
        // Out of order: inserted again in descending order, every one new.
        for i in (0..100_000).step_by(2).rev() {
            assert!(s.insert(net(i)));
        }
        assert_eq!(s.len(), 100_000);
        assert_eq!(s.iter_family(false).count(), 100_000);
    }

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
