//! Packing many prefixes that share one attribute set into as few UPDATEs as fit
//! [`MAX_MESSAGE_LEN`] octets each: the Adj-RIB-Out's encoder.
//!
//! Invariants: every message appended is a complete UPDATE of at most 4096 octets that
//! [`Message::parse`](super::Message::parse) accepts with the same [`ParseCtx`]; the
//! attribute section is encoded once per call and copied into each message; each message
//! is filled as far as it goes (greedy in input order), so the count is minimal for
//! the given order; work is linear in the number of prefixes, with no allocation per
//! prefix. Each function returns how many messages it appended; 0 for no prefixes, or
//! when the attributes alone leave no room for one prefix.

use ipnet::{Ipv4Net, Ipv6Net};

use super::attribute::emit as emit_attrs;
use super::attribute::{flag, type_code};
use super::header;
use super::nlri;
use super::types::{Afi, MAX_MESSAGE_LEN, MpReach, ParseCtx, PathAttributes, Safi};
use super::update::write_len;

/// Header, withdrawn routes length and total path attribute length.
const FIXED: usize = super::types::HEADER_LEN + 4;

/// Cuts `items` into chunks whose encoded `size`s add up to at most `budget` octets and
/// emits one UPDATE per chunk: `message(chunk, buf)` writes from the withdrawn routes
/// length on. Stops early when a single item does not fit the budget.
fn pack<T>(
    items: &[T],
    size: impl Fn(&T) -> usize,
    budget: usize,
    out: &mut Vec<Vec<u8>>,
    mut message: impl FnMut(&[T], &mut Vec<u8>),
) -> usize {
    let mut count = 0;
    let mut start = 0;
    while start < items.len() {
        let mut used = 0;
        let mut end = start;
        while end < items.len() && used + size(&items[end]) <= budget {
            used += size(&items[end]);
            end += 1;
        }
        if end == start {
            break;
        }
        // Exactly the message's size: a thousand peers each sent one small UPDATE must
        // not hold a thousand 4 KiB buffers while the writers catch up.
        let mut buf = Vec::with_capacity(MAX_MESSAGE_LEN - budget + used);
        let at = header::begin(&mut buf, header::UPDATE);
        message(&items[start..end], &mut buf);
        header::finish(&mut buf, at);
        out.push(buf);
        count += 1;
        start = end;
    }
    count
}

/// Announces IPv4 `nlri` with `attrs` (its `mp_reach`/`mp_unreach` are ignored).
pub fn pack_updates(
    ctx: &ParseCtx,
    attrs: &PathAttributes,
    nlri: &[Ipv4Net],
    out: &mut Vec<Vec<u8>>,
) -> usize {
    let mut section = Vec::with_capacity(256);
    if attrs.mp_reach.is_some() || !attrs.mp_unreach.is_empty() {
        let plain = PathAttributes {
            mp_reach: None,
            mp_unreach: Vec::new(),
            ..attrs.clone()
        };
        emit_attrs::emit(&plain, ctx, true, &mut section);
    } else {
        emit_attrs::emit(attrs, ctx, true, &mut section);
    }
    let budget = MAX_MESSAGE_LEN.saturating_sub(FIXED + section.len());
    pack(nlri, nlri::len_v4, budget, out, |chunk, buf| {
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&u16::try_from(section.len()).unwrap_or(0).to_be_bytes());
        buf.extend_from_slice(&section);
        chunk.iter().for_each(|net| nlri::emit_v4(net, buf));
    })
}

/// Withdraws IPv4 prefixes.
pub fn pack_withdrawals(ctx: &ParseCtx, withdrawn: &[Ipv4Net], out: &mut Vec<Vec<u8>>) -> usize {
    let _ = ctx;
    pack(
        withdrawn,
        nlri::len_v4,
        MAX_MESSAGE_LEN - FIXED,
        out,
        |chunk, buf| {
            let at = buf.len();
            buf.extend_from_slice(&[0, 0]);
            chunk.iter().for_each(|net| nlri::emit_v4(net, buf));
            write_len(buf, at);
            buf.extend_from_slice(&[0, 0]);
        },
    )
}

/// Extended-length MP attribute header: flags, type, 2-octet length.
const MP_HEADER: usize = 4;

/// Announces IPv6 `nlri` in MP_REACH_NLRI with the next hop of `attrs.mp_reach` (its
/// `nlri` is ignored); appends nothing when `attrs.mp_reach` is `None`. IPv4 NLRI is
/// never mixed in; `attrs.next_hop` is still written when set.
pub fn pack_updates_v6(
    ctx: &ParseCtx,
    attrs: &PathAttributes,
    nlri: &[Ipv6Net],
    out: &mut Vec<Vec<u8>>,
) -> usize {
    let Some(reach) = &attrs.mp_reach else {
        return 0;
    };
    let plain = PathAttributes {
        mp_reach: None,
        mp_unreach: Vec::new(),
        ..attrs.clone()
    };
    let mut section = Vec::with_capacity(256);
    emit_attrs::emit(&plain, ctx, true, &mut section);
    let hop_len = if reach.link_local.is_some() { 32 } else { 16 };
    // AFI, SAFI, next hop length, next hop, reserved.
    let mp_fixed = MP_HEADER + 3 + 1 + hop_len + 1;
    let budget = MAX_MESSAGE_LEN.saturating_sub(FIXED + section.len() + mp_fixed);
    pack(nlri, nlri::len_v6, budget, out, |chunk, buf| {
        buf.extend_from_slice(&[0, 0]);
        let attrs_at = buf.len();
        buf.extend_from_slice(&[0, 0]);
        mp_reach_header(buf, reach);
        let mp_len_at = buf.len() - (3 + 1 + hop_len + 1) - 2;
        chunk.iter().for_each(|net| nlri::emit_v6(net, buf));
        write_len(buf, mp_len_at);
        buf.extend_from_slice(&section);
        write_len(buf, attrs_at);
    })
}

/// Writes an extended-length MP_REACH_NLRI header up to the NLRI (length left zero).
fn mp_reach_header(buf: &mut Vec<u8>, reach: &MpReach) {
    buf.extend_from_slice(&[
        flag::OPTIONAL | flag::EXTENDED_LENGTH,
        type_code::MP_REACH_NLRI,
        0,
        0,
    ]);
    buf.extend_from_slice(&u16::from(Afi::Ipv6).to_be_bytes());
    buf.push(u8::from(Safi::Unicast));
    buf.push(if reach.link_local.is_some() { 32 } else { 16 });
    buf.extend_from_slice(&reach.next_hop.octets());
    if let Some(link_local) = reach.link_local {
        buf.extend_from_slice(&link_local.octets());
    }
    buf.push(0);
}

/// Withdraws IPv6 prefixes in MP_UNREACH_NLRI.
pub fn pack_withdrawals_v6(ctx: &ParseCtx, withdrawn: &[Ipv6Net], out: &mut Vec<Vec<u8>>) -> usize {
    let _ = ctx;
    let budget = MAX_MESSAGE_LEN - FIXED - MP_HEADER - 3;
    pack(withdrawn, nlri::len_v6, budget, out, |chunk, buf| {
        buf.extend_from_slice(&[0, 0]);
        let attrs_at = buf.len();
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&[
            flag::OPTIONAL | flag::EXTENDED_LENGTH,
            type_code::MP_UNREACH_NLRI,
            0,
            0,
        ]);
        let mp_len_at = buf.len() - 2;
        buf.extend_from_slice(&u16::from(Afi::Ipv6).to_be_bytes());
        buf.push(u8::from(Safi::Unicast));
        chunk.iter().for_each(|net| nlri::emit_v6(net, buf));
        write_len(buf, mp_len_at);
        write_len(buf, attrs_at);
    })
}
