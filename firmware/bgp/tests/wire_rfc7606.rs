//! Error handling: which input ends the session with which NOTIFICATION, and which
//! RFC 7606 outcome (treat-as-withdraw, attribute discard) an UPDATE carries instead.
//! Every message here is built by hand from the RFC layouts.

use std::net::Ipv4Addr;

use bgp::wire::error::{code, header, open, update};
use bgp::wire::{
    AS_TRANS, AsSegment, AttrError, Message, ParseCtx, ParseError, PathAttributes, RawAttribute,
    Update, frame_len, type_code,
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

fn notification_of(result: Result<Message, ParseError>) -> (u8, u8) {
    let error = result.expect_err("expected a session-ending error");
    (error.notification.code, error.notification.subcode)
}

#[test]
fn bad_marker_is_connection_not_synchronized() {
    let mut bytes = message(4, &[]);
    bytes[3] = 0;
    assert_eq!(
        notification_of(Message::parse(&bytes, &IBGP4)),
        (code::MESSAGE_HEADER, header::CONNECTION_NOT_SYNCHRONIZED)
    );
    assert!(frame_len(&bytes).is_err());
}

#[test]
fn length_over_4096_is_bad_message_length_with_the_length_as_data() {
    let mut bytes = message(2, &[0; 8]);
    bytes[16..18].copy_from_slice(&4097u16.to_be_bytes());
    let error = frame_len(&bytes).unwrap_err();
    assert_eq!(
        (error.notification.code, error.notification.subcode),
        (code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH)
    );
    assert_eq!(error.notification.data, vec![0x10, 0x01]);
}

#[test]
fn frame_len_waits_for_the_whole_message() {
    let bytes = message(4, &[]);
    assert_eq!(frame_len(&bytes[..10]), Ok(None));
    assert_eq!(frame_len(&bytes[..18]), Ok(None));
    assert_eq!(frame_len(&bytes), Ok(Some(19)));
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes);
    assert_eq!(frame_len(&two), Ok(Some(19)));
}

#[test]
fn unknown_type_is_bad_message_type() {
    let error = Message::parse(&message(9, &[]), &IBGP4).unwrap_err();
    assert_eq!(
        (error.notification.code, error.notification.subcode),
        (code::MESSAGE_HEADER, header::BAD_MESSAGE_TYPE)
    );
    assert_eq!(error.notification.data, vec![9]);
}

#[test]
fn keepalive_with_a_body_is_bad_message_length() {
    assert_eq!(
        notification_of(Message::parse(&message(4, &[0]), &IBGP4)),
        (code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH)
    );
}

#[test]
fn short_open_and_route_refresh_are_bad_message_length() {
    assert_eq!(
        notification_of(Message::parse(&message(1, &[4, 0, 1]), &IBGP4)),
        (code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH)
    );
    assert_eq!(
        notification_of(Message::parse(&message(5, &[0, 1, 0]), &IBGP4)),
        (code::MESSAGE_HEADER, header::BAD_MESSAGE_LENGTH)
    );
}

fn open_body(version: u8, hold: u16, params: &[u8]) -> Vec<u8> {
    let mut body = vec![version, 0xfd, 0xe9];
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&[192, 0, 2, 1, params.len() as u8]);
    body.extend_from_slice(params);
    body
}

#[test]
fn open_version_3_is_unsupported_version_with_version_4_as_data() {
    let error = Message::parse(&message(1, &open_body(3, 90, &[])), &IBGP4).unwrap_err();
    assert_eq!(
        (error.notification.code, error.notification.subcode),
        (code::OPEN_MESSAGE, open::UNSUPPORTED_VERSION_NUMBER)
    );
    assert_eq!(error.notification.data, vec![0, 4]);
}

#[test]
fn open_hold_time_of_two_seconds_is_unacceptable() {
    assert_eq!(
        notification_of(Message::parse(&message(1, &open_body(4, 2, &[])), &IBGP4)),
        (code::OPEN_MESSAGE, open::UNACCEPTABLE_HOLD_TIME)
    );
}

#[test]
fn open_authentication_parameter_is_unsupported_optional_parameter() {
    assert_eq!(
        notification_of(Message::parse(
            &message(1, &open_body(4, 90, &[1, 1, 0])),
            &IBGP4
        )),
        (code::OPEN_MESSAGE, open::UNSUPPORTED_OPTIONAL_PARAMETER)
    );
}

#[test]
fn open_extended_optional_parameters_are_read() {
    // RFC 9072: 255, 255, length 5, then a capabilities parameter with a 2-octet length
    // holding one capability (route refresh).
    let params = [255, 0, 5, 2, 0, 2, 2, 0];
    let mut body = open_body(4, 90, &[]);
    body.pop();
    body.push(255);
    body.extend_from_slice(&params[..]);
    let Message::Open(open) = Message::parse(&message(1, &body), &IBGP4).unwrap() else {
        panic!("expected OPEN");
    };
    assert_eq!(open.capabilities, vec![bgp::wire::Capability::RouteRefresh]);
}

#[test]
fn withdrawn_length_overrun_is_malformed_attribute_list() {
    let bytes = message(2, &[0, 9, 24, 198, 51, 100, 0, 0]);
    assert_eq!(
        notification_of(Message::parse(&bytes, &IBGP4)),
        (code::UPDATE_MESSAGE, update::MALFORMED_ATTRIBUTE_LIST)
    );
}

#[test]
fn nlri_with_prefix_length_33_is_invalid_network_field() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP]);
    let bytes = update_bytes(&attrs, &[33, 1, 2, 3, 4, 5]);
    assert_eq!(
        notification_of(Message::parse(&bytes, &IBGP4)),
        (code::UPDATE_MESSAGE, update::INVALID_NETWORK_FIELD)
    );
}

#[test]
fn truncated_nlri_is_invalid_network_field() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP]);
    let bytes = update_bytes(&attrs, &[24, 203, 0]);
    assert_eq!(
        notification_of(Message::parse(&bytes, &IBGP4)),
        (code::UPDATE_MESSAGE, update::INVALID_NETWORK_FIELD)
    );
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

const MP_UNREACH_V6: &[u8] = &[0x80, 15, 6, 0, 2, 1, 16, 0x20, 0x01];

#[test]
fn duplicate_mp_unreach_is_malformed_attribute_list() {
    let attrs = cat(&[MP_UNREACH_V6, MP_UNREACH_V6]);
    assert_eq!(
        notification_of(Message::parse(&update_bytes(&attrs, &[]), &IBGP4)),
        (code::UPDATE_MESSAGE, update::MALFORMED_ATTRIBUTE_LIST)
    );
}

#[test]
fn truncated_mp_reach_is_optional_attribute_error() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &[0x80, 14, 4, 0, 2, 1, 16]]);
    let error = Message::parse(&update_bytes(&attrs, &[]), &IBGP4).unwrap_err();
    assert_eq!(
        (error.notification.code, error.notification.subcode),
        (code::UPDATE_MESSAGE, update::OPTIONAL_ATTRIBUTE_ERROR)
    );
    assert_eq!(error.notification.data, vec![0x80, 14, 4, 0, 2, 1, 16]);
}

#[test]
fn mp_reach_with_bad_nlri_is_optional_attribute_error() {
    let mp = [
        0x80, 14, 22, 0, 2, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 129,
    ];
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &mp]);
    assert_eq!(
        notification_of(Message::parse(&update_bytes(&attrs, &[]), &IBGP4)),
        (code::UPDATE_MESSAGE, update::OPTIONAL_ATTRIBUTE_ERROR)
    );
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
fn unrecognized_well_known_attribute_ends_the_session() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, NEXT_HOP, &[0x40, 99, 0]]);
    let error = Message::parse(&update_bytes(&attrs, NLRI_ONE), &IBGP4).unwrap_err();
    assert_eq!(
        (error.notification.code, error.notification.subcode),
        (
            code::UPDATE_MESSAGE,
            update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE
        )
    );
    assert_eq!(error.notification.data, vec![0x40, 99, 0]);
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
