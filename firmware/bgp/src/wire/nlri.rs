//! NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5): a length in bits followed by the
//! fewest octets that hold it.
//!
//! Invariants: parsed prefixes have their host bits cleared (so equal routes compare
//! equal); parsing pushes into the caller's `Vec` and allocates nothing per prefix;
//! emitting writes only the significant octets, with host bits cleared.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// A prefix whose length is too long for its family or whose octets run past the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadPrefix;

fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// Parses a whole field of IPv4 prefixes into `out`.
pub(super) fn parse_v4(field: &[u8], out: &mut Vec<Ipv4Net>) -> Result<(), BadPrefix> {
    out.reserve(field.len() / 5 + 1);
    let mut rest = field;
    while let [len, tail @ ..] = rest {
        let len = *len;
        if len > 32 {
            return Err(BadPrefix);
        }
        let octets = usize::from(len).div_ceil(8);
        let (addr, tail) = tail.split_at_checked(octets).ok_or(BadPrefix)?;
        let mut raw = [0u8; 4];
        raw[..octets].copy_from_slice(addr);
        let addr = Ipv4Addr::from(u32::from_be_bytes(raw) & mask_v4(len));
        out.push(Ipv4Net::new(addr, len).map_err(|_| BadPrefix)?);
        rest = tail;
    }
    Ok(())
}

/// Parses a whole field of IPv6 prefixes into `out`.
pub(super) fn parse_v6(field: &[u8], out: &mut Vec<Ipv6Net>) -> Result<(), BadPrefix> {
    let mut rest = field;
    while let [len, tail @ ..] = rest {
        let len = *len;
        if len > 128 {
            return Err(BadPrefix);
        }
        let octets = usize::from(len).div_ceil(8);
        let (addr, tail) = tail.split_at_checked(octets).ok_or(BadPrefix)?;
        let mut raw = [0u8; 16];
        raw[..octets].copy_from_slice(addr);
        let addr = Ipv6Addr::from(u128::from_be_bytes(raw) & mask_v6(len));
        out.push(Ipv6Net::new(addr, len).map_err(|_| BadPrefix)?);
        rest = tail;
    }
    Ok(())
}

/// Encoded size of an IPv4 prefix.
pub(super) fn len_v4(net: &Ipv4Net) -> usize {
    1 + usize::from(net.prefix_len()).div_ceil(8)
}

/// Encoded size of an IPv6 prefix.
pub(super) fn len_v6(net: &Ipv6Net) -> usize {
    1 + usize::from(net.prefix_len()).div_ceil(8)
}

/// Appends one IPv4 prefix.
pub(super) fn emit_v4(net: &Ipv4Net, out: &mut Vec<u8>) {
    let len = net.prefix_len();
    let raw = (u32::from(net.addr()) & mask_v4(len)).to_be_bytes();
    out.push(len);
    out.extend_from_slice(&raw[..usize::from(len).div_ceil(8)]);
}

/// Appends one IPv6 prefix.
pub(super) fn emit_v6(net: &Ipv6Net, out: &mut Vec<u8>) {
    let len = net.prefix_len();
    let raw = (u128::from(net.addr()) & mask_v6(len)).to_be_bytes();
    out.push(len);
    out.extend_from_slice(&raw[..usize::from(len).div_ceil(8)]);
}
