//! The benchmark's own minimal BGP-4 encoder and scanner.
//!
//! The feeder, sink and leaf peers speak BGP through this module rather than through the
//! `bgp` crate, so a codec bug in routerd cannot hide itself by being on both ends of the
//! measurement. It covers only what the peers need: OPEN with the IPv4-unicast and
//! 4-octet-AS capabilities, KEEPALIVE, iBGP UPDATEs packed with as many IPv4 prefixes as
//! fit in 4,096 bytes, and a scan of received UPDATEs that reports each prefix.
//!
//! Invariants: scanning never panics on any input; a malformed message is a
//! [`WireError`], after which the caller ends the session.

use std::net::Ipv4Addr;

use crate::prefixes::Prefix;

/// Fixed header: 16-byte marker, 2-byte length, 1-byte type.
pub const HEADER_LEN: usize = 19;
/// Largest message (no RFC 8654 extended messages are negotiated).
pub const MAX_LEN: usize = 4096;
/// Message type codes.
pub const OPEN: u8 = 1;
/// UPDATE type code.
pub const UPDATE: u8 = 2;
/// NOTIFICATION type code.
pub const NOTIFICATION: u8 = 3;
/// KEEPALIVE type code.
pub const KEEPALIVE: u8 = 4;

/// Path attributes of every UPDATE the peers send: ORIGIN IGP, empty AS_PATH,
/// NEXT_HOP, LOCAL_PREF 100 (an iBGP client announcement).
const ATTRS_LEN: usize = 4 + 3 + 7 + 7;

/// A received message that the peers cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The 16-byte marker is not all ones; the stream is out of sync.
    #[error("bad message marker; the session is out of sync and will be closed")]
    Marker,
    /// The length field is outside 19..=4096.
    #[error("bad message length {0}; the session will be closed")]
    Length(usize),
    /// An UPDATE's inner lengths do not add up, or a prefix is longer than 32 bits.
    #[error("malformed UPDATE ({0}); the session will be closed")]
    Update(&'static str),
    /// The peer sent a NOTIFICATION.
    #[error("peer sent NOTIFICATION {code}/{subcode}; the session is closed")]
    Notification {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
}

fn header(out: &mut Vec<u8>, len: usize, kind: u8) {
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.push(kind);
}

/// An OPEN for `asn` (2-octet field plus the 4-octet capability), `hold_secs` and `id`.
pub fn open(asn: u32, hold_secs: u16, id: Ipv4Addr) -> Vec<u8> {
    let caps: [u8; 12] = {
        let a = asn.to_be_bytes();
        [1, 4, 0, 1, 0, 1, 65, 4, a[0], a[1], a[2], a[3]]
    };
    let params_len = 2 + caps.len();
    let len = HEADER_LEN + 10 + params_len;
    let mut out = Vec::with_capacity(len);
    header(&mut out, len, OPEN);
    out.push(4);
    let my_as = u16::try_from(asn).unwrap_or(23456);
    out.extend_from_slice(&my_as.to_be_bytes());
    out.extend_from_slice(&hold_secs.to_be_bytes());
    out.extend_from_slice(&id.octets());
    out.push(params_len as u8);
    out.push(2);
    out.push(caps.len() as u8);
    out.extend_from_slice(&caps);
    out
}

/// A KEEPALIVE.
pub fn keepalive() -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    header(&mut out, HEADER_LEN, KEEPALIVE);
    out
}

fn prefix_len_on_wire(p: &Prefix) -> usize {
    1 + usize::from(p.len).div_ceil(8)
}

fn push_prefix(out: &mut Vec<u8>, p: &Prefix) {
    out.push(p.len);
    let bytes = p.addr.to_be_bytes();
    out.extend_from_slice(&bytes[..usize::from(p.len).div_ceil(8)]);
}

/// Encodes `prefixes` as iBGP UPDATEs with `next_hop`, each filled up to 4,096 bytes,
/// concatenated into one buffer. Returns the buffer and the number of messages.
pub fn pack_updates(prefixes: &[Prefix], next_hop: Ipv4Addr) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(prefixes.len() * 5 + prefixes.len() / 800 * 64 + 64);
    let mut messages = 0;
    let mut rest = prefixes;
    let room = MAX_LEN - HEADER_LEN - 4 - ATTRS_LEN;
    while !rest.is_empty() {
        let mut used = 0;
        let mut take = 0;
        while take < rest.len() && used + prefix_len_on_wire(&rest[take]) <= room {
            used += prefix_len_on_wire(&rest[take]);
            take += 1;
        }
        let len = HEADER_LEN + 4 + ATTRS_LEN + used;
        header(&mut out, len, UPDATE);
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(ATTRS_LEN as u16).to_be_bytes());
        out.extend_from_slice(&[0x40, 1, 1, 0]);
        out.extend_from_slice(&[0x40, 2, 0]);
        out.extend_from_slice(&[0x40, 3, 4]);
        out.extend_from_slice(&next_hop.octets());
        out.extend_from_slice(&[0x40, 5, 4, 0, 0, 0, 100]);
        for p in &rest[..take] {
            push_prefix(&mut out, p);
        }
        rest = &rest[take..];
        messages += 1;
    }
    (out, messages)
}

/// Length of the first complete message in `buf`, `Ok(None)` when more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16].iter().any(|b| *b != 0xff) {
        return Err(WireError::Marker);
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Err(WireError::Length(len));
    }
    Ok((buf.len() >= len).then_some(len))
}

/// The hold time a received OPEN proposes, or `None` when `msg` is not a valid OPEN.
pub fn open_hold_time(msg: &[u8]) -> Option<u16> {
    if msg.len() < HEADER_LEN + 10 || msg[18] != OPEN || msg[19] != 4 {
        return None;
    }
    Some(u16::from_be_bytes([msg[22], msg[23]]))
}

/// The error a NOTIFICATION carries (`msg` must be one complete message).
pub fn notification(msg: &[u8]) -> WireError {
    WireError::Notification {
        code: msg.get(HEADER_LEN).copied().unwrap_or(0),
        subcode: msg.get(HEADER_LEN + 1).copied().unwrap_or(0),
    }
}

fn scan_prefixes(
    mut bytes: &[u8],
    announced: bool,
    f: &mut impl FnMut(Prefix, bool),
) -> Result<(), WireError> {
    while let Some((&len, rest)) = bytes.split_first() {
        if len > 32 {
            return Err(WireError::Update("prefix longer than 32 bits"));
        }
        let n = usize::from(len).div_ceil(8);
        let Some(addr_bytes) = rest.get(..n) else {
            return Err(WireError::Update("prefix runs past the end"));
        };
        let mut octets = [0u8; 4];
        octets[..n].copy_from_slice(addr_bytes);
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        f(
            Prefix {
                addr: u32::from_be_bytes(octets) & mask,
                len,
            },
            announced,
        );
        bytes = &rest[n..];
    }
    Ok(())
}

/// Calls `f(prefix, announced)` for every withdrawn (`false`) and announced (`true`)
/// IPv4 prefix of one complete UPDATE message `msg`.
pub fn scan_update(msg: &[u8], mut f: impl FnMut(Prefix, bool)) -> Result<(), WireError> {
    let body = msg.get(HEADER_LEN..).unwrap_or_default();
    let take_len = |b: &[u8], at: usize| -> Result<usize, WireError> {
        b.get(at..at + 2)
            .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
            .ok_or(WireError::Update("truncated length field"))
    };
    let withdrawn_len = take_len(body, 0)?;
    let withdrawn = body
        .get(2..2 + withdrawn_len)
        .ok_or(WireError::Update("withdrawn routes run past the end"))?;
    scan_prefixes(withdrawn, false, &mut f)?;
    let attrs_at = 2 + withdrawn_len;
    let attrs_len = take_len(body, attrs_at)?;
    let nlri = body
        .get(attrs_at + 2 + attrs_len..)
        .ok_or(WireError::Update("path attributes run past the end"))?;
    scan_prefixes(nlri, true, &mut f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(buf: &[u8]) -> (usize, Vec<Prefix>) {
        let mut rest = buf;
        let mut seen = Vec::new();
        let mut messages = 0;
        while let Some(len) = frame_len(rest).unwrap() {
            assert_eq!(rest[18], UPDATE);
            scan_update(&rest[..len], |p, announced| {
                assert!(announced);
                seen.push(p);
            })
            .unwrap();
            rest = &rest[len..];
            messages += 1;
        }
        assert!(rest.is_empty());
        (messages, seen)
    }

    #[test]
    fn packs_810_host_routes_per_message_and_scans_them_back() {
        let set = crate::prefixes::host_routes(2_000);
        let (buf, messages) = pack_updates(&set, Ipv4Addr::new(198, 18, 0, 11));
        assert_eq!(messages, 3);
        assert_eq!(frame_len(&buf).unwrap(), Some(MAX_LEN - 2));
        let (scanned, seen) = scan_all(&buf);
        assert_eq!(scanned, messages);
        assert_eq!(seen, set);
    }

    #[test]
    fn mixed_lengths_round_trip() {
        let set = crate::prefixes::mixed_routes(5_000);
        let (buf, messages) = pack_updates(&set, Ipv4Addr::new(198, 18, 0, 11));
        let (scanned, seen) = scan_all(&buf);
        assert_eq!(scanned, messages);
        assert_eq!(seen, set);
    }

    #[test]
    fn open_carries_hold_time() {
        let msg = open(65000, 90, Ipv4Addr::new(198, 18, 0, 11));
        assert_eq!(frame_len(&msg).unwrap(), Some(msg.len()));
        assert_eq!(open_hold_time(&msg), Some(90));
        assert_eq!(open_hold_time(&keepalive()), None);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(frame_len(&[0u8; 19]), Err(WireError::Marker));
        let mut bad = keepalive();
        bad[17] = 5;
        assert_eq!(frame_len(&bad), Err(WireError::Length(5)));
        let mut update = Vec::new();
        header(&mut update, HEADER_LEN + 6, UPDATE);
        update.extend_from_slice(&[0, 0, 0, 0, 33, 1]);
        assert!(scan_update(&update, |_, _| {}).is_err());
        for cut in 0..update.len() {
            let _ = scan_update(&update[..cut], |_, _| {});
        }
    }
}
