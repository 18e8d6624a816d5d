//! Hand-driven BGP endpoints: build OPENs and raw UPDATE bytes (including malformed
//! ones) and bring a session with a speaker to Established.

use std::net::{IpAddr, Ipv4Addr};

use bgp::speaker::ConnId;
use bgp::wire::{Afi, Capability, Message, Open, ParseCtx, Safi};

use super::Net;

/// Context of a raw session: 4-octet AS, iBGP.
pub const RAW_CTX: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};

/// An OPEN as a well-behaved iBGP peer with id `id` would send it.
pub fn raw_open(id: Ipv4Addr, asn: u32, hold_time: u16) -> Open {
    Open {
        version: 4,
        my_as: u16::try_from(asn).unwrap_or(bgp::wire::AS_TRANS),
        hold_time,
        bgp_id: id,
        capabilities: vec![
            Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    }
}

/// Encode one message.
pub fn bytes(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    m.emit(&RAW_CTX, &mut out);
    out
}

/// ORIGIN IGP, empty AS_PATH, NEXT_HOP `nh`, LOCAL_PREF 100, as raw attribute bytes.
pub fn raw_attrs(nh: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4];
    a.extend_from_slice(&nh.octets());
    a.extend_from_slice(&[0x40, 5, 4, 0, 0, 0, 100]);
    a
}

/// An UPDATE from raw attribute bytes and IPv4 NLRI given as (address, length).
pub fn raw_update(attrs: &[u8], nlri: &[(Ipv4Addr, u8)]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    for (addr, len) in nlri {
        body.push(*len);
        body.extend_from_slice(&addr.octets()[..usize::from(len.div_ceil(8))]);
    }
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&body);
    m
}

impl Net {
    /// Connect from `from` to `node`, exchange OPEN and KEEPALIVE, and return the raw
    /// connection (Established on the speaker's side).
    pub fn raw_session(&mut self, from: Ipv4Addr, node: usize) -> ConnId {
        self.raw_session_messages(from, node).0
    }

    /// Like [`Net::raw_session`], also returning every message the speaker sent so far.
    pub fn raw_session_messages(&mut self, from: Ipv4Addr, node: usize) -> (ConnId, Vec<Message>) {
        let c = self.raw_connect(IpAddr::V4(from), node);
        let mut hello = bytes(&Message::Open(raw_open(from, super::AS, 90)));
        hello.extend(bytes(&Message::Keepalive));
        self.raw_send(c, &hello);
        let got = self.raw_take(c, &RAW_CTX);
        assert!(
            matches!(got.first(), Some(Message::Open(_))),
            "speaker sent OPEN first: {got:?}"
        );
        assert!(
            got.contains(&Message::Keepalive),
            "speaker confirmed the OPEN"
        );
        (c, got)
    }
}
