//! OPEN message and capabilities (RFC 4271 §4.2, RFC 5492, RFC 9072 extended optional
//! parameters on input):
//!
//! ```text
//!  +---------+---------+---------+---------+------------+----------------------+
//!  | Version | My AS   | Hold    | BGP Id  | Opt Parm   | Optional Parameters  |
//!  | (1)     | (2)     | Time(2) | (4)     | Len (1)    | (type 2 = capability)|
//!  +---------+---------+---------+---------+------------+----------------------+
//! ```
//!
//! Known capabilities with a malformed value are kept as [`Capability::Unknown`], so a
//! peer's odd encoding never ends the session by itself; the session decides what it
//! needs. Emitting packs all capabilities into as few parameters as fit 255 octets.

use std::net::Ipv4Addr;

use super::error::open;
use super::types::{Afi, Capability, GracefulRestart, Open, ParseError, Safi};

const PARAM_CAPABILITIES: u8 = 2;
const EXTENDED_PARAMS: u8 = 255;

const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_GRACEFUL_RESTART: u8 = 64;
const CAP_FOUR_OCTET_AS: u8 = 65;

const GR_RESTART_STATE: u16 = 0x8000;
/// RFC 8538 §2: the N bit, 0x4 in the four Restart Flags.
const GR_NOTIFICATION: u16 = 0x4000;
const GR_TIME_MASK: u16 = 0x0fff;
const GR_FORWARDING_STATE: u8 = 0x80;

/// Parses an OPEN body (after the header).
pub(super) fn parse(body: &[u8]) -> Result<Open, ParseError> {
    // NOTE(index): the header check guarantees at least 10 octets.
    let version = body[0];
    if version != 4 {
        return Err(ParseError::open(
            open::UNSUPPORTED_VERSION_NUMBER,
            &4u16.to_be_bytes(),
            "unsupported BGP version",
        ));
    }
    let my_as = u16::from_be_bytes([body[1], body[2]]);
    let hold_time = u16::from_be_bytes([body[3], body[4]]);
    if hold_time == 1 || hold_time == 2 {
        return Err(ParseError::open(
            open::UNACCEPTABLE_HOLD_TIME,
            &[],
            "hold time must be 0 or at least 3 seconds",
        ));
    }
    let bgp_id = Ipv4Addr::new(body[5], body[6], body[7], body[8]);
    if bgp_id.is_unspecified() {
        return Err(ParseError::open(
            open::BAD_BGP_IDENTIFIER,
            &[],
            "BGP identifier is zero",
        ));
    }
    let opt_len = usize::from(body[9]);
    let rest = &body[10..];
    let mut capabilities = Vec::new();
    if opt_len == 255 && rest.first() == Some(&EXTENDED_PARAMS) {
        // RFC 9072: non-extended length 255, type 255, then a 2-octet length.
        let [_, hi, lo, params @ ..] = rest else {
            return Err(bad_params("extended optional parameters truncated"));
        };
        if usize::from(u16::from_be_bytes([*hi, *lo])) != params.len() {
            return Err(bad_params("optional parameters length mismatch"));
        }
        parse_params(params, true, &mut capabilities)?;
    } else {
        if opt_len != rest.len() {
            return Err(bad_params("optional parameters length mismatch"));
        }
        parse_params(rest, false, &mut capabilities)?;
    }
    Ok(Open {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

fn bad_params(reason: &str) -> ParseError {
    ParseError::open(open::UNSPECIFIC, &[], reason)
}

fn parse_params(
    mut rest: &[u8],
    extended: bool,
    caps: &mut Vec<Capability>,
) -> Result<(), ParseError> {
    while !rest.is_empty() {
        let (kind, len, tail) = match (extended, rest) {
            (false, [kind, len, tail @ ..]) => (*kind, usize::from(*len), tail),
            (true, [kind, hi, lo, tail @ ..]) => {
                (*kind, usize::from(u16::from_be_bytes([*hi, *lo])), tail)
            }
            _ => return Err(bad_params("optional parameter header truncated")),
        };
        let (value, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| bad_params("optional parameter overruns its field"))?;
        if kind != PARAM_CAPABILITIES {
            return Err(ParseError::open(
                open::UNSUPPORTED_OPTIONAL_PARAMETER,
                &[],
                "optional parameter other than capabilities",
            ));
        }
        parse_capabilities(value, caps)?;
        rest = tail;
    }
    Ok(())
}

fn parse_capabilities(mut rest: &[u8], caps: &mut Vec<Capability>) -> Result<(), ParseError> {
    while let [code, len, tail @ ..] = rest {
        let (value, tail) = tail
            .split_at_checked(usize::from(*len))
            .ok_or_else(|| bad_params("capability overruns its parameter"))?;
        caps.push(parse_capability(*code, value));
        rest = tail;
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(bad_params("capability header truncated"))
    }
}

fn parse_capability(code: u8, value: &[u8]) -> Capability {
    match (code, value) {
        (CAP_MULTIPROTOCOL, [a, b, _reserved, safi]) => {
            Capability::Multiprotocol(Afi::from(u16::from_be_bytes([*a, *b])), Safi::from(*safi))
        }
        (CAP_ROUTE_REFRESH, []) => Capability::RouteRefresh,
        (CAP_FOUR_OCTET_AS, [a, b, c, d]) => {
            Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        (CAP_GRACEFUL_RESTART, [hi, lo, families @ ..]) if families.len() % 4 == 0 => {
            let head = u16::from_be_bytes([*hi, *lo]);
            Capability::GracefulRestart(GracefulRestart {
                restarting: head & GR_RESTART_STATE != 0,
                notification: head & GR_NOTIFICATION != 0,
                restart_time: head & GR_TIME_MASK,
                families: families
                    .chunks_exact(4)
                    .map(|f| {
                        (
                            Afi::from(u16::from_be_bytes([f[0], f[1]])),
                            Safi::from(f[2]),
                            f[3] & GR_FORWARDING_STATE != 0,
                        )
                    })
                    .collect(),
            })
        }
        _ => Capability::Unknown {
            code,
            value: value.to_vec(),
        },
    }
}

fn emit_capability(cap: &Capability, out: &mut Vec<u8>) {
    match cap {
        Capability::Multiprotocol(afi, safi) => {
            out.extend_from_slice(&[CAP_MULTIPROTOCOL, 4]);
            out.extend_from_slice(&u16::from(*afi).to_be_bytes());
            out.extend_from_slice(&[0, u8::from(*safi)]);
        }
        Capability::RouteRefresh => out.extend_from_slice(&[CAP_ROUTE_REFRESH, 0]),
        Capability::FourOctetAs(asn) => {
            out.extend_from_slice(&[CAP_FOUR_OCTET_AS, 4]);
            out.extend_from_slice(&asn.to_be_bytes());
        }
        Capability::GracefulRestart(gr) => {
            let families: Vec<_> = gr.families.iter().take(63).collect();
            out.extend_from_slice(&[CAP_GRACEFUL_RESTART, (2 + 4 * families.len()) as u8]);
            let mut head = gr.restart_time & GR_TIME_MASK;
            if gr.restarting {
                head |= GR_RESTART_STATE;
            }
            if gr.notification {
                head |= GR_NOTIFICATION;
            }
            out.extend_from_slice(&head.to_be_bytes());
            for (afi, safi, forwarding) in families {
                out.extend_from_slice(&u16::from(*afi).to_be_bytes());
                let flags = if *forwarding { GR_FORWARDING_STATE } else { 0 };
                out.extend_from_slice(&[u8::from(*safi), flags]);
            }
        }
        Capability::Unknown { code, value } => {
            let value = &value[..value.len().min(255)];
            out.extend_from_slice(&[*code, value.len() as u8]);
            out.extend_from_slice(value);
        }
    }
}

/// Appends an OPEN body. Capabilities go into as few Capabilities parameters as fit
/// 255 octets each; when all parameters together exceed 255 octets, the RFC 9072
/// extended encoding carries them in one parameter.
pub(super) fn emit(msg: &Open, out: &mut Vec<u8>) {
    out.push(msg.version);
    out.extend_from_slice(&msg.my_as.to_be_bytes());
    out.extend_from_slice(&msg.hold_time.to_be_bytes());
    out.extend_from_slice(&msg.bgp_id.octets());
    let mut caps = Vec::with_capacity(64);
    let mut encoded = Vec::with_capacity(64);
    let mut params = Vec::with_capacity(64);
    let mut param_start = None;
    for cap in &msg.capabilities {
        encoded.clear();
        emit_capability(cap, &mut encoded);
        caps.extend_from_slice(&encoded);
        let open_param = param_start.filter(|&s| params.len() - s - 2 + encoded.len() <= 255);
        let start = open_param.unwrap_or_else(|| {
            params.extend_from_slice(&[PARAM_CAPABILITIES, 0]);
            params.len() - 2
        });
        param_start = Some(start);
        params.extend_from_slice(&encoded);
        params[start + 1] = (params.len() - start - 2) as u8;
    }
    if let Ok(len) = u8::try_from(params.len()) {
        out.push(len);
        out.extend_from_slice(&params);
    } else {
        // RFC 9072 §2: 255, type 255, 2-octet length, then parameters with 2-octet lengths.
        let caps_len = u16::try_from(caps.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&[255, EXTENDED_PARAMS]);
        out.extend_from_slice(&(caps_len.saturating_add(3)).to_be_bytes());
        out.push(PARAM_CAPABILITIES);
        out.extend_from_slice(&caps_len.to_be_bytes());
        out.extend_from_slice(&caps);
    }
}
