//! The Adj-RIB-Out packers: every message is a valid UPDATE of at most 4096 octets, the
//! prefixes come back in order with the shared attributes, and no message could have
//! taken the next prefix (so the count is the fewest for the given order).

mod wire_strategies;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::wire::{
    MAX_MESSAGE_LEN, Message, MpReach, Origin, ParseCtx, PathAttributes, RawAttribute, Update,
    pack_updates, pack_updates_v6, pack_withdrawals, pack_withdrawals_v6,
};
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;

const IBGP4: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};

fn host_routes(count: u32) -> Vec<Ipv4Net> {
    (0..count)
        .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap())
        .collect()
}

fn leaf_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        local_pref: Some(100),
        ..PathAttributes::default()
    }
}

fn parse_all(ctx: &ParseCtx, messages: &[Vec<u8>]) -> Vec<Update> {
    messages
        .iter()
        .map(|bytes| {
            assert!(bytes.len() <= MAX_MESSAGE_LEN, "{} octets", bytes.len());
            match Message::parse(bytes, ctx) {
                Ok(Message::Update(update)) => {
                    assert_eq!(update.treat_as_withdraw, None);
                    assert!(update.discarded.is_empty());
                    update
                }
                other => panic!("not an UPDATE: {other:?}"),
            }
        })
        .collect()
}

/// The greedy packing is tight: message `i` plus the first prefix of message `i + 1`
/// would exceed 4096 octets.
fn assert_tight(messages: &[Vec<u8>], next_sizes: impl Iterator<Item = usize>) {
    let all_but_last = &messages[..messages.len().saturating_sub(1)];
    for (message, next) in all_but_last.iter().zip(next_sizes) {
        assert!(
            message.len() + next > MAX_MESSAGE_LEN,
            "message of {} could take {next} more",
            message.len()
        );
    }
}

#[test]
fn one_thousand_host_routes_fill_810_per_update() {
    let nlri = host_routes(1000);
    let mut out = Vec::new();
    assert_eq!(pack_updates(&IBGP4, &leaf_attrs(), &nlri, &mut out), 2);
    let updates = parse_all(&IBGP4, &out);
    assert_eq!(updates[0].nlri.len(), 810);
    assert_eq!(out[0].len(), 19 + 4 + 21 + 810 * 5);
    let back: Vec<Ipv4Net> = updates.iter().flat_map(|u| u.nlri.clone()).collect();
    assert_eq!(back, nlri);
    assert!(updates.iter().all(|u| u.attrs == leaf_attrs()));
}

#[test]
fn withdrawals_fill_814_host_routes_per_update() {
    let nlri = host_routes(2000);
    let mut out = Vec::new();
    assert_eq!(pack_withdrawals(&IBGP4, &nlri, &mut out), 3);
    let updates = parse_all(&IBGP4, &out);
    assert_eq!(updates[0].withdrawn.len(), 814);
    let back: Vec<Ipv4Net> = updates.iter().flat_map(|u| u.withdrawn.clone()).collect();
    assert_eq!(back, nlri);
    assert!(
        updates
            .iter()
            .all(|u| u.nlri.is_empty() && u.attrs == PathAttributes::default())
    );
}

fn v6_hosts(count: u128) -> Vec<Ipv6Net> {
    (0..count)
        .map(|i| Ipv6Net::new(Ipv6Addr::from(0x2001_0db8_u128 << 96 | i), 128).unwrap())
        .collect()
}

#[test]
fn ipv6_updates_carry_the_next_hop_and_every_prefix() {
    let nlri = v6_hosts(700);
    let reach = MpReach {
        next_hop: "2001:db8::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
        nlri: vec![],
    };
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        local_pref: Some(100),
        mp_reach: Some(reach.clone()),
        ..PathAttributes::default()
    };
    let mut out = Vec::new();
    let count = pack_updates_v6(&IBGP4, &attrs, &nlri, &mut out);
    assert_eq!(count, out.len());
    // 4096 - 23 - 14 (ORIGIN, AS_PATH, LOCAL_PREF) - 41 (MP_REACH up to its NLRI) = 4018
    // octets: 236 /128s of 17 octets each per UPDATE.
    assert_eq!(count, 3);
    assert_eq!(out[0].len(), 23 + 14 + 41 + 236 * 17);
    let updates = parse_all(&IBGP4, &out);
    let mut back = Vec::new();
    for update in &updates {
        let got = update.attrs.mp_reach.as_ref().unwrap();
        assert_eq!(
            (got.next_hop, got.link_local),
            (reach.next_hop, reach.link_local)
        );
        assert_eq!(update.attrs.local_pref, Some(100));
        back.extend_from_slice(&got.nlri);
    }
    assert_eq!(back, nlri);
    assert_tight(&out, std::iter::repeat(17));
}

#[test]
fn ipv6_withdrawals_carry_every_prefix() {
    let nlri = v6_hosts(700);
    let mut out = Vec::new();
    assert_eq!(pack_withdrawals_v6(&IBGP4, &nlri, &mut out), 3);
    let back: Vec<Ipv6Net> = parse_all(&IBGP4, &out)
        .into_iter()
        .flat_map(|u| u.attrs.mp_unreach)
        .collect();
    assert_eq!(back, nlri);
    assert_tight(&out, std::iter::repeat(17));
}

#[test]
fn nothing_is_emitted_without_prefixes_next_hop_or_room() {
    let mut out = Vec::new();
    assert_eq!(pack_updates(&IBGP4, &leaf_attrs(), &[], &mut out), 0);
    assert_eq!(
        pack_updates_v6(&IBGP4, &leaf_attrs(), &v6_hosts(3), &mut out),
        0
    );
    let huge = PathAttributes {
        unknown: vec![RawAttribute {
            flags: 0xc0,
            type_code: 99,
            value: vec![0; 4070],
        }],
        ..leaf_attrs()
    };
    assert_eq!(pack_updates(&IBGP4, &huge, &host_routes(3), &mut out), 0);
    assert!(out.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn packed_updates_are_valid_tight_and_complete(
        ctx in wire_strategies::ctx(),
        update in wire_strategies::ctx().prop_flat_map(wire_strategies::update),
        nlri in vec(wire_strategies::net4(), 1..1500),
    ) {
        let mut attrs = update.attrs;
        attrs.mp_reach = None;
        attrs.mp_unreach.clear();
        attrs.origin = Some(Origin::Egp);
        attrs.next_hop = Some(Ipv4Addr::new(198, 51, 100, 1));
        let mut out = Vec::new();
        let count = pack_updates(&ctx, &attrs, &nlri, &mut out);
        prop_assert_eq!(count, out.len());
        let updates = parse_all(&ctx, &out);
        let back: Vec<Ipv4Net> = updates.iter().flat_map(|u| u.nlri.clone()).collect();
        prop_assert_eq!(&back, &nlri);
        let sizes: Vec<usize> = updates
            .iter()
            .skip(1)
            .take(updates.len().saturating_sub(1))
            .map(|u| 1 + usize::from(u.nlri[0].prefix_len()).div_ceil(8))
            .collect();
        assert_tight(&out, sizes.into_iter());
    }
}
