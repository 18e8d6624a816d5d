//! IPIP framing (IPv4 in IPv4, protocol 4) with smoltcp's wire types.
//!
//! Pure functions over byte slices: no input makes them panic; malformed packets are
//! refused with `None`.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr};

/// Outer header length (no options).
pub const HEADER_LEN: usize = 20;
/// IP protocol number of IPIP.
pub const PROTOCOL: u8 = 4;
/// Outer TTL, as `ip link add ... type ipip ttl 64`.
const TTL: u8 = 64;

/// Writes `inner` behind an outer IPv4 header from `local` to `remote` into `out`;
/// returns the outer packet's length, or `None` when `inner` is not an IPv4 packet or
/// `out` is too small.
pub fn encapsulate(
    inner: &[u8],
    local: Ipv4Addr,
    remote: Ipv4Addr,
    out: &mut [u8],
) -> Option<usize> {
    if inner.first().map(|b| b >> 4) != Some(4) {
        return None;
    }
    let total = HEADER_LEN + inner.len();
    if total > usize::from(u16::MAX) || out.len() < total {
        return None;
    }
    let repr = Ipv4Repr {
        src_addr: local,
        dst_addr: remote,
        next_header: IpProtocol::Unknown(PROTOCOL),
        payload_len: inner.len(),
        hop_limit: TTL,
    };
    let mut packet = Ipv4Packet::new_unchecked(&mut out[..total]);
    repr.emit(&mut packet, &ChecksumCapabilities::default());
    packet.payload_mut()[..inner.len()].copy_from_slice(inner);
    Some(total)
}

/// A checked outer packet: where it came from and the inner packet it carries.
#[derive(Debug, PartialEq, Eq)]
pub struct Decapsulated<'a> {
    /// Outer source.
    pub source: Ipv4Addr,
    /// Outer destination.
    pub destination: Ipv4Addr,
    /// The inner IPv4 packet.
    pub inner: &'a [u8],
}

/// Checks an outer IPIP packet (version, header checksum, protocol 4, no fragment,
/// lengths) and returns its inner IPv4 packet.
pub fn decapsulate(outer: &[u8]) -> Option<Decapsulated<'_>> {
    let packet = Ipv4Packet::new_checked(outer).ok()?;
    let repr = Ipv4Repr::parse(&packet, &ChecksumCapabilities::default()).ok()?;
    if repr.next_header != IpProtocol::Unknown(PROTOCOL) {
        return None;
    }
    let start = usize::from(packet.header_len());
    let inner = outer.get(start..start + repr.payload_len)?;
    let inner_packet = Ipv4Packet::new_checked(inner).ok()?;
    if inner_packet.version() != 4 || usize::from(inner_packet.total_len()) != inner.len() {
        return None;
    }
    Some(Decapsulated {
        source: repr.src_addr,
        destination: repr.dst_addr,
        inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal inner IPv4 packet (header + 4 payload bytes) with a valid checksum.
    fn inner() -> Vec<u8> {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 2),
            next_header: IpProtocol::Udp,
            payload_len: 4,
            hop_limit: 9,
        };
        let mut buf = vec![0; 24];
        repr.emit(
            &mut Ipv4Packet::new_unchecked(&mut buf[..]),
            &ChecksumCapabilities::default(),
        );
        buf[20..].copy_from_slice(b"ping");
        buf
    }

    #[test]
    fn encapsulate_then_decapsulate_returns_the_inner_packet() {
        let inner = inner();
        let (local, remote) = (
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(198, 51, 100, 2),
        );
        let mut out = [0u8; 100];
        let n = encapsulate(&inner, local, remote, &mut out).unwrap();
        assert_eq!(n, 44);
        assert_eq!(out[9], PROTOCOL);
        let got = decapsulate(&out[..n]).unwrap();
        assert_eq!(
            got,
            Decapsulated {
                source: local,
                destination: remote,
                inner: &inner
            }
        );
    }

    #[test]
    fn refuses_non_ipv4_inner_and_small_buffers() {
        let mut out = [0u8; 30];
        assert_eq!(
            encapsulate(
                &[0x60; 40],
                Ipv4Addr::LOCALHOST,
                Ipv4Addr::LOCALHOST,
                &mut out
            ),
            None
        );
        assert_eq!(
            encapsulate(&inner(), Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, &mut out),
            None
        );
        assert_eq!(
            encapsulate(&[], Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, &mut out),
            None
        );
    }

    #[test]
    fn refuses_corrupted_outer_packets() {
        let inner = inner();
        let mut out = [0u8; 100];
        let n = encapsulate(&inner, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, &mut out).unwrap();
        let mut bad_checksum = out[..n].to_vec();
        bad_checksum[8] ^= 1;
        assert!(decapsulate(&bad_checksum).is_none());
        let mut not_ipip = out[..n].to_vec();
        not_ipip[9] = 17;
        assert!(decapsulate(&not_ipip).is_none());
        assert!(decapsulate(&out[..n - 1]).is_none());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decapsulate(&bytes);
            let mut with_header = bytes.clone();
            if with_header.len() >= 20 {
                with_header[0] = 0x45;
                with_header[9] = PROTOCOL;
                let _ = decapsulate(&with_header);
            }
        }
    }
}
