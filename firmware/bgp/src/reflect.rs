//! RFC 4456 route reflection and the iBGP/eBGP export rules, as pure functions.
//!
//! - [`may_advertise`]: which routes go to which kind of peer (client/non-client rules;
//!   a route is never sent back to the peer it came from, which the caller checks).
//! - [`loop_check`]: routes that must be ignored on receipt (our cluster id in
//!   CLUSTER_LIST, ORIGINATOR_ID equal to our router id, our AS in an eBGP AS_PATH).
//! - [`reflected`], [`to_internal`], [`to_external`]: the attribute changes on export.

use std::net::{IpAddr, Ipv4Addr};

use crate::wire::{AsSegment, PathAttributes};

/// LOCAL_PREF assumed when none is present (RFC 4271 leaves it local; 100 is common).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Attribute flag: optional.
const FLAG_OPTIONAL: u8 = 0x80;
/// Attribute flag: transitive.
const FLAG_TRANSITIVE: u8 = 0x40;
/// Attribute flag: partial.
const FLAG_PARTIAL: u8 = 0x20;

/// The side of a route or a peer, as reflection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Originated by this router.
    Local,
    /// An eBGP peer.
    External,
    /// An iBGP peer that is a route-reflector client.
    Client,
    /// An iBGP peer that is not a client.
    NonClient,
}

/// May a route learned from `from` be advertised to a peer of role `to`?
/// (The caller still never sends a route back to its own source peer.)
pub fn may_advertise(from: Role, to: Role) -> bool {
    match (from, to) {
        (_, Role::External) | (Role::Local | Role::External, _) => true,
        // RFC 4456 §6: from a client, reflect to clients and non-clients.
        (Role::Client, Role::Client | Role::NonClient) => true,
        // From a non-client, reflect to clients only.
        (Role::NonClient, Role::Client) => true,
        // Plain iBGP rule: never from one non-client to another.
        (Role::NonClient, Role::NonClient) => false,
        (_, Role::Local) => false,
    }
}

/// Why a received route is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoopReason {
    /// Our cluster id is in CLUSTER_LIST.
    ClusterLoop,
    /// ORIGINATOR_ID is our router id.
    OriginatorLoop,
    /// Our AS is in the AS_PATH of a route from an eBGP peer.
    AsLoop,
}

impl LoopReason {
    /// Name used in rejection counters.
    pub fn name(self) -> &'static str {
        match self {
            LoopReason::ClusterLoop => "cluster-loop",
            LoopReason::OriginatorLoop => "originator-loop",
            LoopReason::AsLoop => "as-loop",
        }
    }
}

/// Loop detection on receipt. `cluster_id` is `None` when we are not a reflector.
pub fn loop_check(
    attrs: &PathAttributes,
    router_id: Ipv4Addr,
    cluster_id: Option<Ipv4Addr>,
    local_as: u32,
    external: bool,
) -> Option<LoopReason> {
    if external {
        let looped = attrs.as_path.iter().any(|seg| match seg {
            AsSegment::Sequence(a) | AsSegment::Set(a) => a.contains(&local_as),
            AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => false,
        });
        return looped.then_some(LoopReason::AsLoop);
    }
    if attrs.originator_id == Some(router_id) {
        return Some(LoopReason::OriginatorLoop);
    }
    if let Some(cid) = cluster_id
        && attrs.cluster_list.contains(&cid)
    {
        return Some(LoopReason::ClusterLoop);
    }
    None
}

/// Attribute changes common to every export: non-transitive unknown attributes are
/// dropped, transitive ones passed on with the Partial bit (RFC 4271 §5).
pub fn pass_unknown(attrs: &mut PathAttributes) {
    attrs
        .unknown
        .retain(|a| a.flags & FLAG_OPTIONAL != 0 && a.flags & FLAG_TRANSITIVE != 0);
    for a in &mut attrs.unknown {
        a.flags |= FLAG_PARTIAL;
    }
}

/// Reflection of an iBGP-learned route to another iBGP peer (RFC 4456 §8):
/// ORIGINATOR_ID is set to the source's BGP id if absent, our cluster id is prepended to
/// CLUSTER_LIST.
pub fn reflected(
    attrs: &PathAttributes,
    source_id: Ipv4Addr,
    cluster_id: Ipv4Addr,
) -> PathAttributes {
    let mut out = attrs.clone();
    out.originator_id.get_or_insert(source_id);
    out.cluster_list.insert(0, cluster_id);
    pass_unknown(&mut out);
    out
}

/// Export of a local or eBGP-learned route to an iBGP peer: LOCAL_PREF filled in.
pub fn to_internal(attrs: &PathAttributes) -> PathAttributes {
    let mut out = attrs.clone();
    out.local_pref.get_or_insert(DEFAULT_LOCAL_PREF);
    pass_unknown(&mut out);
    out
}

/// Export to an eBGP peer: our AS prepended, LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST
/// removed, MED removed unless the route is our own, NEXT_HOP set to `next_hop`.
pub fn to_external(
    attrs: &PathAttributes,
    local_as: u32,
    next_hop: IpAddr,
    own_route: bool,
) -> PathAttributes {
    let mut out = attrs.clone();
    match out.as_path.first_mut() {
        Some(AsSegment::Sequence(seq)) if seq.len() < 255 => seq.insert(0, local_as),
        _ => out.as_path.insert(0, AsSegment::Sequence(vec![local_as])),
    }
    out.local_pref = None;
    out.originator_id = None;
    out.cluster_list.clear();
    if !own_route {
        out.med = None;
    }
    set_next_hop(&mut out, next_hop);
    pass_unknown(&mut out);
    out
}

/// Set the next hop of a route to `addr`: NEXT_HOP for IPv4 routes, the MP_REACH next
/// hop for IPv6 routes (an IPv4 address is written IPv4-mapped there).
pub fn set_next_hop(attrs: &mut PathAttributes, addr: IpAddr) {
    match (&mut attrs.mp_reach, addr) {
        (Some(mp), IpAddr::V6(a)) => {
            mp.next_hop = a;
            mp.link_local = None;
        }
        (Some(mp), IpAddr::V4(a)) => {
            mp.next_hop = a.to_ipv6_mapped();
            mp.link_local = None;
        }
        (None, IpAddr::V4(a)) => attrs.next_hop = Some(a),
        // An IPv4 route over an IPv6-only session: keep what we have.
        (None, IpAddr::V6(_)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::RawAttribute;

    const ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    #[test]
    fn advertisement_matrix() {
        use Role::*;
        let expect = [
            (Local, Client, true),
            (Local, NonClient, true),
            (Local, External, true),
            (External, NonClient, true),
            (Client, Client, true),
            (Client, NonClient, true),
            (Client, External, true),
            (NonClient, Client, true),
            (NonClient, NonClient, false),
            (NonClient, External, true),
        ];
        for (from, to, ok) in expect {
            assert_eq!(may_advertise(from, to), ok, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn loops_are_detected() {
        let cid = Some(Ipv4Addr::new(1, 1, 1, 1));
        let mut a = PathAttributes::default();
        assert_eq!(loop_check(&a, ID, cid, 65000, false), None);
        a.cluster_list = vec![Ipv4Addr::new(2, 2, 2, 2), Ipv4Addr::new(1, 1, 1, 1)];
        assert_eq!(
            loop_check(&a, ID, cid, 65000, false),
            Some(LoopReason::ClusterLoop)
        );
        assert_eq!(loop_check(&a, ID, None, 65000, false), None);
        a.originator_id = Some(ID);
        assert_eq!(
            loop_check(&a, ID, None, 65000, false),
            Some(LoopReason::OriginatorLoop)
        );
        let e = PathAttributes {
            as_path: vec![AsSegment::Sequence(vec![65001, 65000])],
            ..Default::default()
        };
        assert_eq!(
            loop_check(&e, ID, None, 65000, true),
            Some(LoopReason::AsLoop)
        );
        assert_eq!(loop_check(&e, ID, None, 65002, true), None);
    }

    #[test]
    fn reflection_sets_originator_once_and_prepends_cluster() {
        let a = PathAttributes {
            cluster_list: vec![Ipv4Addr::new(9, 9, 9, 9)],
            ..Default::default()
        };
        let r = reflected(&a, Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(1, 1, 1, 1));
        assert_eq!(r.originator_id, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(
            r.cluster_list,
            vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(9, 9, 9, 9)]
        );
        let again = reflected(&r, Ipv4Addr::new(10, 0, 0, 6), Ipv4Addr::new(3, 3, 3, 3));
        assert_eq!(again.originator_id, Some(Ipv4Addr::new(10, 0, 0, 5)));
    }

    #[test]
    fn external_export_prepends_and_strips() {
        let a = PathAttributes {
            as_path: vec![AsSegment::Sequence(vec![65010])],
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 9)),
            local_pref: Some(200),
            med: Some(5),
            originator_id: Some(ID),
            cluster_list: vec![ID],
            unknown: vec![
                RawAttribute {
                    flags: 0xc0,
                    type_code: 99,
                    value: vec![1],
                },
                RawAttribute {
                    flags: 0x80,
                    type_code: 98,
                    value: vec![2],
                },
            ],
            ..Default::default()
        };
        let e = to_external(&a, 65000, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), false);
        assert_eq!(e.as_path, vec![AsSegment::Sequence(vec![65000, 65010])]);
        assert_eq!(e.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!((e.local_pref, e.med, e.originator_id), (None, None, None));
        assert!(e.cluster_list.is_empty());
        assert_eq!(
            e.unknown,
            vec![RawAttribute {
                flags: 0xe0,
                type_code: 99,
                value: vec![1]
            }]
        );
        let own = to_external(
            &PathAttributes {
                med: Some(5),
                ..Default::default()
            },
            65000,
            IpAddr::V4(ID),
            true,
        );
        assert_eq!(own.med, Some(5));
        assert_eq!(own.as_path, vec![AsSegment::Sequence(vec![65000])]);
        assert_eq!(
            to_internal(&PathAttributes::default()).local_pref,
            Some(DEFAULT_LOCAL_PREF)
        );
    }
}
