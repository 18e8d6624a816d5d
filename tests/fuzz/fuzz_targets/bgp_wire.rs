//! What both BGP targets check on a parsed message: emitting it gives bytes that parse
//! again, and emitting that parse gives the same bytes (the codec's normalisations are
//! applied once, never drift).

use bgp::wire::{MAX_MESSAGE_LEN, Message, ParseCtx};

/// The negotiated context chosen by one input byte.
pub fn ctx_from(byte: u8) -> ParseCtx {
    ParseCtx {
        four_octet_as: byte & 1 != 0,
        internal: byte & 2 != 0,
    }
}

/// Parses `bytes`; when they parse, checks that emitting is a fixed point.
pub fn check(bytes: &[u8], ctx: &ParseCtx) {
    let _ = bgp::wire::frame_len(bytes);
    let _ = bgp::wire::end_of_rib_family(bytes);
    let Ok(message) = Message::parse(bytes, ctx) else {
        return;
    };
    let mut first = Vec::new();
    message.emit(ctx, &mut first);
    if first.len() > MAX_MESSAGE_LEN {
        return;
    }
    let again = match Message::parse(&first, ctx) {
        Ok(again) => again,
        Err(error) => panic!("own output does not parse: {error}\n{message:?}\n{first:02x?}"),
    };
    let mut second = Vec::new();
    again.emit(ctx, &mut second);
    assert_eq!(first, second, "emit is not a fixed point for {message:?}");
}
