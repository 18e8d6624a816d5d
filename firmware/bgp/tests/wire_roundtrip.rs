//! Property tests: `parse(emit(m)) == m` for generated messages under every negotiated
//! context, and `parse` never panics (nor loops) on arbitrary or mutated bytes.

mod wire_strategies;

use bgp::wire::{HEADER_LEN, MAX_MESSAGE_LEN, Message, ParseCtx, frame_len};
use proptest::collection::vec;
use proptest::prelude::*;
use wire_strategies::{ctx, message};

fn ctx_and_message() -> impl Strategy<Value = (ParseCtx, Message)> {
    ctx().prop_flat_map(|ctx| (Just(ctx), message(ctx)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn emitted_messages_parse_back_to_themselves((ctx, msg) in ctx_and_message()) {
        let mut bytes = Vec::new();
        msg.emit(&ctx, &mut bytes);
        prop_assert!(bytes.len() <= MAX_MESSAGE_LEN, "generated message too large");
        prop_assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        prop_assert_eq!(frame_len(&bytes[..bytes.len() - 1]), Ok(None));
        prop_assert_eq!(Message::parse(&bytes, &ctx), Ok(msg));
    }

    #[test]
    fn parse_never_panics_on_random_bytes(ctx in ctx(), bytes in vec(any::<u8>(), 0..600)) {
        let _ = Message::parse(&bytes, &ctx);
        let _ = frame_len(&bytes);
    }

    #[test]
    fn parse_never_panics_on_random_bodies(
        ctx in ctx(),
        kind in 1u8..=5,
        body in vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(&body);
        let _ = Message::parse(&bytes, &ctx);
    }

    #[test]
    fn parse_never_panics_on_mutated_messages(
        (ctx, msg) in ctx_and_message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = Vec::new();
        msg.emit(&ctx, &mut bytes);
        for (at, value) in flips {
            // Leave the header alone half the time so the body parsers are reached.
            let index = at.index(bytes.len());
            if index >= HEADER_LEN || value % 2 == 0 {
                bytes[index] = value;
            }
        }
        let _ = Message::parse(&bytes, &ctx);
    }
}
