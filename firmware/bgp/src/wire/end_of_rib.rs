//! End-of-RIB markers (RFC 4724 §2): the empty UPDATE for IPv4 unicast, and for any other
//! family an UPDATE holding only an empty MP_UNREACH_NLRI. [`Message::parse`] reads the
//! latter as an empty [`Update`], so the family is told from the bytes here.
//!
//! [`Message::parse`]: super::Message::parse
//! [`Update`]: super::Update

use super::attribute::{flag, type_code};
use super::header;
use super::types::{Afi, HEADER_LEN, Safi};

/// Appends the End-of-RIB marker of `afi`/`safi`.
pub fn emit_end_of_rib(afi: Afi, safi: Safi, out: &mut Vec<u8>) {
    let start = header::begin(out, header::UPDATE);
    if (afi, safi) == (Afi::Ipv4, Safi::Unicast) {
        out.extend_from_slice(&[0, 0, 0, 0]);
    } else {
        out.extend_from_slice(&[0, 0, 0, 6, flag::OPTIONAL, type_code::MP_UNREACH_NLRI, 3]);
        out.extend_from_slice(&u16::from(afi).to_be_bytes());
        out.push(u8::from(safi));
    }
    header::finish(out, start);
}

/// The family whose End-of-RIB marker `message` (one whole message, header included) is,
/// or `None` when it is anything else. Accepts both attribute length encodings.
pub fn end_of_rib_family(message: &[u8]) -> Option<(Afi, Safi)> {
    if header::check(message).ok()? != header::UPDATE {
        return None;
    }
    let family =
        |a: u8, b: u8, safi: u8| Some((Afi::from(u16::from_be_bytes([a, b])), Safi::from(safi)));
    const UNREACH: u8 = type_code::MP_UNREACH_NLRI;
    match message[HEADER_LEN..] {
        [0, 0, 0, 0] => Some((Afi::Ipv4, Safi::Unicast)),
        [0, 0, 0, 6, flags, UNREACH, 3, a, b, safi]
            if flags & flag::EXTENDED_LENGTH == 0 && flags & flag::OPTIONAL != 0 =>
        {
            family(a, b, safi)
        }
        [0, 0, 0, 7, flags, UNREACH, 0, 3, a, b, safi]
            if flags & flag::EXTENDED_LENGTH != 0 && flags & flag::OPTIONAL != 0 =>
        {
            family(a, b, safi)
        }
        _ => None,
    }
}
