//! Any bytes as one BGP message; the first byte picks the negotiated context.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod bgp_wire;

fuzz_target!(|data: &[u8]| {
    if let Some((&first, bytes)) = data.split_first() {
        bgp_wire::check(bytes, &bgp_wire::ctx_from(first));
    }
});
