//! zettabgp plumbing shared by the differential tests: a session context and whole
//! messages in and out of zettabgp.

use std::net::Ipv4Addr;

use bgp::wire::ParseCtx;
use zettabgp::prelude::*;

/// A zettabgp session matching `ctx` (IPv4 transport, no ADD-PATH guessing).
pub(crate) fn session(ctx: &ParseCtx) -> BgpSessionParams {
    let mut params = BgpSessionParams::new(
        65001,
        90,
        BgpTransportMode::IPv4,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![],
    );
    params.has_as32bit = ctx.four_octet_as;
    params.fuzzy_pathid = false;
    params
}

/// Decodes one whole message with zettabgp: (type, body decoder input).
pub(crate) fn zetta_body<'a>(
    params: &BgpSessionParams,
    bytes: &'a [u8],
) -> (BgpMessageType, &'a [u8]) {
    let (kind, len) = params.decode_message_head(bytes).expect("zettabgp header");
    assert_eq!(len + 19, bytes.len());
    (kind, &bytes[19..])
}

/// Encodes one message with zettabgp, header included.
pub(crate) fn zetta_encode(
    params: &BgpSessionParams,
    kind: BgpMessageType,
    msg: &impl BgpMessage,
) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let len = msg
        .encode_to(params, &mut buf[19..])
        .expect("zettabgp encode");
    let total = params
        .prepare_message_buf(&mut buf, kind, len)
        .expect("zettabgp header");
    buf.truncate(total);
    buf
}
