//! The fixed message header (RFC 4271 §4.1):
//!
//! ```text
//!  0                   1                   2                   3
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |                     Marker (16 octets, all ones)              |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |          Length               |      Type     |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Invariant: the header check accepts a header only when the marker is all ones, the length is
//! within the bounds of its type and the type is known; a message body handed to the
//! per-type parsers is therefore never shorter than that type's fixed part.

use super::error::{code, header};
use super::types::{HEADER_LEN, MAX_MESSAGE_LEN, ParseError};

/// Message type OPEN.
pub const OPEN: u8 = 1;
/// Message type UPDATE.
pub const UPDATE: u8 = 2;
/// Message type NOTIFICATION.
pub const NOTIFICATION: u8 = 3;
/// Message type KEEPALIVE.
pub const KEEPALIVE: u8 = 4;
/// Message type ROUTE-REFRESH (RFC 2918).
pub const ROUTE_REFRESH: u8 = 5;

const MARKER: [u8; 16] = [0xff; 16];
const LENGTH_OFFSET: usize = 16;
const TYPE_OFFSET: usize = 18;

/// Reads marker and length: `Ok(None)` when fewer than [`HEADER_LEN`] bytes are there.
pub(super) fn frame(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if head[..LENGTH_OFFSET] != MARKER {
        return Err(ParseError::new(
            code::MESSAGE_HEADER,
            header::CONNECTION_NOT_SYNCHRONIZED,
            Vec::new(),
            "message marker is not all ones",
        ));
    }
    let length = u16::from_be_bytes([head[LENGTH_OFFSET], head[LENGTH_OFFSET + 1]]);
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&usize::from(length)) {
        return Err(ParseError::bad_length(
            length,
            "message length outside 19..=4096",
        ));
    }
    Ok(Some(usize::from(length)))
}

/// Checks the header of one whole message and returns its type.
pub(super) fn check(msg: &[u8]) -> Result<u8, ParseError> {
    let Some(length) = frame(msg)? else {
        return Err(ParseError::bad_length(
            u16::try_from(msg.len()).unwrap_or(0),
            "message shorter than its header",
        ));
    };
    let length16 = u16::try_from(length).unwrap_or(u16::MAX);
    if length != msg.len() {
        return Err(ParseError::bad_length(
            length16,
            "length field differs from the message size",
        ));
    }
    let kind = msg[TYPE_OFFSET];
    let fits = match kind {
        OPEN => length >= HEADER_LEN + 10,
        UPDATE => length >= HEADER_LEN + 4,
        NOTIFICATION => length >= HEADER_LEN + 2,
        KEEPALIVE => length == HEADER_LEN,
        ROUTE_REFRESH => length == HEADER_LEN + 4,
        _ => {
            return Err(ParseError::new(
                code::MESSAGE_HEADER,
                header::BAD_MESSAGE_TYPE,
                vec![kind],
                "unknown message type",
            ));
        }
    };
    if !fits {
        return Err(ParseError::bad_length(
            length16,
            "message length is wrong for its type",
        ));
    }
    Ok(kind)
}

/// Appends a header with a zero length; returns where the message starts for [`finish`].
pub(super) fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, kind]);
    start
}

/// Writes the length of the message that starts at `start` (it ends at `out.len()`).
pub(super) fn finish(out: &mut [u8], start: usize) {
    let length = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start + LENGTH_OFFSET..start + LENGTH_OFFSET + 2].copy_from_slice(&length.to_be_bytes());
}
