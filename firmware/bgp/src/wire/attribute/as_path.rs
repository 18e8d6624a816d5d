//! AS_PATH and AS4_PATH values (RFC 4271 §4.3, RFC 6793 §4.2.3).
//!
//! ```text
//!  | segment type (1) | segment length in ASNs (1) | ASNs (2 or 4 octets each) | ...
//! ```
//!
//! Invariants: a parsed path has no empty segment (RFC 7606 §7.2 calls that malformed);
//! emitting skips empty segments and splits segments longer than 255 ASNs.

use crate::wire::types::{AS_TRANS, AsSegment};

const SET: u8 = 1;
const SEQUENCE: u8 = 2;
const CONFED_SEQUENCE: u8 = 3;
const CONFED_SET: u8 = 4;

/// Parses a path with 2- or 4-octet ASNs; `None` when malformed.
pub(super) fn parse(mut value: &[u8], four_octet: bool) -> Option<Vec<AsSegment>> {
    let width = if four_octet { 4 } else { 2 };
    let mut path = Vec::new();
    while let [kind, count, rest @ ..] = value {
        if *count == 0 {
            return None;
        }
        let (asns, rest) = rest.split_at_checked(usize::from(*count) * width)?;
        let asns: Vec<u32> = if four_octet {
            asns.chunks_exact(4)
                .map(|a| u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
                .collect()
        } else {
            asns.chunks_exact(2)
                .map(|a| u32::from(u16::from_be_bytes([a[0], a[1]])))
                .collect()
        };
        path.push(match *kind {
            SET => AsSegment::Set(asns),
            SEQUENCE => AsSegment::Sequence(asns),
            CONFED_SEQUENCE => AsSegment::ConfedSequence(asns),
            CONFED_SET => AsSegment::ConfedSet(asns),
            _ => return None,
        });
        value = rest;
    }
    value.is_empty().then_some(path)
}

fn parts(segment: &AsSegment) -> (u8, &[u32]) {
    match segment {
        AsSegment::Set(a) => (SET, a),
        AsSegment::Sequence(a) => (SEQUENCE, a),
        AsSegment::ConfedSequence(a) => (CONFED_SEQUENCE, a),
        AsSegment::ConfedSet(a) => (CONFED_SET, a),
    }
}

fn is_confed(segment: &AsSegment) -> bool {
    matches!(
        segment,
        AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_)
    )
}

/// Appends the value of a path. With `four_octet == false` every ASN above 65535 is
/// written as AS_TRANS; `skip_confed` leaves out confederation segments (AS4_PATH).
pub(super) fn emit(path: &[AsSegment], four_octet: bool, skip_confed: bool, out: &mut Vec<u8>) {
    for segment in path {
        if skip_confed && is_confed(segment) {
            continue;
        }
        let (kind, asns) = parts(segment);
        for chunk in asns.chunks(255) {
            out.extend_from_slice(&[kind, chunk.len() as u8]);
            for &asn in chunk {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let short = u16::try_from(asn).unwrap_or(AS_TRANS);
                    out.extend_from_slice(&short.to_be_bytes());
                }
            }
        }
    }
}

/// Whether a 2-octet session needs AS4_PATH to carry this path.
pub(super) fn needs_as4(path: &[AsSegment]) -> bool {
    path.iter()
        .filter(|s| !is_confed(s))
        .any(|s| parts(s).1.iter().any(|&asn| asn > u32::from(u16::MAX)))
}

/// Path length for RFC 6793 §4.2.3: a set counts one, confederation segments none.
fn path_len(path: &[AsSegment]) -> usize {
    path.iter()
        .map(|s| match s {
            AsSegment::Sequence(a) => a.len(),
            AsSegment::Set(_) => 1,
            AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => 0,
        })
        .sum()
}

/// Drops confederation segments, which AS4_PATH must not carry (RFC 6793 §6).
pub(super) fn without_confed(path: Vec<AsSegment>) -> Vec<AsSegment> {
    path.into_iter().filter(|s| !is_confed(s)).collect()
}

/// RFC 6793 §4.2.3: rebuild the real path from AS_PATH (2-octet, AS_TRANS in places) and
/// AS4_PATH. When AS_PATH is shorter, AS4_PATH is ignored; otherwise the leading ASNs of
/// AS_PATH that AS4_PATH lacks are prepended, after AS_PATH's leading confederation
/// segments.
pub(super) fn merge(as_path: Vec<AsSegment>, as4_path: Vec<AsSegment>) -> Vec<AsSegment> {
    let (len2, len4) = (path_len(&as_path), path_len(&as4_path));
    if len2 < len4 {
        return as_path;
    }
    let mut keep = len2 - len4;
    let mut merged = Vec::with_capacity(as_path.len() + as4_path.len());
    let mut leading = true;
    for segment in as_path {
        match segment {
            // Confederation segments belong in front (RFC 5065 §5.3); one found later
            // cannot be placed relative to AS4_PATH and is dropped.
            AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => {
                if leading {
                    merged.push(segment);
                }
            }
            _ if keep == 0 => break,
            AsSegment::Set(asns) => {
                leading = false;
                keep -= 1;
                merged.push(AsSegment::Set(asns));
            }
            AsSegment::Sequence(mut asns) => {
                leading = false;
                let take = keep.min(asns.len());
                asns.truncate(take);
                keep -= take;
                merged.push(AsSegment::Sequence(asns));
            }
        }
    }
    merged.extend(as4_path);
    merged
}
