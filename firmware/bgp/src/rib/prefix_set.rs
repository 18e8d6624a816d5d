//! Compact sets and lists of prefixes, for the per-peer state of the Adj-RIB-Out.
//!
//! - [`PrefixSet`]: membership only (no value). IPv4 prefixes are packed into one `u64`
//!   as in [`PrefixMap`](crate::rib::prefix_map::PrefixMap) and kept in a sorted vector,
//!   8 octets per prefix, plus two small staging sets of recent insertions and removals,
//!   merged into the vector once they hold more than an eighth of it (at least 64). The
//!   vector is exactly sized after a merge; a table arriving in ascending order is
//!   appended to it directly, the vector growing by an eighth at a time (not doubling),
//!   so at most an eighth of it is slack. A bucket index over the vector (at most 4
//!   octets per 32 prefixes) spares lookups most of a binary search's dependent cache
//!   misses. At rest that is 8–9.2 octets per prefix (up to about 12 with a full staging
//!   of removals, each staged key costing 10–20 octets), against 10–20 for the hash set
//!   this replaced (9 octets per bucket between 44 % and 87.5 % load): measured with 999
//!   and with 1,000,000 /32s, 8.1–8.7 octets per prefix against 18.5–18.9
//!   (`tests/prefix_set_memory.rs`). A merge works in place (removed keys out in a
//!   forward pass, added keys in from the back), so building a set never holds two
//!   copies of the vector. A change costs a staging-set insert and, amortised, a share
//!   of the linear merge; a lookup is a staging-set probe and a search of one bucket
//!   (none for a key beyond the last of the vector). IPv6 prefixes stay in a hash set
//!   (rare in the tables this serves).
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
/// `removed` is a subset of `base`. The set is `(base \ removed) ∪ added`. `index`
/// describes `base[..index.covered]`, the keys appended since are above it.
#[derive(Debug, Default)]
struct SortedKeys {
    base: Vec<u64>,
    index: BucketIndex,
    added: HashSet<u64, PrefixHashBuilder>,
    removed: HashSet<u64, PrefixHashBuilder>,
}

impl SortedKeys {
    fn in_base(&self, key: u64) -> bool {
        let (from, to) = self.index.range(key, self.base.len());
        self.base[from..to].binary_search(&key).is_ok()
    }

    fn contains(&self, key: u64) -> bool {
        self.added.contains(&key) || (self.in_base(key) && !self.removed.contains(&key))
    }

    fn insert(&mut self, key: u64) -> bool {
        // A key beyond the last of the base is not in it: no search.
        let beyond = self.base.last().is_none_or(|&last| last < key);
        if beyond && self.staged() == 0 {
            // Ascending inserts (a table sent in order) append straight to the base,
            // grown by an eighth at a time rather than doubled: at most an eighth of it
            // is slack, still amortised O(1) per insert.
            if self.base.len() == self.base.capacity() {
                self.base
                    .reserve_exact(MIN_STAGING.max(self.base.len() / 8));
                // As often, the keys appended since the last time get indexed.
                self.index = BucketIndex::build(&self.base);
            }
            self.base.push(key);
            return true;
        }
        if !beyond && self.in_base(key) {
            // Present unless staged for removal; then the removal is undone.
            return self.removed.remove(&key);
        }
        // Not in the base: new unless staged already.
        let inserted = self.added.insert(key);
        if inserted {
            self.merge_if_due();
        }
        inserted
    }

    fn remove(&mut self, key: u64) -> bool {
        if self.added.remove(&key) {
            return true;
        }
        if !self.in_base(key) || !self.removed.insert(key) {
            return false;
        }
        self.merge_if_due();
        true
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

    /// Linear and in place: the removed keys taken out of the base in a forward pass,
    /// the sorted added keys merged in from the back into the grown base, which is left
    /// exactly sized; the staging sets are emptied and their memory given back. Besides
    /// the base, only the staged keys are held twice while this runs.
    fn merge(&mut self) {
        let mut removed: Vec<u64> = std::mem::take(&mut self.removed).into_iter().collect();
        if !removed.is_empty() {
            removed.sort_unstable();
            let mut gone = removed.into_iter().peekable();
            self.base.retain(|&key| gone.next_if_eq(&key).is_none());
        }
        let mut added: Vec<u64> = std::mem::take(&mut self.added).into_iter().collect();
        added.sort_unstable();
        let kept = self.base.len();
        self.base.reserve_exact(added.len());
        self.base.resize(kept + added.len(), 0);
        // Each key of the base above an added one moves up once, to its final place.
        let base = &mut self.base[..];
        let (mut read, mut write) = (kept, base.len());
        for &key in added.iter().rev() {
            while read > 0 && base[read - 1] > key {
                read -= 1;
                write -= 1;
                base[write] = base[read];
            }
            write -= 1;
            base[write] = key;
        }
        self.base.shrink_to_fit();
        self.index = BucketIndex::build(&self.base);
    }
}

/// Where each bucket of keys starts in a sorted base, a bucket being a slice of the key
/// space between its first and last keys. A lookup reads the bucket's bounds (one access
/// to a small array) and binary-searches the bucket, some 32 keys when they are spread
/// evenly, instead of binary-searching the whole base: each step of a search waits for
/// the one before, and over a base larger than the caches most of them miss. Keys
/// bunched into few buckets only make those buckets larger, so a lookup is never much
/// more than a binary search of the whole base. Costs at most 4 octets per 32 keys.
#[derive(Debug, Default)]
struct BucketIndex {
    /// Keys indexed, `base[..covered]`; none (plain binary search) for a small base.
    covered: usize,
    first: u64,
    last: u64,
    /// The bucket of `key` is `(key - first) >> shift`.
    shift: u32,
    /// Index in the base of the first key of bucket `b` or above; then `covered`.
    starts: Vec<u32>,
}

impl BucketIndex {
    /// Keys per bucket, on average (the bucket count is the power of two below).
    const KEYS_PER_BUCKET: usize = 32;

    fn build(base: &[u64]) -> BucketIndex {
        let n = base.len();
        if n < 8 * Self::KEYS_PER_BUCKET || u32::try_from(n).is_err() {
            return BucketIndex::default();
        }
        let (first, last) = (base[0], base[n - 1]);
        let span_bits = u64::BITS - (last - first).leading_zeros();
        let shift = span_bits.saturating_sub((n / Self::KEYS_PER_BUCKET).ilog2());
        let mut starts = Vec::with_capacity(((last - first) >> shift) as usize + 2);
        for (i, &key) in base.iter().enumerate() {
            let bucket = ((key - first) >> shift) as usize;
            if starts.len() <= bucket {
                // NOTE(cast): `n` fits in a u32, checked above.
                starts.resize(bucket + 1, i as u32);
            }
        }
        starts.push(n as u32);
        BucketIndex {
            covered: n,
            first,
            last,
            shift,
            starts,
        }
    }

    /// The range of a base of `len` keys where `key` is, if anywhere.
    fn range(&self, key: u64, len: usize) -> (usize, usize) {
        if self.covered == 0 {
            (0, len)
        } else if key < self.first {
            (0, 0)
        } else if key > self.last {
            (self.covered, len)
        } else {
            let bucket = ((key - self.first) >> self.shift) as usize;
            (
                self.starts[bucket] as usize,
                self.starts[bucket + 1] as usize,
            )
        }
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
        Contains(IpNet),
        /// `.1` consecutive /24s of the small space from the `.0`-th, inserted in
        /// ascending order (appended to the base when nothing is staged).
        InsertRun(u32, u32),
        /// Length and listing compared with the model.
        Check,
        Clear,
    }

    /// Prefixes from a small space (so re-inserts and removals of present prefixes are
    /// frequent), both families.
    fn small_prefix() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            8 => (0u32..300, prop_oneof![Just(24u8), Just(32u8), Just(16u8)]).prop_map(|(i, len)| v4(i, len)),
            1 => (0u16..20).prop_map(|i| {
                let addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 0);
                IpNet::V6(Ipv6Net::new(addr, 48).unwrap())
            }),
        ]
    }

    /// The `i`-th /24 of the small space, as a prefix of length `len`.
    fn v4(i: u32, len: u8) -> IpNet {
        let addr = std::net::Ipv4Addr::from(0xc000_0000u32 + (i << 8));
        IpNet::V4(ipnet::Ipv4Net::new(addr, len).unwrap().trunc())
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            // Clears are rare, so that the set grows past many merges in between.
            240 => small_prefix().prop_map(Op::Insert),
            160 => small_prefix().prop_map(Op::Remove),
            120 => small_prefix().prop_map(Op::Contains),
            5 => (0u32..300, 1u32..150).prop_map(|(from, n)| Op::InsertRun(from, n)),
            10 => Just(Op::Check),
            1 => Just(Op::Clear),
        ]
    }

    /// The invariants of the IPv4 part: a sorted base without duplicates, each of its
    /// keys found through the index, `added` disjoint from it, `removed` within it, the
    /// staging and the slack bounded.
    fn check_invariants(set: &PrefixSet) {
        let keys = &set.v4;
        assert!(keys.base.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        assert!(keys.index.covered <= keys.base.len());
        assert!(keys.base.iter().all(|k| keys.in_base(*k)), "indexed");
        assert!(
            keys.added.iter().all(|k| !keys.in_base(*k)),
            "added ∩ base = ∅"
        );
        assert!(
            keys.removed.iter().all(|k| keys.in_base(*k)),
            "removed ⊆ base"
        );
        let bound = MIN_STAGING.max(keys.base.len() / 8);
        assert!(keys.staged() <= bound, "staged {} > {bound}", keys.staged());
        assert!(keys.base.capacity() - keys.base.len() <= bound, "slack");
    }

    /// Every prefix of the set, sorted.
    fn listed(set: &PrefixSet) -> Vec<IpNet> {
        let mut listed: Vec<IpNet> = set
            .iter_family(false)
            .chain(set.iter_family(true))
            .collect();
        listed.sort();
        listed
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
                    Op::Contains(p) => prop_assert_eq!(set.contains(&p), model.contains(&p)),
                    Op::InsertRun(from, n) => {
                        for i in from..(from + n).min(300) {
                            let p = v4(i, 24);
                            prop_assert_eq!(set.insert(p), model.insert(p));
                        }
                    }
                    Op::Check => {
                        check_invariants(&set);
                        prop_assert_eq!(listed(&set), model.iter().copied().collect::<Vec<_>>());
                    }
                    Op::Clear => {
                        set.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(set.len(), model.len());
            }
            for i in 0..300 {
                for len in [16, 24, 32] {
                    let p = v4(i, len);
                    prop_assert_eq!(set.contains(&p), model.contains(&p), "{}", p);
                }
            }
            check_invariants(&set);
            prop_assert_eq!(set.is_empty(), model.is_empty());
            prop_assert_eq!(listed(&set), model.iter().copied().collect::<Vec<_>>());
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
        check_invariants(&s);
        let odd: Vec<IpNet> = (1..100_000).step_by(2).map(net).collect();
        assert_eq!(listed(&s), odd);
        // Out of order: inserted again in descending order, every one new.
        for i in (0..100_000).step_by(2).rev() {
            assert!(s.insert(net(i)));
        }
        assert_eq!(s.len(), 100_000);
        check_invariants(&s);
        assert_eq!(listed(&s), (0..100_000).map(net).collect::<Vec<_>>());
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
