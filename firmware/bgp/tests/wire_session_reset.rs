//! Input that ends the session: which NOTIFICATION each malformed message or field
//! produces (RFC 4271 §6, RFC 7606 §4 and §5.3 for what remains session reset).
//! Every message here is built by hand from the RFC layouts.

use bgp::wire::error::{code, header, open, update};
use bgp::wire::{Message, ParseCtx, ParseError, frame_len};

const IBGP4: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
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
fn open_with_zero_bgp_identifier_is_bad_bgp_identifier() {
    let mut body = open_body(4, 90, &[]);
    body[5..9].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        notification_of(Message::parse(&message(1, &body), &IBGP4)),
        (code::OPEN_MESSAGE, open::BAD_BGP_IDENTIFIER)
    );
}

#[test]
fn open_capability_overrunning_its_parameter_is_open_message_error() {
    // Capabilities parameter of 3 octets holding a capability that claims 4.
    assert_eq!(
        notification_of(Message::parse(
            &message(1, &open_body(4, 90, &[2, 3, 65, 4, 0])),
            &IBGP4
        )),
        (code::OPEN_MESSAGE, open::UNSPECIFIC)
    );
}

#[test]
fn mp_reach_with_wrong_flags_is_optional_attribute_error() {
    let attrs = cat(&[ORIGIN_IGP, AS_PATH_EMPTY, &[0xc0, 14, 5, 0, 2, 1, 0, 0]]);
    assert_eq!(
        notification_of(Message::parse(&update_bytes(&attrs, &[]), &IBGP4)),
        (code::UPDATE_MESSAGE, update::OPTIONAL_ATTRIBUTE_ERROR)
    );
}
