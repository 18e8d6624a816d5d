//! The RFC 4271 §9.1.2.2 decision process with the RFC 4456 §9 tie-breaks.
//!
//! Steps, in order (the first that differs decides):
//! 1. highest LOCAL_PREF (absent: 100);
//! 2. locally originated over learned;
//! 3. shortest AS_PATH (an AS_SET counts one, confederation segments zero);
//! 4. lowest ORIGIN;
//! 5. lowest MED, only between paths from the same neighbour AS (absent: 0);
//! 6. eBGP-learned over iBGP-learned;
//! 7. (IGP cost to the next hop: not implemented, all equal);
//! 8. shortest CLUSTER_LIST;
//! 9. lowest ORIGINATOR_ID, or BGP identifier of the source when absent;
//! 10. lowest peer address.
//!
//! Paths equal up to step 7 are "equally good" for multipath.

use std::cmp::Ordering;

use crate::reflect::{DEFAULT_LOCAL_PREF, Role};
use crate::rib::SourceInfo;
use crate::wire::{AsSegment, PathAttributes};

/// The step at which one path beat another (also: why a path lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Step {
    /// Higher LOCAL_PREF.
    LocalPref,
    /// Locally originated.
    LocallyOriginated,
    /// Shorter AS_PATH.
    AsPathLength,
    /// Lower ORIGIN.
    Origin,
    /// Lower MED (same neighbour AS).
    Med,
    /// eBGP over iBGP.
    ExternalOverInternal,
    /// Shorter CLUSTER_LIST.
    ClusterListLength,
    /// Lower ORIGINATOR_ID / BGP identifier.
    RouterId,
    /// Lower peer address.
    PeerAddress,
}

impl Step {
    /// Short name for status output.
    pub fn name(self) -> &'static str {
        match self {
            Step::LocalPref => "local-pref",
            Step::LocallyOriginated => "locally-originated",
            Step::AsPathLength => "as-path-length",
            Step::Origin => "origin",
            Step::Med => "med",
            Step::ExternalOverInternal => "ebgp-over-ibgp",
            Step::ClusterListLength => "cluster-list-length",
            Step::RouterId => "router-id",
            Step::PeerAddress => "peer-address",
        }
    }

    /// Paths separated only at this step are equally good for multipath.
    pub fn multipath_equal(self) -> bool {
        self >= Step::ClusterListLength
    }
}

/// One path as the decision process sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its attributes.
    pub attrs: &'a PathAttributes,
    /// Its source.
    pub source: &'a SourceInfo,
}

/// AS_PATH length for step 3.
pub fn as_path_len(attrs: &PathAttributes) -> usize {
    attrs
        .as_path
        .iter()
        .map(|s| match s {
            AsSegment::Sequence(a) => a.len(),
            AsSegment::Set(_) => 1,
            AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => 0,
        })
        .sum()
}

fn neighbour_as(attrs: &PathAttributes) -> Option<u32> {
    attrs.as_path.iter().find_map(|s| match s {
        AsSegment::Sequence(a) => a.first().copied(),
        _ => None,
    })
}

/// Compare two paths: `Greater` means `a` is better; the step says where it was decided.
/// Distinct sources never compare `Equal`.
pub fn compare(a: Candidate<'_>, b: Candidate<'_>) -> (Ordering, Step) {
    let lp = |c: Candidate<'_>| c.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF);
    let steps: [(Ordering, Step); 9] = [
        (lp(a).cmp(&lp(b)), Step::LocalPref),
        (
            (a.source.role == Role::Local).cmp(&(b.source.role == Role::Local)),
            Step::LocallyOriginated,
        ),
        (
            as_path_len(b.attrs).cmp(&as_path_len(a.attrs)),
            Step::AsPathLength,
        ),
        (b.attrs.origin.cmp(&a.attrs.origin), Step::Origin),
        (
            if neighbour_as(a.attrs) == neighbour_as(b.attrs) {
                b.attrs.med.unwrap_or(0).cmp(&a.attrs.med.unwrap_or(0))
            } else {
                Ordering::Equal
            },
            Step::Med,
        ),
        (
            (a.source.role == Role::External).cmp(&(b.source.role == Role::External)),
            Step::ExternalOverInternal,
        ),
        (
            b.attrs.cluster_list.len().cmp(&a.attrs.cluster_list.len()),
            Step::ClusterListLength,
        ),
        (
            b.attrs
                .originator_id
                .unwrap_or(b.source.router_id)
                .cmp(&a.attrs.originator_id.unwrap_or(a.source.router_id)),
            Step::RouterId,
        ),
        (b.source.address.cmp(&a.source.address), Step::PeerAddress),
    ];
    steps
        .into_iter()
        .find(|(o, _)| *o != Ordering::Equal)
        .unwrap_or((Ordering::Equal, Step::PeerAddress))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::wire::Origin;

    fn src(role: Role, last: u8) -> SourceInfo {
        SourceInfo {
            role,
            router_id: Ipv4Addr::new(10, 0, 0, last),
            address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))),
        }
    }

    fn path(asns: &[u32]) -> PathAttributes {
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: vec![AsSegment::Sequence(asns.to_vec())],
            ..Default::default()
        }
    }

    /// Each row: (better path, worse path, deciding step).
    #[test]
    fn every_step_decides_in_order() {
        let (s1, s2) = (src(Role::Client, 1), src(Role::Client, 2));
        let ext = src(Role::External, 3);
        let local = SourceInfo {
            role: Role::Local,
            address: None,
            ..src(Role::Local, 9)
        };
        let far = SourceInfo {
            address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200))),
            ..s1
        };
        let base = path(&[65001]);
        let with = |f: &dyn Fn(&mut PathAttributes)| {
            let mut p = base.clone();
            f(&mut p);
            p
        };
        let rows: Vec<(
            PathAttributes,
            &SourceInfo,
            PathAttributes,
            &SourceInfo,
            Step,
        )> = vec![
            (
                with(&|p| p.local_pref = Some(200)),
                &s2,
                base.clone(),
                &s1,
                Step::LocalPref,
            ),
            (
                base.clone(),
                &local,
                base.clone(),
                &s1,
                Step::LocallyOriginated,
            ),
            (
                base.clone(),
                &s2,
                path(&[65001, 65002]),
                &s1,
                Step::AsPathLength,
            ),
            (
                base.clone(),
                &s2,
                with(&|p| p.origin = Some(Origin::Incomplete)),
                &s1,
                Step::Origin,
            ),
            (
                with(&|p| p.med = Some(5)),
                &s2,
                with(&|p| p.med = Some(10)),
                &s1,
                Step::Med,
            ),
            (
                base.clone(),
                &ext,
                base.clone(),
                &s1,
                Step::ExternalOverInternal,
            ),
            (
                base.clone(),
                &s2,
                with(&|p| p.cluster_list = vec![Ipv4Addr::new(1, 1, 1, 1)]),
                &s1,
                Step::ClusterListLength,
            ),
            (base.clone(), &s1, base.clone(), &s2, Step::RouterId),
            (
                with(&|p| p.originator_id = Some(Ipv4Addr::new(10, 0, 0, 0))),
                &s2,
                base.clone(),
                &s1,
                Step::RouterId,
            ),
            (base.clone(), &s1, base.clone(), &far, Step::PeerAddress),
        ];
        for (better, bs, worse, ws, step) in rows {
            let a = Candidate {
                attrs: &better,
                source: bs,
            };
            let b = Candidate {
                attrs: &worse,
                source: ws,
            };
            assert_eq!(compare(a, b), (Ordering::Greater, step), "{step:?}");
            assert_eq!(compare(b, a), (Ordering::Less, step), "{step:?} reversed");
        }
    }

    #[test]
    fn med_ignored_between_neighbour_ases() {
        let (s1, s2) = (src(Role::External, 1), src(Role::External, 2));
        let a = PathAttributes {
            med: Some(100),
            ..path(&[65001])
        };
        let b = PathAttributes {
            med: Some(1),
            ..path(&[65002])
        };
        // MED skipped; decided by router id (s1 lower).
        assert_eq!(
            compare(
                Candidate {
                    attrs: &a,
                    source: &s1
                },
                Candidate {
                    attrs: &b,
                    source: &s2
                }
            ),
            (Ordering::Greater, Step::RouterId)
        );
        let set = PathAttributes {
            as_path: vec![AsSegment::Set(vec![1, 2, 3])],
            ..Default::default()
        };
        assert_eq!(as_path_len(&set), 1);
    }
}
