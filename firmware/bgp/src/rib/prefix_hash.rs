//! The hasher of the prefix tables: a keyed folded-multiply hash.
//!
//! Prefixes are chosen by peers, so the tables must not be degradable by crafted keys:
//! every [`PrefixHashBuilder`] draws a 64-bit key from the standard library's random
//! source (`RandomState`), and the hash of a key is a chain of 64×64→128-bit multiplies
//! folded to 64 bits, each mixing in the secret. Without the key, a peer cannot tell
//! which prefixes collide. This is the construction of `foldhash`/`ahash`'s fallback:
//! much faster than SipHash on short keys, not a cryptographic PRF (the tables also
//! cap what a peer can insert through max-prefix).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

const MULTIPLIER: u64 = 0x5851_f42d_4c95_7f2d;
const ROUND: u64 = 0x9e37_79b9_7f4a_7c15;

fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Builds [`PrefixHasher`]s sharing one random key.
#[derive(Debug, Clone, Copy)]
pub struct PrefixHashBuilder {
    key: u64,
}

impl Default for PrefixHashBuilder {
    fn default() -> Self {
        PrefixHashBuilder {
            key: RandomState::new().hash_one(ROUND) | 1,
        }
    }
}

impl BuildHasher for PrefixHashBuilder {
    type Hasher = PrefixHasher;

    fn build_hasher(&self) -> PrefixHasher {
        PrefixHasher {
            key: self.key,
            state: self.key,
        }
    }
}

/// One keyed hash computation.
#[derive(Debug, Clone, Copy)]
pub struct PrefixHasher {
    key: u64,
    state: u64,
}

impl PrefixHasher {
    fn mix(&mut self, word: u64) {
        self.state = fold_mul(self.state ^ word, MULTIPLIER ^ self.key).rotate_left(23);
    }
}

impl Hasher for PrefixHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i) | 0x100);
    }

    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i) | (1 << 40));
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    fn finish(&self) -> u64 {
        fold_mul(self.state, self.key ^ ROUND)
    }
}

/// A hash map with the keyed prefix hasher.
pub type FastMap<K, V> = HashMap<K, V, PrefixHashBuilder>;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ipnet::IpNet;

    use super::*;

    #[test]
    fn keys_differ_per_builder_and_hashes_spread() {
        let (a, b) = (PrefixHashBuilder::default(), PrefixHashBuilder::default());
        let p: IpNet = "192.0.2.1/32".parse().unwrap();
        assert_ne!(a.hash_one(p), b.hash_one(p), "a fresh key per table");
        // Consecutive /32s land in different buckets of a 2^16-bucket table.
        let buckets: HashSet<u64> = (0..4096u32)
            .map(|i| {
                let p = IpNet::V4(ipnet::Ipv4Net::new((0xc000_0000 + i).into(), 32).unwrap());
                a.hash_one(p) >> 48
            })
            .collect();
        assert!(buckets.len() > 3500, "{}", buckets.len());
    }
}
