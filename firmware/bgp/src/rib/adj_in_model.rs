//! Property test of the Adj-RIB-In against a plain model: two peers import, re-judge,
//! withdraw, go stale and reset routes to the same prefixes, the Loc-RIB kept in step as
//! the speaker keeps it; after every step each peer's routes, counters and Loc-RIB paths
//! match the model (a route accepted unchanged lives in the Loc-RIB alone). The list
//! limit of the routes accepted unchanged is 1 or the default, so both ways of finding
//! them (their list, a Loc-RIB scan) and the switches between them are exercised.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;
use proptest::prelude::*;

use crate::reflect::Role;
use crate::rib::adj_in::{AdjRibIn, InRoute, LIST_LIMIT, Verdict};
use crate::rib::loc::LocRib;
use crate::rib::{Attrs, SourceId, SourceInfo};
use crate::wire::PathAttributes;

/// How a route is judged: accepted as received, accepted with attribute set `n`, or
/// rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    Unchanged,
    Changed(usize),
    Rejected,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, usize, usize, Judged),
    Remove(usize, usize),
    Rejudge(usize, usize, Judged),
    MarkStale(usize, bool),
    RemoveStale(usize),
    Clear(usize),
}

/// (received set, accepted set or None, stale) per prefix index.
type Model = BTreeMap<usize, (usize, Option<usize>, bool)>;

const PREFIXES: [&str; 4] = [
    "192.0.2.1/32",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "2001:db8::/48",
];

fn judged() -> impl Strategy<Value = Judged> {
    prop_oneof![
        3 => Just(Judged::Unchanged),
        1 => (0..3usize).prop_map(Judged::Changed),
        1 => Just(Judged::Rejected),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..4usize, 0..3usize, judged()).prop_map(|(s, p, a, j)| Op::Insert(s, p, a, j)),
        2 => (0..2usize, 0..4usize).prop_map(|(s, p)| Op::Remove(s, p)),
        2 => (0..2usize, 0..4usize, judged()).prop_map(|(s, p, j)| Op::Rejudge(s, p, j)),
        1 => (0..2usize, any::<bool>()).prop_map(|(s, v6)| Op::MarkStale(s, v6)),
        1 => (0..2usize).prop_map(Op::RemoveStale),
        1 => (0..2usize).prop_map(Op::Clear),
    ]
}

struct Rig {
    loc: LocRib,
    peers: [AdjRibIn; 2],
    models: [Model; 2],
    sets: Vec<Attrs>,
    prefixes: Vec<IpNet>,
    reason: u16,
}

fn src(s: usize) -> SourceId {
    SourceId(s as u32 + 1)
}

impl Rig {
    fn new(list_limit: usize) -> Rig {
        let mut loc = LocRib::new(false);
        for s in 0..2u8 {
            loc.set_source(
                src(usize::from(s)),
                SourceInfo {
                    role: Role::Client,
                    router_id: Ipv4Addr::new(10, 0, 0, s + 1),
                    address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, s + 1))),
                },
            );
        }
        let mut peers = [
            AdjRibIn::with_list_limit(list_limit),
            AdjRibIn::with_list_limit(list_limit),
        ];
        let reason = peers[0].reason("rejected");
        peers[1].reason("rejected");
        Rig {
            loc,
            peers,
            models: [Model::new(), Model::new()],
            sets: (0..6u32)
                .map(|i| {
                    Arc::new(PathAttributes {
                        local_pref: Some(100 + i),
                        ..PathAttributes::default()
                    })
                })
                .collect(),
            prefixes: PREFIXES.iter().map(|p| p.parse().unwrap()).collect(),
            reason,
        }
    }

    /// The verdict and the model's accepted set of route `received` judged `j`.
    fn verdict(&self, received: usize, j: Judged) -> (Verdict, Option<usize>) {
        match j {
            Judged::Unchanged => (
                Verdict::Accepted(self.sets[received].clone()),
                Some(received),
            ),
            Judged::Changed(n) => (Verdict::Accepted(self.sets[3 + n].clone()), Some(3 + n)),
            Judged::Rejected => (Verdict::Rejected(self.reason), None),
        }
    }

    fn accepted_attrs(v: &Verdict) -> Option<Attrs> {
        match v {
            Verdict::Accepted(a) => Some(a.clone()),
            Verdict::Rejected(_) => None,
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert(s, p, a, j) => {
                let (verdict, acc) = self.verdict(a, j);
                let new = Self::accepted_attrs(&verdict);
                let route = InRoute {
                    received: self.sets[a].clone(),
                    verdict,
                    stale: false,
                };
                let prefix = self.prefixes[p];
                let old = self.peers[s].insert(&self.loc, src(s), prefix, route);
                let was = old.is_some_and(|o| matches!(o.verdict, Verdict::Accepted(_)));
                if new.is_some() || was {
                    self.loc.update(prefix, src(s), new);
                }
                self.models[s].insert(p, (a, acc, false));
            }
            Op::Remove(s, p) => {
                let prefix = self.prefixes[p];
                if let Some(old) = self.peers[s].remove(&self.loc, src(s), &prefix)
                    && matches!(old.verdict, Verdict::Accepted(_))
                {
                    self.loc.update(prefix, src(s), None);
                }
                self.models[s].remove(&p);
            }
            Op::Rejudge(s, p, j) => {
                let Some(&(a, _, stale)) = self.models[s].get(&p) else {
                    return;
                };
                let (verdict, acc) = self.verdict(a, j);
                let new = Self::accepted_attrs(&verdict);
                let prefix = self.prefixes[p];
                let old = self.peers[s].set_verdict(&self.loc, src(s), &prefix, verdict);
                let old = old.as_ref().and_then(Self::accepted_attrs);
                let same = match (&old, &new) {
                    (Some(x), Some(y)) => Arc::ptr_eq(x, y),
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    self.loc.update(prefix, src(s), new);
                }
                self.models[s].insert(p, (a, acc, stale));
            }
            Op::MarkStale(s, v6) => {
                let prefixes = &self.prefixes;
                self.peers[s].mark_stale(&self.loc, src(s), !v6, v6);
                for (p, r) in self.models[s].iter_mut() {
                    if matches!(prefixes[*p], IpNet::V6(_)) == v6 {
                        r.2 = true;
                    }
                }
            }
            Op::RemoveStale(s) => {
                for prefix in self.peers[s].remove_stale(true, true) {
                    self.loc.update(prefix, src(s), None);
                }
                self.models[s].retain(|_, r| !r.2);
            }
            Op::Clear(s) => {
                // The Loc-RIB must hold nothing of the peer afterwards (checked below).
                for prefix in self.peers[s].clear(&self.loc, src(s)) {
                    self.loc.update(prefix, src(s), None);
                }
                self.models[s].clear();
            }
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for s in 0..2 {
            let (adj, model) = (&self.peers[s], &self.models[s]);
            prop_assert_eq!(adj.len(), model.len());
            let accepted = model.values().filter(|r| r.1.is_some()).count() as u64;
            prop_assert_eq!(adj.accepted(), accepted);
            prop_assert_eq!(adj.stale(), model.values().filter(|r| r.2).count() as u64);
            let mut listed: Vec<IpNet> = adj
                .iter(&self.loc, src(s))
                .into_iter()
                .map(|e| e.0)
                .collect();
            listed.sort();
            let mut expected: Vec<IpNet> = model.keys().map(|p| self.prefixes[*p]).collect();
            expected.sort();
            prop_assert_eq!(listed, expected);
            for (p, prefix) in self.prefixes.iter().enumerate() {
                let got = adj.get(&self.loc, src(s), prefix);
                let in_loc = self.loc.path_from(prefix, src(s));
                match model.get(&p) {
                    None => prop_assert!(got.is_none() && in_loc.is_none()),
                    Some(&(a, acc, stale)) => {
                        let got = got.expect("a modelled route is stored");
                        prop_assert!(Arc::ptr_eq(&got.received, &self.sets[a]));
                        prop_assert_eq!(got.stale, stale);
                        let acc_attrs = acc.map(|i| &self.sets[i]);
                        match (&got.verdict, acc_attrs) {
                            (Verdict::Accepted(x), Some(y)) => prop_assert!(Arc::ptr_eq(x, y)),
                            (Verdict::Rejected(_), None) => {}
                            (v, m) => prop_assert!(false, "verdict {v:?}, model {m:?}"),
                        }
                        match (in_loc, acc_attrs) {
                            (Some(x), Some(y)) => prop_assert!(Arc::ptr_eq(x, y)),
                            (None, None) => {}
                            (l, m) => prop_assert!(false, "loc {l:?}, model {m:?}"),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #[test]
    fn two_peers_routes_match_the_model_after_every_step(
        ops in proptest::collection::vec(op(), 1..60),
        list_limit in prop_oneof![Just(1usize), Just(LIST_LIMIT)],
    ) {
        let mut rig = Rig::new(list_limit);
        for op in &ops {
            rig.apply(op);
            rig.check()?;
        }
    }
}
