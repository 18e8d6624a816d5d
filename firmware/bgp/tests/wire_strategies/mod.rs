//! proptest strategies for wire messages that the codec can represent exactly, shared by
//! the round-trip and differential tests. Each restriction below names the rule of the
//! codec that makes it necessary (see `docs/bgp.md`, "Normalisations").

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::wire::{
    Afi, Aggregator, AsSegment, Capability, GracefulRestart, Message, MpReach, Notification, Open,
    Origin, ParseCtx, PathAttributes, RawAttribute, RouteRefresh, Safi, Update,
};
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

/// Any negotiated context.
pub(crate) fn ctx() -> impl Strategy<Value = ParseCtx> {
    (any::<bool>(), any::<bool>()).prop_map(|(four_octet_as, internal)| ParseCtx {
        four_octet_as,
        internal,
    })
}

/// Prefixes with host bits cleared (the parser clears them).
pub(crate) fn net4() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}

/// IPv6 prefixes with host bits cleared.
pub(crate) fn net6() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
}

/// A unicast next hop (the parser refuses 0/8 zero, broadcast and multicast).
pub(crate) fn next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (0x0100_0000u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

/// ASNs mixing 2-octet and 4-octet values, AS_TRANS included.
pub(crate) fn asn() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..65536, Just(23456u32), 65536u32..=u32::MAX]
}

/// A path: optional leading confederation segments with 2-octet ASNs (RFC 6793 leaves
/// them out of AS4_PATH), then sequences and sets.
pub(crate) fn as_path() -> impl Strategy<Value = Vec<AsSegment>> {
    let confed = prop_oneof![
        vec(64512u32..65535, 1..4).prop_map(AsSegment::ConfedSequence),
        vec(64512u32..65535, 1..4).prop_map(AsSegment::ConfedSet),
    ];
    let plain = prop_oneof![
        3 => vec(asn(), 1..8).prop_map(AsSegment::Sequence),
        1 => vec(asn(), 1..5).prop_map(AsSegment::Set),
    ];
    (vec(confed, 0..2), vec(plain, 0..4)).prop_map(|(mut head, tail)| {
        head.extend(tail);
        head
    })
}

/// Unknown optional transitive attributes as re-emitted (Partial set), one per code.
pub(crate) fn unknown() -> impl Strategy<Value = Vec<RawAttribute>> {
    proptest::collection::btree_map(19u8..=255, vec(any::<u8>(), 0..12), 0..3).prop_map(
        |map: BTreeMap<u8, Vec<u8>>| {
            map.into_iter()
                .map(|(type_code, value)| RawAttribute {
                    flags: 0xe0,
                    type_code,
                    value,
                })
                .collect()
        },
    )
}

/// IPv6 reachability.
pub(crate) fn mp_reach() -> impl Strategy<Value = MpReach> {
    (
        any::<u128>(),
        proptest::option::of(any::<u128>()),
        vec(net6(), 0..12),
    )
        .prop_map(|(hop, link_local, nlri)| MpReach {
            next_hop: Ipv6Addr::from(hop),
            link_local: link_local.map(Ipv6Addr::from),
            nlri,
        })
}

/// An UPDATE that parses back to itself under `ctx`.
pub(crate) fn update(ctx: ParseCtx) -> impl Strategy<Value = Update> {
    let attrs = (
        (
            proptest::option::of(prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ]),
            as_path(),
            proptest::option::of(next_hop()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
        ),
        (
            proptest::option::of((asn(), any::<u32>())),
            vec(any::<u32>(), 0..5),
            proptest::option::of(any::<u32>()),
            vec(any::<u32>(), 0..4),
            proptest::option::of(mp_reach()),
            vec(net6(), 0..8),
            unknown(),
        ),
    );
    (vec(net4(), 0..20), attrs, vec(net4(), 0..40)).prop_map(move |(withdrawn, (a, b), nlri)| {
        let (origin, as_path, next_hop, med, local_pref, atomic_aggregate) = a;
        let (aggregator, communities, originator, clusters, mp_reach, mp_unreach, unknown) = b;
        let reach = !nlri.is_empty() || mp_reach.is_some();
        let attrs = PathAttributes {
            // RFC 7606 §3 (d): reachability needs ORIGIN (and NEXT_HOP for IPv4).
            origin: if reach {
                origin.or(Some(Origin::Igp))
            } else {
                origin
            },
            as_path,
            next_hop: if nlri.is_empty() {
                next_hop
            } else {
                next_hop.or(Some(Ipv4Addr::new(192, 0, 2, 1)))
            },
            med,
            // RFC 4271 §5.1.5: LOCAL_PREF exists on internal sessions only.
            local_pref: local_pref.filter(|_| ctx.internal),
            atomic_aggregate,
            aggregator: aggregator.map(|(asn, address)| Aggregator {
                asn,
                address: Ipv4Addr::from(address),
            }),
            communities,
            originator_id: originator.map(Ipv4Addr::from),
            cluster_list: clusters.into_iter().map(Ipv4Addr::from).collect(),
            mp_reach,
            mp_unreach,
            unknown,
        };
        Update {
            withdrawn,
            attrs,
            nlri,
            treat_as_withdraw: None,
            discarded: Vec::new(),
        }
    })
}

fn capability() -> impl Strategy<Value = Capability> {
    let family = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| (Afi::from(a), Safi::from(s)));
    prop_oneof![
        family
            .clone()
            .prop_map(|(a, s)| Capability::Multiprotocol(a, s)),
        Just(Capability::RouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            (any::<bool>(), any::<bool>()),
            0u16..4096,
            vec((family, any::<bool>()), 0..4)
        )
            .prop_map(|((restarting, notification), restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restarting,
                    notification,
                    restart_time,
                    families: families.into_iter().map(|((a, s), f)| (a, s, f)).collect(),
                })
            }),
        (
            any::<u8>().prop_filter("known codes parse as known", |c| ![1, 2, 64, 65]
                .contains(c)),
            vec(any::<u8>(), 0..16)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

/// An OPEN that parses back to itself.
pub(crate) fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        vec(capability(), 0..40),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

/// Any message that parses back to itself under `ctx`.
pub(crate) fn message(ctx: ParseCtx) -> impl Strategy<Value = Message> {
    prop_oneof![
        1 => open().prop_map(Message::Open),
        4 => update(ctx).prop_map(Message::Update),
        1 => (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64)).prop_map(|(code, subcode, data)| {
            Message::Notification(Notification {
                code,
                subcode,
                data,
            })
        }),
        1 => Just(Message::Keepalive),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Message::RouteRefresh(RouteRefresh {
            afi: Afi::from(a),
            safi: Safi::from(s),
        })),
    ]
}
