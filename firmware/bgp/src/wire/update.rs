//! UPDATE message (RFC 4271 §4.3):
//!
//! ```text
//!  +-----------------------------------------------------+
//!  |   Withdrawn Routes Length (2 octets)                |
//!  |   Withdrawn Routes (variable)                       |
//!  |   Total Path Attribute Length (2 octets)            |
//!  |   Path Attributes (variable)                        |
//!  |   Network Layer Reachability Information (variable) |
//!  +-----------------------------------------------------+
//! ```
//!
//! Session reset (RFC 7606 §4 and §5.3): lengths that overrun the message, and prefixes
//! that cannot be parsed in either prefix field. Everything else is handled inside the
//! attribute section (see `attribute::parse`).

use super::attribute::{emit as emit_attrs, parse as parse_attrs};
use super::error::update as subcode;
use super::nlri;
use super::types::{ParseCtx, ParseError, Update};

/// Parses an UPDATE body (at least 4 octets).
pub(super) fn parse(body: &[u8], ctx: &ParseCtx) -> Result<Update, ParseError> {
    let overrun = || {
        ParseError::update(
            subcode::MALFORMED_ATTRIBUTE_LIST,
            &[],
            "withdrawn routes or path attribute length overruns the message",
        )
    };
    let [w_hi, w_lo, rest @ ..] = body else {
        return Err(overrun());
    };
    let (withdrawn, rest) = rest
        .split_at_checked(usize::from(u16::from_be_bytes([*w_hi, *w_lo])))
        .ok_or_else(overrun)?;
    let [a_hi, a_lo, rest @ ..] = rest else {
        return Err(overrun());
    };
    let (section, field) = rest
        .split_at_checked(usize::from(u16::from_be_bytes([*a_hi, *a_lo])))
        .ok_or_else(overrun)?;

    let bad_field = |_| {
        ParseError::update(
            subcode::INVALID_NETWORK_FIELD,
            &[],
            "malformed prefix in withdrawn routes or NLRI",
        )
    };
    let mut update = Update::default();
    nlri::parse_v4(withdrawn, &mut update.withdrawn).map_err(bad_field)?;
    let seen = parse_attrs::parse(section, ctx, &mut update)?;
    nlri::parse_v4(field, &mut update.nlri).map_err(bad_field)?;
    parse_attrs::check_mandatory(&seen, &mut update);
    Ok(update)
}

/// Appends an UPDATE body.
pub(super) fn emit(msg: &Update, ctx: &ParseCtx, out: &mut Vec<u8>) {
    let withdrawn_at = out.len();
    out.extend_from_slice(&[0, 0]);
    msg.withdrawn.iter().for_each(|net| nlri::emit_v4(net, out));
    write_len(out, withdrawn_at);

    let attrs_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let reach = !msg.nlri.is_empty() || msg.attrs.mp_reach.is_some();
    emit_attrs::emit(&msg.attrs, ctx, reach, out);
    write_len(out, attrs_at);

    msg.nlri.iter().for_each(|net| nlri::emit_v4(net, out));
}

/// Writes the length of what follows the 2-octet field at `at`.
pub(super) fn write_len(out: &mut [u8], at: usize) {
    let len = u16::try_from(out.len() - at - 2).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}
