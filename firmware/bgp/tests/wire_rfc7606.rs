//! RFC 7606 typed outcomes of UPDATE attribute errors (treat-as-withdraw, attribute
//! discard), duplicate and unknown attributes, and RFC 6793 AS4_PATH handling. Inputs
//! that still end the session are in `wire_session_reset.rs`. Every message here is
//! built by hand from the RFC layouts.

use std::net::Ipv4Addr;

use bgp::wire::{
    AS_TRANS, AsSegment, AttrError, Message, ParseCtx, PathAttributes, RawAttribute, Update,
    type_code,
};

const IBGP4: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};
const EBGP2: ParseCtx = ParseCtx {
    four_octet_as: false,
    internal: false,
};
const EBGP4: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: false,
};

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xff; 16];
    bytes.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(body);
    bytes
}

/// An UPDATE with no withdrawals, the given attribute section and IPv4 NLRI bytes.
fn update_bytes(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const AS_PATH_EMPTY: &[u8] = &[0x40, 2, 0];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI_ONE: &[u8] = &[32, 203, 0, 113, 7];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn parse_update(bytes: &[u8], ctx: &ParseCtx) -> Update {
    match Message::parse(bytes, ctx) {
        Ok(Message::Update(update)) => update,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

#[test]
fn well_formed_update_has_no_error_outcome() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(update.treat_as_withdraw, None);
    assert!(update.discarded.is_empty());
    assert_eq!(update.nlri, vec!["203.0.113.7/32".parse().unwrap()]);
}

#[test]
fn invalid_origin_value_is_treat_as_withdraw() {
    let attrs = cat(&[&[0x40, 1, 1, 3], AS_PATH_EMPTY, NEXT_HOP]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadValue(type_code::ORIGIN))
    );
    assert_eq!(
        update.nlri.len(),
        1,
        "prefixes stay listed so they can be withdrawn"
    );
}

#[test]
fn origin_with_optional_flag_is_treat_as_withdraw() {
    let attrs = cat(&[&[0xc0, 1, 1, 0], AS_PATH_EMPTY, NEXT_HOP]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadFlags(type_code::ORIGIN))
    );
}

#[test]
fn malformed_as_path_is_treat_as_withdraw() {
    // Segment type 7 does not exist; a zero-length segment is malformed too.
    for path in [&[0x40u8, 2, 4, 7, 1, 0, 1][..], &[0x40, 2, 2, 2, 0]] {
        let attrs = cat(&[ORIGIN_IGP, path, NEXT_HOP]);
        let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
        assert_eq!(update.treat_as_withdraw, Some(AttrError::MalformedAsPath));
    }
}

#[test]
fn next_hop_of_wrong_length_or_martian_is_treat_as_withdraw() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &[0x40, 3, 3, 192, 0, 2]]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadLength(type_code::NEXT_HOP))
    );
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &[0x40, 3, 4, 224, 0, 0, 5]]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadValue(type_code::NEXT_HOP))
    );
}

#[test]
fn communities_of_odd_length_are_treat_as_withdraw() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP, &[0xc0, 8, 3, 1, 2, 3]]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadLength(type_code::COMMUNITIES))
    );
}

#[test]
fn cluster_list_of_odd_length_is_treat_as_withdraw() {
    let attrs = cat(&[
        ORIGIN_IGP,
        AS_PATH_EMPTY,
        NEXT_HOP,
        &[0x80, 10, 5, 1, 2, 3, 4, 5],
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadLength(type_code::CLUSTER_LIST))
    );
}

#[test]
fn missing_mandatory_attributes_with_nlri_are_treat_as_withdraw() {
    let cases: [(&[&[u8]], u8); 3] = [
        (&[AS_PATH_EMPTY, NEXT_HOP], type_code::ORIGIN),
        (&[ORIGIN_IGP, NEXT_HOP], type_code::AS_PATH),
        (&[ORIGIN_IGP, AS_PATH_EMPTY], type_code::NEXT_HOP),
    ];
    for (parts, missing) in cases {
        let update = parse_update(&update_bytes(&cat(parts), NLRI_ONE), &IBGP4);
        assert_eq!(update.treat_as_withdraw, Some(AttrError::Missing(missing)));
    }
}

#[test]
fn missing_attributes_without_nlri_are_fine() {
    let update = parse_update(&update_bytes(&[], &[]), &IBGP4);
    assert_eq!(update.treat_as_withdraw, None);
}

#[test]
fn malformed_atomic_aggregate_and_aggregator_are_discarded() {
    let attrs = cat(&[
        ORIGIN_IGP,
        AS_PATH_EMPTY,
        NEXT_HOP,
        &[0x40, 6, 1, 0],
        &[0xc0, 7, 5, 0, 1, 2, 3, 4],
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(update.treat_as_withdraw, None);
    assert_eq!(
        update.discarded,
        vec![
            (
                type_code::ATOMIC_AGGREGATE,
                AttrError::BadLength(type_code::ATOMIC_AGGREGATE)
            ),
            (
                type_code::AGGREGATOR,
                AttrError::BadLength(type_code::AGGREGATOR)
            ),
        ]
    );
    assert!(!update.attrs.atomic_aggregate);
    assert_eq!(update.attrs.aggregator, None);
}

#[test]
fn duplicate_attribute_keeps_the_first_and_discards_the_rest() {
    let med = |v: u8| [0x80, 4, 4, 0, 0, 0, v];
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP, &med(5), &med(9)]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(update.attrs.med, Some(5));
    assert_eq!(
        update.discarded,
        vec![(
            type_code::MULTI_EXIT_DISC,
            AttrError::Duplicate(type_code::MULTI_EXIT_DISC)
        )]
    );
    assert_eq!(update.treat_as_withdraw, None);
}

#[test]
fn mp_reach_with_odd_next_hop_length_is_treat_as_withdraw_with_its_nlri() {
    // Next hop length 4 for IPv6, then one /16.
    let mp = [0x80, 14, 12, 0, 2, 1, 4, 192, 0, 2, 1, 0, 16, 0x20, 0x01];
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &mp]);
    let update = parse_update(&update_bytes(&attrs, &[]), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadLength(type_code::MP_REACH_NLRI))
    );
    let reach = update.attrs.mp_reach.expect("nlri kept for the withdrawal");
    assert_eq!(reach.nlri, vec!["2001::/16".parse().unwrap()]);
}

#[test]
fn attribute_overrunning_the_section_is_treat_as_withdraw() {
    // The section is 3 octets longer than ORIGIN+AS_PATH+NEXT_HOP; a MED header claims 4.
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP, &[0x80, 4, 4]]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadLength(type_code::MULTI_EXIT_DISC))
    );
    assert_eq!(
        update.nlri.len(),
        1,
        "the NLRI is located by the total attribute length"
    );
}

#[test]
fn unknown_transitive_is_passed_on_with_partial_and_non_transitive_is_dropped() {
    let attrs = cat(&[
        ORIGIN_IGP,
        AS_PATH_EMPTY,
        NEXT_HOP,
        &[0xc0, 99, 1, 7],
        &[0x80, 100, 1, 8],
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
    assert_eq!(
        update.attrs.unknown,
        vec![
            RawAttribute {
                flags: 0xc0,
                type_code: 99,
                value: vec![7]
            },
            RawAttribute {
                flags: 0x80,
                type_code: 100,
                value: vec![8]
            },
        ]
    );
    let mut out = Vec::new();
    Message::Update(update).emit(&IBGP4, &mut out);
    let again = parse_update(&out, &IBGP4);
    assert_eq!(
        again.attrs.unknown,
        vec![RawAttribute {
            flags: 0xe0,
            type_code: 99,
            value: vec![7]
        }]
    );
}

#[test]
fn local_pref_from_an_external_peer_is_disregarded_and_never_sent() {
    let attrs = cat(&[
        ORIGIN_IGP,
        AS_PATH_EMPTY,
        NEXT_HOP,
        &[0x40, 5, 4, 0, 0, 0, 200],
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP4);
    assert_eq!(update.attrs.local_pref, None);
    assert_eq!(
        parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4)
            .attrs
            .local_pref,
        Some(200)
    );

    let mut out = Vec::new();
    let with_pref = Update {
        attrs: PathAttributes {
            local_pref: Some(200),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    Message::Update(with_pref).emit(&EBGP4, &mut out);
    assert_eq!(out.len(), 23, "nothing but the empty UPDATE");
}

fn as4_path(asns: &[u32]) -> Vec<u8> {
    let mut value = vec![2, asns.len() as u8];
    asns.iter()
        .for_each(|a| value.extend_from_slice(&a.to_be_bytes()));
    let mut attribute = vec![0xc0, 17, value.len() as u8];
    attribute.extend_from_slice(&value);
    attribute
}

fn as_path2(asns: &[u16]) -> Vec<u8> {
    let mut value = vec![2, asns.len() as u8];
    asns.iter()
        .for_each(|a| value.extend_from_slice(&a.to_be_bytes()));
    let mut attribute = vec![0x40, 2, value.len() as u8];
    attribute.extend_from_slice(&value);
    attribute
}

#[test]
fn as4_path_is_merged_behind_asns_prepended_by_an_old_speaker() {
    // An old speaker (AS 64999) prepended itself to a path that had AS4_PATH [65001, 4200000000].
    let attrs = cat(&[
        ORIGIN_IGP,
        &as_path2(&[64999, 65001, AS_TRANS]),
        NEXT_HOP,
        &as4_path(&[65001, 4_200_000_000]),
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP2);
    assert_eq!(
        update.attrs.as_path,
        vec![
            AsSegment::Sequence(vec![64999]),
            AsSegment::Sequence(vec![65001, 4_200_000_000])
        ]
    );
}

#[test]
fn as4_path_longer_than_as_path_is_ignored() {
    let attrs = cat(&[
        ORIGIN_IGP,
        &as_path2(&[65001]),
        NEXT_HOP,
        &as4_path(&[65001, 4_200_000_000]),
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP2);
    assert_eq!(update.attrs.as_path, vec![AsSegment::Sequence(vec![65001])]);
}

#[test]
fn as4_path_is_ignored_when_aggregator_is_not_as_trans() {
    let attrs = cat(&[
        ORIGIN_IGP,
        &as_path2(&[65001, AS_TRANS]),
        NEXT_HOP,
        &[0xc0, 7, 6, 0xfd, 0xe9, 192, 0, 2, 9],
        &as4_path(&[65001, 4_200_000_000]),
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP2);
    assert_eq!(
        update.attrs.as_path,
        vec![AsSegment::Sequence(vec![65001, u32::from(AS_TRANS)])]
    );
}

#[test]
fn as4_path_from_a_four_octet_speaker_is_ignored() {
    let mut path = vec![0x40, 2, 6, 2, 1];
    path.extend_from_slice(&65001u32.to_be_bytes());
    let attrs = cat(&[ORIGIN_IGP, &path, NEXT_HOP, &as4_path(&[7])]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP4);
    assert_eq!(update.attrs.as_path, vec![AsSegment::Sequence(vec![65001])]);
    assert!(update.discarded.is_empty());
}

#[test]
fn malformed_as4_path_is_discarded() {
    let attrs = cat(&[
        ORIGIN_IGP,
        &as_path2(&[65001]),
        NEXT_HOP,
        &[0xc0, 17, 3, 2, 1, 0],
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP2);
    assert_eq!(
        update.discarded,
        vec![(type_code::AS4_PATH, AttrError::MalformedAsPath)]
    );
    assert_eq!(update.treat_as_withdraw, None);
}

#[test]
fn ipv4_in_mp_reach_is_read_as_plain_nlri() {
    let mp = [
        0x80, 14, 14, 0, 1, 1, 4, 192, 0, 2, 7, 0, 32, 203, 0, 113, 9,
    ];
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &mp]);
    let update = parse_update(&update_bytes(&attrs, &[]), &IBGP4);
    assert_eq!(update.nlri, vec!["203.0.113.9/32".parse().unwrap()]);
    assert_eq!(update.attrs.next_hop, Some(Ipv4Addr::new(192, 0, 2, 7)));
    assert_eq!(update.treat_as_withdraw, None);
}

#[test]
fn prefixes_have_their_host_bits_cleared() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP]);
    let update = parse_update(&update_bytes(&attrs, &[23, 203, 0, 113]), &IBGP4);
    assert_eq!(update.nlri, vec!["203.0.112.0/23".parse().unwrap()]);
}

/// Found by the `bgp_message` fuzz target: a 2-octet aggregator next to a 4-octet path
/// must travel as AS_TRANS plus AS4_AGGREGATOR, or the receiver ignores AS4_PATH.
#[test]
fn two_octet_aggregator_next_to_a_four_octet_path_round_trips() {
    let update = Update {
        attrs: PathAttributes {
            origin: Some(bgp::wire::Origin::Igp),
            as_path: vec![AsSegment::Sequence(vec![67_173_865, 4_200_000_000])],
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            aggregator: Some(bgp::wire::Aggregator {
                asn: 0,
                address: Ipv4Addr::new(192, 0, 2, 9),
            }),
            ..PathAttributes::default()
        },
        nlri: vec!["203.0.113.7/32".parse().unwrap()],
        ..Update::default()
    };
    let mut out = Vec::new();
    Message::Update(update.clone()).emit(&EBGP2, &mut out);
    assert_eq!(Message::parse(&out, &EBGP2), Ok(Message::Update(update)));
}

#[test]
fn med_local_pref_and_originator_id_of_wrong_length_are_treat_as_withdraw() {
    let cases: [(&[u8], u8); 3] = [
        (&[0x80, 4, 3, 0, 0, 1], type_code::MULTI_EXIT_DISC),
        (&[0x40, 5, 5, 0, 0, 0, 0, 1], type_code::LOCAL_PREF),
        (&[0x80, 9, 3, 192, 0, 2], type_code::ORIGINATOR_ID),
    ];
    for (attribute, code) in cases {
        let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP, attribute]);
        let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &IBGP4);
        assert_eq!(update.treat_as_withdraw, Some(AttrError::BadLength(code)));
    }
}

#[test]
fn as4_aggregator_of_wrong_length_is_discarded() {
    let attrs = cat(&[
        ORIGIN_IGP,
        &as_path2(&[65001]),
        NEXT_HOP,
        &[0xc0, 18, 6, 0, 0, 192, 0, 2, 9],
    ]);
    let update = parse_update(&update_bytes(&attrs, NLRI_ONE), &EBGP2);
    assert_eq!(
        update.discarded,
        vec![(
            type_code::AS4_AGGREGATOR,
            AttrError::BadLength(type_code::AS4_AGGREGATOR)
        )]
    );
    assert_eq!(update.treat_as_withdraw, None);
}

#[test]
fn mp_reach_for_another_family_is_ignored() {
    // AFI 25 (L2VPN), SAFI 65 (VPLS): not negotiated here, so not read.
    let mp = [0x80, 14, 11, 0, 25, 65, 4, 192, 0, 2, 1, 0, 8, 1];
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &mp]);
    let update = parse_update(&update_bytes(&attrs, &[]), &IBGP4);
    assert_eq!(update.attrs.mp_reach, None);
    assert!(update.nlri.is_empty());
    assert_eq!(update.treat_as_withdraw, None);
}

/// Found by the `bgp_update` fuzz target: the IPv4 next hop of MP_REACH_NLRI gets the
/// same checks as NEXT_HOP.
#[test]
fn ipv4_mp_reach_with_a_martian_next_hop_is_treat_as_withdraw() {
    let mp = [0x80, 14, 14, 0, 1, 1, 4, 0, 0, 0, 0, 0, 32, 203, 0, 113, 9];
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &mp]);
    let update = parse_update(&update_bytes(&attrs, &[]), &IBGP4);
    assert_eq!(update.attrs.next_hop, None);
    assert_eq!(update.nlri, vec!["203.0.113.9/32".parse().unwrap()]);
    assert_eq!(
        update.treat_as_withdraw,
        Some(AttrError::BadValue(type_code::MP_REACH_NLRI))
    );
}
