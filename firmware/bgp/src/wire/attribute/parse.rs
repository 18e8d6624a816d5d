//! Parsing the path attribute section of an UPDATE, with the RFC 7606 outcomes:
//! treat-as-withdraw and attribute discard are recorded in the [`Update`]; only the
//! errors that RFC 7606 still resolves by session reset return a [`ParseError`].
//!
//! Call order: [`parse`] runs before the body NLRI is read; [`check_mandatory`] runs
//! after, once it is known whether the UPDATE carries reachability.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::type_code::*;
use super::{OnMalformed, as_path, expected_flags, flag, on_malformed};
use crate::wire::error::update as subcode;
use crate::wire::nlri;
use crate::wire::types::{
    AS_TRANS, Afi, Aggregator, AsSegment, AttrError, MpReach, Origin, ParseCtx, ParseError,
    RawAttribute, Safi, Update,
};

/// Which attributes the section held, for the mandatory-attribute check.
#[derive(Debug, Default)]
pub(in crate::wire) struct Seen {
    codes: [u64; 4],
}

impl Seen {
    fn insert(&mut self, code: u8) -> bool {
        let (word, bit) = (usize::from(code / 64), 1u64 << (code % 64));
        let fresh = self.codes[word] & bit == 0;
        self.codes[word] |= bit;
        fresh
    }

    fn contains(&self, code: u8) -> bool {
        self.codes[usize::from(code / 64)] & (1u64 << (code % 64)) != 0
    }
}

struct Parser<'a> {
    ctx: &'a ParseCtx,
    update: &'a mut Update,
    seen: Seen,
    as_path: Option<Vec<AsSegment>>,
    as4_path: Option<Vec<AsSegment>>,
    as4_aggregator: Option<Aggregator>,
}

/// Parses the attribute section into `update.attrs`; IPv4 routes carried in
/// MP_REACH/MP_UNREACH go to `update.nlri`/`update.withdrawn`.
pub(in crate::wire) fn parse(
    section: &[u8],
    ctx: &ParseCtx,
    update: &mut Update,
) -> Result<Seen, ParseError> {
    let mut parser = Parser {
        ctx,
        update,
        seen: Seen::default(),
        as_path: None,
        as4_path: None,
        as4_aggregator: None,
    };
    let mut rest = section;
    while !rest.is_empty() {
        let Some((one, tail)) = split_attribute(rest) else {
            // RFC 7606 §4: an attribute overrunning the section is treat-as-withdraw;
            // the Total Attribute Length still locates the NLRI.
            let code = rest.get(1).copied().unwrap_or(0);
            parser.withdraw(AttrError::BadLength(code));
            break;
        };
        rest = tail;
        parser.attribute(one.flags, one.code, one.value, one.whole)?;
    }
    parser.finish();
    Ok(parser.seen)
}

/// One attribute as framed on the wire.
struct Framed<'a> {
    flags: u8,
    code: u8,
    value: &'a [u8],
    /// Flags, type, length and value: the data of a NOTIFICATION about it.
    whole: &'a [u8],
}

/// Splits off the first attribute; `None` when it overruns `bytes`.
fn split_attribute(bytes: &[u8]) -> Option<(Framed<'_>, &[u8])> {
    let (flags, code, len, header) = match bytes {
        [flags, code, hi, lo, ..] if flags & flag::EXTENDED_LENGTH != 0 => (
            *flags,
            *code,
            usize::from(u16::from_be_bytes([*hi, *lo])),
            4,
        ),
        [flags, code, len, ..] if flags & flag::EXTENDED_LENGTH == 0 => {
            (*flags, *code, usize::from(*len), 3)
        }
        _ => return None,
    };
    let (whole, rest) = bytes.split_at_checked(header + len)?;
    let value = &whole[header..];
    Some((
        Framed {
            flags,
            code,
            value,
            whole,
        },
        rest,
    ))
}

fn u32_of(value: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes)
}

fn ipv4_of(value: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(value).ok().map(Ipv4Addr::from)
}

/// RFC 4271 §6.3 and RFC 7606 §7.3: a next hop must be able to be a host.
fn is_host(hop: Ipv4Addr) -> bool {
    !(hop.is_unspecified() || hop.is_broadcast() || hop.is_multicast())
}

fn ipv6_of(value: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(value).ok().map(Ipv6Addr::from)
}

impl Parser<'_> {
    fn withdraw(&mut self, reason: AttrError) {
        self.update.treat_as_withdraw.get_or_insert(reason);
    }

    fn malformed(
        &mut self,
        code: u8,
        reason: AttrError,
        attribute: &[u8],
    ) -> Result<(), ParseError> {
        match on_malformed(code) {
            OnMalformed::TreatAsWithdraw => self.withdraw(reason),
            OnMalformed::Discard => self.update.discarded.push((code, reason)),
            OnMalformed::SessionReset => {
                return Err(ParseError::update(
                    subcode::OPTIONAL_ATTRIBUTE_ERROR,
                    attribute,
                    "malformed MP_REACH_NLRI or MP_UNREACH_NLRI",
                ));
            }
        }
        Ok(())
    }

    fn attribute(
        &mut self,
        flags: u8,
        code: u8,
        value: &[u8],
        attribute: &[u8],
    ) -> Result<(), ParseError> {
        if !self.seen.insert(code) {
            // RFC 7606 §3 (g).
            if code == MP_REACH_NLRI || code == MP_UNREACH_NLRI {
                return Err(ParseError::update(
                    subcode::MALFORMED_ATTRIBUTE_LIST,
                    &[],
                    "MP_REACH_NLRI or MP_UNREACH_NLRI appears twice",
                ));
            }
            self.update
                .discarded
                .push((code, AttrError::Duplicate(code)));
            return Ok(());
        }
        let ignored = match code {
            // RFC 4271 §5.1.5 and RFC 7606 §7.5: disregarded from external peers.
            LOCAL_PREF => !self.ctx.internal,
            // RFC 6793 §4.1: a 4-octet speaker ignores them from another.
            AS4_PATH | AS4_AGGREGATOR => self.ctx.four_octet_as,
            _ => false,
        };
        if ignored {
            return Ok(());
        }
        match expected_flags(code) {
            Some(expected) if flags & (flag::OPTIONAL | flag::TRANSITIVE) != expected => {
                return self.malformed(code, AttrError::BadFlags(code), attribute);
            }
            Some(_) => {}
            None => return self.unknown(flags, code, value, attribute),
        }
        if code == MP_REACH_NLRI {
            return self.mp_reach(value, attribute);
        }
        if code == MP_UNREACH_NLRI {
            return self.mp_unreach(value, attribute);
        }
        match self.known(code, value) {
            Ok(()) => Ok(()),
            Err(reason) => self.malformed(code, reason, attribute),
        }
    }

    fn unknown(
        &mut self,
        flags: u8,
        code: u8,
        value: &[u8],
        attribute: &[u8],
    ) -> Result<(), ParseError> {
        if flags & flag::OPTIONAL == 0 {
            return Err(ParseError::update(
                subcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                attribute,
                "unrecognized well-known attribute",
            ));
        }
        self.update.attrs.unknown.push(RawAttribute {
            flags: flags & (flag::OPTIONAL | flag::TRANSITIVE | flag::PARTIAL),
            type_code: code,
            value: value.to_vec(),
        });
        Ok(())
    }

    fn known(&mut self, code: u8, value: &[u8]) -> Result<(), AttrError> {
        let attrs = &mut self.update.attrs;
        let bad_length = AttrError::BadLength(code);
        match code {
            ORIGIN => {
                attrs.origin = Some(match value {
                    [0] => Origin::Igp,
                    [1] => Origin::Egp,
                    [2] => Origin::Incomplete,
                    [_] => return Err(AttrError::BadValue(code)),
                    _ => return Err(bad_length),
                });
            }
            AS_PATH => {
                let path = as_path::parse(value, self.ctx.four_octet_as)
                    .ok_or(AttrError::MalformedAsPath)?;
                self.as_path = Some(path);
            }
            NEXT_HOP => {
                let hop = ipv4_of(value).ok_or(bad_length)?;
                if !is_host(hop) {
                    return Err(AttrError::BadValue(code));
                }
                attrs.next_hop = Some(hop);
            }
            MULTI_EXIT_DISC => attrs.med = Some(u32_of(value).ok_or(bad_length)?),
            LOCAL_PREF => attrs.local_pref = Some(u32_of(value).ok_or(bad_length)?),
            ATOMIC_AGGREGATE => {
                if !value.is_empty() {
                    return Err(bad_length);
                }
                attrs.atomic_aggregate = true;
            }
            AGGREGATOR => {
                let (asn, address) = if self.ctx.four_octet_as {
                    let [a, b, c, d, address @ ..] = value else {
                        return Err(bad_length);
                    };
                    (u32::from_be_bytes([*a, *b, *c, *d]), address)
                } else {
                    let [a, b, address @ ..] = value else {
                        return Err(bad_length);
                    };
                    (u32::from(u16::from_be_bytes([*a, *b])), address)
                };
                let address = ipv4_of(address).ok_or(bad_length)?;
                attrs.aggregator = Some(Aggregator { asn, address });
            }
            COMMUNITIES => {
                if value.is_empty() || !value.len().is_multiple_of(4) {
                    return Err(bad_length);
                }
                attrs.communities = value
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
            }
            ORIGINATOR_ID => attrs.originator_id = Some(ipv4_of(value).ok_or(bad_length)?),
            CLUSTER_LIST => {
                if !value.len().is_multiple_of(4) {
                    return Err(bad_length);
                }
                attrs.cluster_list = value
                    .chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect();
            }
            AS4_PATH => {
                let path = as_path::parse(value, true).ok_or(AttrError::MalformedAsPath)?;
                self.as4_path = Some(as_path::without_confed(path));
            }
            AS4_AGGREGATOR => {
                let [a, b, c, d, address @ ..] = value else {
                    return Err(bad_length);
                };
                self.as4_aggregator = Some(Aggregator {
                    asn: u32::from_be_bytes([*a, *b, *c, *d]),
                    address: ipv4_of(address).ok_or(bad_length)?,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn mp_reset(attribute: &[u8], reason: &str) -> ParseError {
        ParseError::update(subcode::OPTIONAL_ATTRIBUTE_ERROR, attribute, reason)
    }

    /// MP_REACH_NLRI (RFC 4760 §3): AFI (2), SAFI (1), next hop length (1), next hop,
    /// reserved (1), NLRI.
    fn mp_reach(&mut self, value: &[u8], attribute: &[u8]) -> Result<(), ParseError> {
        let [a, b, safi, hop_len, rest @ ..] = value else {
            return Err(Self::mp_reset(attribute, "MP_REACH_NLRI too short"));
        };
        let Some((hop, [_reserved, field @ ..])) = rest.split_at_checked(usize::from(*hop_len))
        else {
            return Err(Self::mp_reset(attribute, "MP_REACH_NLRI next hop overruns"));
        };
        let bad_nlri = |_| Self::mp_reset(attribute, "malformed NLRI in MP_REACH_NLRI");
        match (Afi::from(u16::from_be_bytes([*a, *b])), Safi::from(*safi)) {
            (Afi::Ipv6, Safi::Unicast) => {
                let mut prefixes = Vec::with_capacity(field.len() / 9 + 1);
                nlri::parse_v6(field, &mut prefixes).map_err(bad_nlri)?;
                let (next_hop, link_local) = match hop.len() {
                    16 => (ipv6_of(hop), None),
                    32 => (ipv6_of(&hop[..16]), ipv6_of(&hop[16..])),
                    _ => (None, None),
                };
                if next_hop.is_none() {
                    // RFC 7606 §7.11: the NLRI is still readable, so treat-as-withdraw.
                    self.withdraw(AttrError::BadLength(MP_REACH_NLRI));
                }
                self.update.attrs.mp_reach = Some(MpReach {
                    next_hop: next_hop.unwrap_or(Ipv6Addr::UNSPECIFIED),
                    link_local,
                    nlri: prefixes,
                });
            }
            (Afi::Ipv4, Safi::Unicast) => {
                nlri::parse_v4(field, &mut self.update.nlri).map_err(bad_nlri)?;
                match ipv4_of(hop) {
                    Some(hop) if is_host(hop) => {
                        self.update.attrs.next_hop.get_or_insert(hop);
                    }
                    Some(_) => self.withdraw(AttrError::BadValue(MP_REACH_NLRI)),
                    None => self.withdraw(AttrError::BadLength(MP_REACH_NLRI)),
                }
            }
            // A family that was not negotiated: ignored (RFC 4760 §7).
            _ => {}
        }
        Ok(())
    }

    /// MP_UNREACH_NLRI (RFC 4760 §4): AFI (2), SAFI (1), withdrawn routes.
    fn mp_unreach(&mut self, value: &[u8], attribute: &[u8]) -> Result<(), ParseError> {
        let [a, b, safi, field @ ..] = value else {
            return Err(Self::mp_reset(attribute, "MP_UNREACH_NLRI too short"));
        };
        let bad_nlri = |_| Self::mp_reset(attribute, "malformed NLRI in MP_UNREACH_NLRI");
        match (Afi::from(u16::from_be_bytes([*a, *b])), Safi::from(*safi)) {
            (Afi::Ipv6, Safi::Unicast) => {
                nlri::parse_v6(field, &mut self.update.attrs.mp_unreach).map_err(bad_nlri)?;
            }
            (Afi::Ipv4, Safi::Unicast) => {
                nlri::parse_v4(field, &mut self.update.withdrawn).map_err(bad_nlri)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// RFC 6793 §4.2.3: merge AS4_AGGREGATOR and AS4_PATH on a 2-octet session.
    fn finish(&mut self) {
        let attrs = &mut self.update.attrs;
        let mut as4_path = self.as4_path.take();
        match (attrs.aggregator, self.as4_aggregator) {
            (Some(aggregator), _) if aggregator.asn != u32::from(AS_TRANS) => as4_path = None,
            (Some(_), Some(as4)) => attrs.aggregator = Some(as4),
            _ => {}
        }
        attrs.as_path = match (self.as_path.take(), as4_path) {
            (Some(path), Some(as4)) => as_path::merge(path, as4),
            (Some(path), None) => path,
            (None, _) => Vec::new(),
        };
    }
}

/// RFC 7606 §3 (d): an UPDATE with reachability but without a well-known mandatory
/// attribute is treat-as-withdraw. NEXT_HOP is mandatory only for IPv4 NLRI (RFC 4760).
/// LOCAL_PREF is not required: a missing one takes the default in the decision process.
pub(in crate::wire) fn check_mandatory(seen: &Seen, update: &mut Update) {
    let ipv4 = !update.nlri.is_empty();
    if !ipv4 && update.attrs.mp_reach.is_none() {
        return;
    }
    let missing = if !seen.contains(ORIGIN) || update.attrs.origin.is_none() {
        Some(ORIGIN)
    } else if !seen.contains(AS_PATH) {
        Some(AS_PATH)
    } else if ipv4 && update.attrs.next_hop.is_none() {
        Some(NEXT_HOP)
    } else {
        None
    };
    if let Some(code) = missing {
        update
            .treat_as_withdraw
            .get_or_insert(AttrError::Missing(code));
    }
}
