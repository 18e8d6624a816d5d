//! Emitting the path attribute section.
//!
//! Order: MP_UNREACH_NLRI and MP_REACH_NLRI first (RFC 7606 §5.1 asks for them first),
//! then the known attributes by type code, then AS4_PATH/AS4_AGGREGATOR (2-octet
//! sessions only, RFC 6793 §4.2.2; AS4_AGGREGATOR also whenever AS4_PATH is sent, so the
//! receiver does not ignore AS4_PATH), then unknown optional transitive attributes with the
//! Partial bit set. Unknown non-transitive attributes are not passed on (RFC 4271 §5),
//! LOCAL_PREF is written on internal sessions only (RFC 4271 §5.1.5), and AS_PATH is
//! always written when the UPDATE carries reachability, even when empty.

use std::net::Ipv4Addr;

use super::type_code::*;
use super::{as_path, flag, is_known};
use crate::wire::nlri;
use crate::wire::types::{AS_TRANS, Afi, Origin, ParseCtx, PathAttributes, Safi};

/// Appends one attribute with `value` written by `write`, choosing the length size.
fn attribute(out: &mut Vec<u8>, flags: u8, code: u8, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[flags | flag::EXTENDED_LENGTH, code, 0, 0]);
    write(out);
    let len = out.len() - start - 4;
    if let Ok(short) = u8::try_from(len) {
        // Fits one octet: drop the Extended Length bit and one length octet.
        out[start] = flags;
        out[start + 2] = short;
        out.remove(start + 3);
    } else {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn family(out: &mut Vec<u8>, afi: Afi, safi: Safi) {
    out.extend_from_slice(&u16::from(afi).to_be_bytes());
    out.push(u8::from(safi));
}

fn address_list(out: &mut Vec<u8>, list: &[Ipv4Addr]) {
    for address in list {
        out.extend_from_slice(&address.octets());
    }
}

const WELL_KNOWN: u8 = flag::TRANSITIVE;
const OPTIONAL: u8 = flag::OPTIONAL;
const OPTIONAL_TRANSITIVE: u8 = flag::OPTIONAL | flag::TRANSITIVE;

/// Appends the attribute section (without its length field). `reach` says whether the
/// UPDATE carries any reachable prefix (IPv4 NLRI or MP_REACH_NLRI).
pub(in crate::wire) fn emit(
    attrs: &PathAttributes,
    ctx: &ParseCtx,
    reach: bool,
    out: &mut Vec<u8>,
) {
    if !attrs.mp_unreach.is_empty() {
        attribute(out, OPTIONAL, MP_UNREACH_NLRI, |out| {
            family(out, Afi::Ipv6, Safi::Unicast);
            attrs
                .mp_unreach
                .iter()
                .for_each(|net| nlri::emit_v6(net, out));
        });
    }
    if let Some(mp) = &attrs.mp_reach {
        attribute(out, OPTIONAL, MP_REACH_NLRI, |out| {
            family(out, Afi::Ipv6, Safi::Unicast);
            out.push(if mp.link_local.is_some() { 32 } else { 16 });
            out.extend_from_slice(&mp.next_hop.octets());
            if let Some(link_local) = mp.link_local {
                out.extend_from_slice(&link_local.octets());
            }
            out.push(0);
            mp.nlri.iter().for_each(|net| nlri::emit_v6(net, out));
        });
    }
    if let Some(origin) = attrs.origin {
        let value = match origin {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        };
        attribute(out, WELL_KNOWN, ORIGIN, |out| out.push(value));
    }
    if reach || !attrs.as_path.is_empty() {
        attribute(out, WELL_KNOWN, AS_PATH, |out| {
            as_path::emit(&attrs.as_path, ctx.four_octet_as, false, out);
        });
    }
    if let Some(hop) = attrs.next_hop {
        attribute(out, WELL_KNOWN, NEXT_HOP, |out| {
            out.extend_from_slice(&hop.octets())
        });
    }
    if let Some(med) = attrs.med {
        attribute(out, OPTIONAL, MULTI_EXIT_DISC, |out| {
            out.extend_from_slice(&med.to_be_bytes())
        });
    }
    if let Some(pref) = attrs.local_pref.filter(|_| ctx.internal) {
        attribute(out, WELL_KNOWN, LOCAL_PREF, |out| {
            out.extend_from_slice(&pref.to_be_bytes())
        });
    }
    if attrs.atomic_aggregate {
        attribute(out, WELL_KNOWN, ATOMIC_AGGREGATE, |_| {});
    }
    // RFC 6793 §4.2.3: a receiver uses AS4_PATH only when AGGREGATOR is absent or holds
    // AS_TRANS, so with a 4-octet path the aggregator always travels in AS4_AGGREGATOR.
    let as4_path = !ctx.four_octet_as && as_path::needs_as4(&attrs.as_path);
    let as4_aggregator = attrs
        .aggregator
        .filter(|a| !ctx.four_octet_as && (as4_path || a.asn > u32::from(u16::MAX)));
    if let Some(aggregator) = attrs.aggregator {
        attribute(out, OPTIONAL_TRANSITIVE, AGGREGATOR, |out| {
            if ctx.four_octet_as {
                out.extend_from_slice(&aggregator.asn.to_be_bytes());
            } else if as4_aggregator.is_some() {
                out.extend_from_slice(&AS_TRANS.to_be_bytes());
            } else {
                let short = u16::try_from(aggregator.asn).unwrap_or(AS_TRANS);
                out.extend_from_slice(&short.to_be_bytes());
            }
            out.extend_from_slice(&aggregator.address.octets());
        });
    }
    if !attrs.communities.is_empty() {
        attribute(out, OPTIONAL_TRANSITIVE, COMMUNITIES, |out| {
            attrs
                .communities
                .iter()
                .for_each(|c| out.extend_from_slice(&c.to_be_bytes()));
        });
    }
    if let Some(originator) = attrs.originator_id {
        attribute(out, OPTIONAL, ORIGINATOR_ID, |out| {
            out.extend_from_slice(&originator.octets())
        });
    }
    if !attrs.cluster_list.is_empty() {
        attribute(out, OPTIONAL, CLUSTER_LIST, |out| {
            address_list(out, &attrs.cluster_list)
        });
    }
    if as4_path {
        attribute(out, OPTIONAL_TRANSITIVE, AS4_PATH, |out| {
            as_path::emit(&attrs.as_path, true, true, out);
        });
    }
    if let Some(aggregator) = as4_aggregator {
        attribute(out, OPTIONAL_TRANSITIVE, AS4_AGGREGATOR, |out| {
            out.extend_from_slice(&aggregator.asn.to_be_bytes());
            out.extend_from_slice(&aggregator.address.octets());
        });
    }
    for raw in &attrs.unknown {
        let transitive = raw.flags & flag::TRANSITIVE != 0;
        if !transitive || raw.flags & flag::OPTIONAL == 0 || is_known(raw.type_code) {
            continue;
        }
        attribute(
            out,
            OPTIONAL_TRANSITIVE | flag::PARTIAL,
            raw.type_code,
            |out| {
                out.extend_from_slice(&raw.value);
            },
        );
    }
}
