//! An UPDATE body (after the header) under an arbitrary negotiated context (first byte).
//! The header is built here so every input reaches the UPDATE parser.
#![no_main]

use bgp::wire::{HEADER_LEN, MAX_MESSAGE_LEN};
use libfuzzer_sys::fuzz_target;

mod bgp_wire;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    if body.len() > MAX_MESSAGE_LEN - HEADER_LEN {
        return;
    }
    let mut message = vec![0xff; 16];
    message.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
    message.push(2);
    message.extend_from_slice(body);
    bgp_wire::check(&message, &bgp_wire::ctx_from(first));
});
