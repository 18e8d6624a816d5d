//! Loc-RIB: every accepted path of every prefix, best path first.
//!
//! Contract: after any [`LocRib::update`], the first path of a prefix is its best path.
//! A prefix whose best path (source or attribute set) changed is queued for export with
//! its new best path ([`LocRib::take_changed`]), so export needs no second lookup; a prefix whose forwarding part changed (the next hops of
//! the best path, and of the equally good ones with multipath) is queued as a
//! [`FibChange`] ([`LocRib::take_fib`]). Locally originated best paths are not
//! forwarding entries.

use crate::rib::prefix_map::PrefixMap;
use std::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::reflect::Role;
use crate::rib::decision::{Candidate, Step, compare};
use crate::rib::{Attrs, FibChange, SourceId, SourceInfo, next_hop_of};

/// One path to a prefix.
#[derive(Debug, Clone)]
pub struct Path {
    /// Who it came from.
    pub source: SourceId,
    /// Its (post-import-policy) attributes.
    pub attrs: Attrs,
}

/// The paths of one prefix; one path is stored inline.
#[derive(Debug)]
enum Paths {
    One(Path),
    // Boxed so that `Paths` takes 16 octets: the Box fits beside the Arc's niche.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Path>>),
}

impl Paths {
    fn as_slice(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }
}

/// A path and how it compares with the best one.
#[derive(Debug, Clone)]
pub struct Explained {
    /// Source of the path.
    pub source: SourceId,
    /// Its attributes.
    pub attrs: Attrs,
    /// The best path.
    pub best: bool,
    /// For the others: the decision step at which it lost to the best path.
    pub lost_at: Option<Step>,
}

/// Forwarding part of a prefix: nothing, one next hop, or several (multipath).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Forwarding {
    None,
    One(IpAddr),
    Many(Vec<IpAddr>),
}

/// The Loc-RIB.
#[derive(Debug, Default)]
pub struct LocRib {
    dests: PrefixMap<Paths>,
    sources: Sources,
    changed: Vec<(IpNet, Option<Path>)>,
    fib: Vec<FibChange>,
    /// No FIB changes are produced (nobody installs them).
    no_fib: bool,
}

impl LocRib {
    /// An empty Loc-RIB; `multipath` lists equally good next hops in FIB changes.
    pub fn new(multipath: bool) -> Self {
        LocRib {
            sources: Sources {
                infos: Vec::new(),
                multipath,
            },
            ..Default::default()
        }
    }

    /// Whether forwarding changes are produced for [`LocRib::take_fib`] (default on). Off,
    /// the forwarding part is not computed at all: for a router that installs nothing.
    pub fn set_fib_output(&mut self, on: bool) {
        self.no_fib = !on;
        if !on {
            self.fib = Vec::new();
        }
    }

    /// Declare (or replace) what the decision process knows about a source.
    pub fn set_source(&mut self, id: SourceId, info: SourceInfo) {
        let i = id.0 as usize;
        let infos = &mut self.sources.infos;
        if infos.len() <= i {
            infos.resize(i + 1, None);
        }
        infos[i] = Some(info);
    }

    /// What the decision process knows about a source.
    pub fn source_info(&self, id: SourceId) -> Option<&SourceInfo> {
        self.sources.infos.get(id.0 as usize)?.as_ref()
    }

    /// Set (`Some`) or remove (`None`) the path from `source` to `prefix`.
    pub fn update(&mut self, prefix: IpNet, source: SourceId, attrs: Option<Attrs>) {
        let LocRib {
            dests,
            sources,
            changed,
            fib,
            no_fib,
        } = self;
        let forwarding = |paths: &[Path]| {
            if *no_fib {
                Forwarding::None
            } else {
                sources.forwarding(paths)
            }
        };
        let best_of = |p: &Paths| {
            let b = &p.as_slice()[0];
            (b.source, Arc::as_ptr(&b.attrs))
        };
        let (old_best, old_fwd, new_best, new_fwd, best) = match dests.get_mut(&prefix) {
            None => {
                let Some(attrs) = attrs else { return };
                let path = Path { source, attrs };
                let fwd = forwarding(std::slice::from_ref(&path));
                let key = (path.source, Arc::as_ptr(&path.attrs));
                let best = path.clone();
                dests.insert(prefix, Paths::One(path));
                (None, Forwarding::None, Some(key), fwd, Some(best))
            }
            Some(slot) => {
                let old_best = Some(best_of(slot));
                let old_fwd = forwarding(slot.as_slice());
                if sources.replace(slot, source, attrs) {
                    let new_best = Some(best_of(slot));
                    let new_fwd = forwarding(slot.as_slice());
                    let best = (old_best != new_best).then(|| slot.as_slice()[0].clone());
                    (old_best, old_fwd, new_best, new_fwd, best)
                } else {
                    dests.remove(&prefix);
                    (old_best, old_fwd, None, Forwarding::None, None)
                }
            }
        };
        if old_best != new_best {
            changed.push((prefix, best));
        }
        if old_fwd != new_fwd {
            fib.push(match new_fwd {
                Forwarding::None => FibChange::Withdraw { prefix },
                Forwarding::One(nh) => FibChange::Replace {
                    prefix,
                    next_hops: vec![nh],
                },
                Forwarding::Many(next_hops) => FibChange::Replace { prefix, next_hops },
            });
        }
    }

    /// The best path to `prefix`.
    pub fn best(&self, prefix: &IpNet) -> Option<&Path> {
        self.dests.get(prefix).map(|p| &p.as_slice()[0])
    }

    /// The attributes of the path from `source` to `prefix`.
    pub fn path_from(&self, prefix: &IpNet, source: SourceId) -> Option<&Attrs> {
        let paths = self.dests.get(prefix)?.as_slice();
        paths.iter().find(|p| p.source == source).map(|p| &p.attrs)
    }

    /// Every prefix with a path from `source`, with that path's attributes (a scan of the
    /// whole table).
    pub fn paths_from(&self, source: SourceId) -> impl Iterator<Item = (IpNet, &Attrs)> {
        self.dests.iter().filter_map(move |(k, paths)| {
            let p = paths.as_slice().iter().find(|p| p.source == source)?;
            Some((k, &p.attrs))
        })
    }

    /// Every prefix with its best path.
    pub fn iter_best(&self) -> impl Iterator<Item = (IpNet, &Path)> {
        self.dests.iter().map(|(k, p)| (k, &p.as_slice()[0]))
    }

    /// Every path of `prefix`, best first, with the step at which each other path lost.
    pub fn explain(&self, prefix: &IpNet) -> Vec<Explained> {
        let Some(paths) = self.dests.get(prefix) else {
            return Vec::new();
        };
        let paths = paths.as_slice();
        let best = &paths[0];
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| Explained {
                source: p.source,
                attrs: Arc::clone(&p.attrs),
                best: i == 0,
                lost_at: (i != 0)
                    .then(|| compare(self.sources.candidate(best), self.sources.candidate(p)).1),
            })
            .collect()
    }

    /// Prefixes whose best path changed since the last call, each with its new best path
    /// (`None`: no path left). A prefix may repeat; the last entry is current.
    pub fn take_changed(&mut self) -> Vec<(IpNet, Option<Path>)> {
        std::mem::take(&mut self.changed)
    }

    /// Forwarding changes since the last call, in order.
    pub fn take_fib(&mut self) -> Vec<FibChange> {
        std::mem::take(&mut self.fib)
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.dests.len()
    }

    /// No prefixes.
    pub fn is_empty(&self) -> bool {
        self.dests.is_empty()
    }
}

/// What the decision process knows about every source, and whether FIB entries list
/// equally good next hops.
#[derive(Debug, Default)]
struct Sources {
    infos: Vec<Option<SourceInfo>>,
    multipath: bool,
}

impl Sources {
    /// Set (`Some`) or remove (`None`) the path from `source` among `paths`, best first
    /// afterwards; false when no path is left (`paths` is then to be removed).
    fn replace(&self, paths: &mut Paths, source: SourceId, attrs: Option<Attrs>) -> bool {
        match (&mut *paths, attrs) {
            (Paths::One(p), None) => p.source != source,
            (Paths::One(p), Some(attrs)) if p.source == source => {
                p.attrs = attrs;
                true
            }
            (Paths::One(p), Some(attrs)) => {
                let mut v = vec![p.clone(), Path { source, attrs }];
                self.select(&mut v);
                *paths = Paths::Many(Box::new(v));
                true
            }
            (Paths::Many(v), attrs) => {
                let pos = v.iter().position(|p| p.source == source);
                match (pos, attrs) {
                    (Some(i), Some(attrs)) => v[i].attrs = attrs,
                    (None, Some(attrs)) => v.push(Path { source, attrs }),
                    (Some(i), None) => {
                        v.swap_remove(i);
                    }
                    (None, None) => {}
                }
                self.select(v);
                match v.pop() {
                    None => false,
                    Some(last) if v.is_empty() => {
                        *paths = Paths::One(last);
                        true
                    }
                    Some(last) => {
                        v.push(last);
                        true
                    }
                }
            }
        }
    }

    /// The source's info.
    ///
    /// # Panics
    /// When the source was never declared (a caller bug).
    fn source(&self, id: SourceId) -> &SourceInfo {
        // NOTE(unwrap): every path's source is declared before its first update.
        self.infos[id.0 as usize]
            .as_ref()
            .expect("undeclared route source")
    }

    fn candidate<'a>(&'a self, p: &'a Path) -> Candidate<'a> {
        Candidate {
            attrs: &p.attrs,
            source: self.source(p.source),
        }
    }

    fn forwarding(&self, paths: &[Path]) -> Forwarding {
        let Some(best) = paths.first() else {
            return Forwarding::None;
        };
        if self.source(best.source).role == Role::Local {
            return Forwarding::None;
        }
        let Some(first) = next_hop_of(&best.attrs) else {
            return Forwarding::None;
        };
        if !self.multipath {
            return Forwarding::One(first);
        }
        let mut hops = vec![first];
        for p in &paths[1..] {
            if self.source(p.source).role == Role::Local {
                continue;
            }
            let (_, step) = compare(self.candidate(best), self.candidate(p));
            if let Some(nh) = next_hop_of(&p.attrs)
                && step.multipath_equal()
                && !hops.contains(&nh)
            {
                hops.push(nh);
            }
        }
        if hops.len() == 1 {
            Forwarding::One(first)
        } else {
            Forwarding::Many(hops)
        }
    }

    /// Put the best path first.
    fn select(&self, paths: &mut [Path]) {
        let mut best = 0;
        for i in 1..paths.len() {
            if compare(self.candidate(&paths[i]), self.candidate(&paths[best])).0
                == Ordering::Greater
            {
                best = i;
            }
        }
        paths.swap(0, best);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::PathAttributes;

    fn rib(multipath: bool) -> LocRib {
        let mut r = LocRib::new(multipath);
        r.set_source(
            SourceId::LOCAL,
            SourceInfo {
                role: Role::Local,
                router_id: Ipv4Addr::new(10, 0, 0, 100),
                address: None,
            },
        );
        for i in 1..=3u8 {
            r.set_source(
                SourceId(u32::from(i)),
                SourceInfo {
                    role: Role::Client,
                    router_id: Ipv4Addr::new(10, 0, 0, i),
                    address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i))),
                },
            );
        }
        r
    }

    fn attrs(nh: u8, lp: u32) -> Attrs {
        Arc::new(PathAttributes {
            next_hop: Some(Ipv4Addr::new(192, 0, 2, nh)),
            local_pref: Some(lp),
            ..Default::default()
        })
    }

    fn hop(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn one_path_is_stored_inline_in_16_octets() {
        assert_eq!(std::mem::size_of::<Paths>(), 16);
    }

    #[test]
    fn with_fib_output_off_best_paths_change_without_fib_changes() {
        let mut r = rib(false);
        r.set_fib_output(false);
        let p: IpNet = "198.51.100.0/24".parse().unwrap();
        r.update(p, SourceId(2), Some(attrs(2, 100)));
        r.update(p, SourceId(3), Some(attrs(3, 200)));
        r.update(p, SourceId(3), None);
        assert_eq!(r.take_changed().len(), 3);
        assert!(r.take_fib().is_empty());
        r.set_fib_output(true);
        r.update(p, SourceId(2), None);
        assert_eq!(r.take_fib(), vec![FibChange::Withdraw { prefix: p }]);
    }

    #[test]
    fn best_path_changes_and_fib_follow() {
        let mut r = rib(false);
        let p: IpNet = "198.51.100.0/24".parse().unwrap();
        r.update(p, SourceId(2), Some(attrs(2, 100)));
        assert_eq!(
            r.take_fib(),
            vec![FibChange::Replace {
                prefix: p,
                next_hops: vec![hop(2)]
            }]
        );
        // A worse path: no best change, no FIB change.
        r.update(p, SourceId(3), Some(attrs(3, 50)));
        assert!(r.take_changed().len() == 1 && r.take_fib().is_empty());
        // A better path wins.
        r.update(p, SourceId(1), Some(attrs(1, 200)));
        assert_eq!(r.best(&p).unwrap().source, SourceId(1));
        assert_eq!(
            r.take_fib(),
            vec![FibChange::Replace {
                prefix: p,
                next_hops: vec![hop(1)]
            }]
        );
        let ex = r.explain(&p);
        assert_eq!(ex.len(), 3);
        assert!(ex[0].best && ex[0].source == SourceId(1));
        assert!(ex[1..].iter().all(|e| e.lost_at == Some(Step::LocalPref)));
        // Best withdrawn: next best takes over.
        r.update(p, SourceId(1), None);
        assert_eq!(r.best(&p).unwrap().source, SourceId(2));
        r.update(p, SourceId(2), None);
        r.update(p, SourceId(3), None);
        assert!(r.is_empty());
        assert_eq!(
            r.take_fib().last(),
            Some(&FibChange::Withdraw { prefix: p })
        );
    }

    #[test]
    fn multipath_lists_equally_good_next_hops() {
        let mut r = rib(true);
        let p: IpNet = "198.51.100.0/24".parse().unwrap();
        r.update(p, SourceId(1), Some(attrs(1, 100)));
        r.update(p, SourceId(2), Some(attrs(2, 100)));
        r.update(p, SourceId(3), Some(attrs(3, 90)));
        assert_eq!(
            r.take_fib().last(),
            Some(&FibChange::Replace {
                prefix: p,
                next_hops: vec![hop(1), hop(2)]
            })
        );
    }

    #[test]
    fn local_routes_are_not_forwarding_entries() {
        let mut r = rib(false);
        let p: IpNet = "203.0.113.0/24".parse().unwrap();
        r.update(p, SourceId::LOCAL, Some(attrs(9, 100)));
        assert!(r.take_fib().is_empty());
        let changed = r.take_changed();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, p);
        assert_eq!(
            changed[0].1.as_ref().map(|b| b.source),
            Some(SourceId::LOCAL)
        );
        // A learned path that loses to the local one changes nothing.
        r.update(p, SourceId(1), Some(attrs(1, 100)));
        assert!(r.take_fib().is_empty() && r.take_changed().is_empty());
        // Local route withdrawn: the learned one is installed.
        r.update(p, SourceId::LOCAL, None);
        assert_eq!(
            r.take_fib(),
            vec![FibChange::Replace {
                prefix: p,
                next_hops: vec![hop(1)]
            }]
        );
    }

    mod order {
        use proptest::prelude::*;

        use super::*;
        use crate::wire::{AsSegment, Origin};

        /// One path: (local_pref, as_path length, origin, med, ebgp, cluster list length).
        type Spec = (u32, usize, u8, u32, bool, usize);

        fn spec() -> impl Strategy<Value = Spec> {
            (
                90u32..=110,
                1usize..4,
                0u8..3,
                0u32..3,
                any::<bool>(),
                0usize..3,
            )
        }

        fn build(specs: &[Spec]) -> (LocRib, Vec<(SourceId, Attrs)>) {
            let mut r = LocRib::new(false);
            let mut paths = Vec::new();
            for (i, (lp, len, origin, med, ebgp, cl)) in specs.iter().enumerate() {
                let id = SourceId(i as u32 + 1);
                r.set_source(
                    id,
                    SourceInfo {
                        role: if *ebgp { Role::External } else { Role::Client },
                        router_id: Ipv4Addr::from(0x0a00_0000 + i as u32),
                        address: Some(IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i as u32))),
                    },
                );
                // Same neighbour AS everywhere, so MED always counts and the order is total.
                let mut asns = vec![65001];
                asns.extend((1..*len).map(|k| 65100 + k as u32));
                let attrs = Arc::new(PathAttributes {
                    origin: Some([Origin::Igp, Origin::Egp, Origin::Incomplete][*origin as usize]),
                    as_path: vec![AsSegment::Sequence(asns)],
                    next_hop: Some(Ipv4Addr::from(0xc000_0200 + i as u32)),
                    local_pref: Some(*lp),
                    med: Some(*med),
                    cluster_list: vec![Ipv4Addr::new(1, 1, 1, 1); *cl],
                    ..Default::default()
                });
                paths.push((id, attrs));
            }
            (r, paths)
        }

        proptest! {
            /// The best path does not depend on the order paths arrive or leave in, and
            /// the FIB always points at the best path's next hop.
            #[test]
            fn best_path_is_order_independent(
                specs in proptest::collection::vec(spec(), 1..8),
                seed in any::<u64>(),
            ) {
                let prefix: IpNet = "198.51.100.0/24".parse().unwrap();
                let (mut forward, paths) = build(&specs);
                for (id, a) in &paths {
                    forward.update(prefix, *id, Some(a.clone()));
                }
                let (mut shuffled, _) = build(&specs);
                let mut order: Vec<usize> = (0..paths.len()).collect();
                let mut x = seed | 1;
                for i in (1..order.len()).rev() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    order.swap(i, (x % (i as u64 + 1)) as usize);
                }
                for &i in &order {
                    shuffled.update(prefix, paths[i].0, Some(paths[i].1.clone()));
                }
                let best = forward.best(&prefix).unwrap().source;
                prop_assert_eq!(best, shuffled.best(&prefix).unwrap().source);
                // Nothing beats the best path.
                let ex = forward.explain(&prefix);
                prop_assert!(ex.iter().skip(1).all(|e| e.lost_at.is_some()));
                // The last FIB change names the best path's next hop.
                let nh = next_hop_of(&forward.best(&prefix).unwrap().attrs).unwrap();
                let fib = shuffled.take_fib();
                prop_assert_eq!(
                    fib.last(),
                    Some(&FibChange::Replace { prefix, next_hops: vec![nh] })
                );
                // Removing every path in the shuffled order empties the prefix and the FIB.
                for &i in &order {
                    shuffled.update(prefix, paths[i].0, None);
                }
                prop_assert!(shuffled.is_empty());
                let fib = shuffled.take_fib();
                prop_assert_eq!(fib.last(), Some(&FibChange::Withdraw { prefix }));
            }
        }
    }
}
