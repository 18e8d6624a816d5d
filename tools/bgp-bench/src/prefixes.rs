//! The route sets the benchmark announces, and a set that counts distinct prefixes.
//!
//! Every set is deterministic, so the feeder and the sink (separate processes) agree on
//! it without talking. Routes live in 10.0.0.0/8: they are only ever carried by BGP
//! inside the benchmark's namespaces or installed in a namespace's own table.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

/// One IPv4 prefix, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Network address as a big-endian integer.
    pub addr: u32,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Prefix {
    /// A unique integer for the prefix (address and length).
    pub fn key(&self) -> u64 {
        (u64::from(self.addr) << 8) | u64::from(self.len)
    }

    /// The prefix as an `ipnet` value.
    pub fn net(&self) -> ipnet::Ipv4Net {
        ipnet::Ipv4Net::new(Ipv4Addr::from(self.addr), self.len).unwrap_or_default()
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

/// First address of the /32 set.
const HOST_BASE: u32 = u32::from_be_bytes([10, 0, 0, 0]);
/// First address of the mixed set.
const MIXED_BASE: u32 = u32::from_be_bytes([10, 128, 0, 0]);

/// The `i`-th /32 of the host-route set.
pub fn host_route(i: u32) -> Prefix {
    Prefix {
        addr: HOST_BASE + i,
        len: 32,
    }
}

/// `n` consecutive /32s from 10.0.0.0 (at most 2^23, the lower half of 10/8).
pub fn host_routes(n: usize) -> Vec<Prefix> {
    (0..n as u32).map(host_route).collect()
}

/// Index of `p` in the /32 set, when it belongs to the first `n`.
pub fn host_route_index(p: Prefix, n: usize) -> Option<usize> {
    let i = p.addr.checked_sub(HOST_BASE)? as usize;
    (p.len == 32 && i < n).then_some(i)
}

/// `n` prefixes of lengths /24 to /32 from 10.128.0.0: each /24 block holds the full
/// binary tree below it (one /24, two /25s, ... 256 /32s; 511 prefixes), so about half
/// are /32s, a quarter /31s, and every length appears in every UPDATE.
pub fn mixed_routes(n: usize) -> Vec<Prefix> {
    let mut out = Vec::with_capacity(n);
    let mut block = 0u32;
    while out.len() < n {
        for len in 24u8..=32 {
            let step = 1u32 << (32 - u32::from(len));
            for k in 0..(1u32 << (len - 24)) {
                if out.len() == n {
                    return out;
                }
                out.push(Prefix {
                    addr: MIXED_BASE + block * 256 + k * step,
                    len,
                });
            }
        }
        block += 1;
    }
    out
}

/// A multiplicative hasher for `u64` keys (prefix keys are already well spread).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 ^= self.0 >> 32;
    }
}

/// A set of distinct prefixes: announcements add, withdrawals remove.
#[derive(Debug, Default)]
pub struct PrefixSet {
    keys: HashSet<u64, BuildHasherDefault<KeyHasher>>,
}

impl PrefixSet {
    /// An empty set with room for `n` prefixes.
    pub fn with_capacity(n: usize) -> PrefixSet {
        PrefixSet {
            keys: HashSet::with_capacity_and_hasher(n, BuildHasherDefault::default()),
        }
    }

    /// Applies one announcement (`true`) or withdrawal (`false`).
    pub fn apply(&mut self, p: Prefix, announced: bool) {
        if announced {
            self.keys.insert(p.key());
        } else {
            self.keys.remove(&p.key());
        }
    }

    /// Number of distinct prefixes held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no prefix is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_routes_are_distinct_and_indexed() {
        let set = host_routes(1_000);
        assert_eq!(set[0].to_string(), "10.0.0.0/32");
        assert_eq!(set[999].to_string(), "10.0.3.231/32");
        assert_eq!(host_route_index(set[500], 1_000), Some(500));
        assert_eq!(host_route_index(set[500], 500), None);
        assert_eq!(host_route_index(Prefix { addr: 1, len: 32 }, 10), None);
    }

    #[test]
    fn mixed_routes_are_distinct_aligned_and_cover_24_to_32() {
        let set = mixed_routes(2_000);
        let mut distinct = PrefixSet::with_capacity(set.len());
        for p in &set {
            assert!((24..=32).contains(&p.len));
            assert_eq!(p.addr, p.net().network().to_bits(), "{p} has host bits");
            distinct.apply(*p, true);
        }
        assert_eq!(distinct.len(), 2_000);
        assert_eq!(set.iter().filter(|p| p.len == 24).count(), 4);
    }

    #[test]
    fn withdrawals_remove() {
        let mut s = PrefixSet::default();
        s.apply(host_route(1), true);
        s.apply(host_route(1), true);
        s.apply(host_route(2), true);
        s.apply(host_route(1), false);
        assert_eq!(s.len(), 1);
    }
}
