//! A map from prefixes to values, compact for IPv4.
//!
//! An `IpNet` key takes 18 octets (and pads a map entry to 24); a million IPv4 routes
//! per table make that the bulk of the memory. IPv4 prefixes are kept in blocks of
//! neighbours ([`V4Blocks`]: the key is implied by the position, and neighbours share
//! cache lines), IPv6 prefixes as `Ipv6Net` in a hash map with the keyed
//! [`PrefixHashBuilder`] (peers choose the prefixes). Callers pass prefixes with host
//! bits cleared (IPv4 ignores them, IPv6 stores them as given).
//!
//! [`PrefixHashBuilder`]: crate::rib::prefix_hash::PrefixHashBuilder

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::rib::prefix_blocks::V4Blocks;
use crate::rib::prefix_hash::FastMap;

/// An IPv4 prefix as one integer: address << 8 | length.
pub(super) fn key4(p: &Ipv4Net) -> u64 {
    (u64::from(u32::from(p.addr())) << 8) | u64::from(p.prefix_len())
}

/// The IPv4 prefix of a key made by [`key4`].
pub(super) fn net4(k: u64) -> IpNet {
    let len = (k & 0xff) as u8;
    // NOTE(unwrap): keys are only built by `key4` from valid prefixes (length <= 32).
    IpNet::V4(Ipv4Net::new(((k >> 8) as u32).into(), len).expect("valid stored prefix"))
}

/// Prefix → value, IPv4 and IPv6.
#[derive(Debug)]
pub struct PrefixMap<V> {
    v4: V4Blocks<V>,
    v6: FastMap<Ipv6Net, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: V4Blocks::default(),
            v6: FastMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// The value of `prefix`.
    pub fn get(&self, prefix: &IpNet) -> Option<&V> {
        match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }
    }

    /// The value of `prefix`, mutable.
    pub fn get_mut(&mut self, prefix: &IpNet) -> Option<&mut V> {
        match prefix {
            IpNet::V4(p) => self.v4.get_mut(p),
            IpNet::V6(p) => self.v6.get_mut(p),
        }
    }

    /// Set the value of `prefix`, returning the previous one.
    pub fn insert(&mut self, prefix: IpNet, value: V) -> Option<V> {
        match prefix {
            IpNet::V4(p) => self.v4.insert(&p, value),
            IpNet::V6(p) => self.v6.insert(p, value),
        }
    }

    /// Remove `prefix`, returning its value.
    pub fn remove(&mut self, prefix: &IpNet) -> Option<V> {
        match prefix {
            IpNet::V4(p) => self.v4.remove(p),
            IpNet::V6(p) => self.v6.remove(p),
        }
    }

    /// Every entry, IPv4 first, in no particular order otherwise.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &V)> {
        let v4 = self.v4.iter().map(|(k, v)| (IpNet::V4(k), v));
        let v6 = self.v6.iter().map(|(k, v)| (IpNet::V6(*k), v));
        v4.chain(v6)
    }

    /// Every entry, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (IpNet, &mut V)> {
        let v4 = self.v4.iter_mut().map(|(k, v)| (IpNet::V4(k), v));
        let v6 = self.v6.iter_mut().map(|(k, v)| (IpNet::V6(*k), v));
        v4.chain(v6)
    }

    /// Remove and return every entry; the map keeps its capacity.
    pub fn drain(&mut self) -> impl Iterator<Item = (IpNet, V)> + '_ {
        let v4 = self.v4.drain().map(|(k, v)| (IpNet::V4(k), v));
        let v6 = self.v6.drain().map(|(k, v)| (IpNet::V6(k), v));
        v4.chain(v6)
    }

    /// Remove everything and give the memory back.
    pub fn clear(&mut self) {
        self.v4 = V4Blocks::default();
        self.v6 = FastMap::default();
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// No prefixes.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_round_trip_through_the_keys() {
        let mut m = PrefixMap::default();
        let prefixes: Vec<IpNet> = [
            "0.0.0.0/0",
            "192.0.2.0/24",
            "192.0.2.0/25",
            "255.255.255.255/32",
            "2001:db8::/32",
            "2001:db8::1/128",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for (i, p) in prefixes.iter().enumerate() {
            assert_eq!(m.insert(*p, i), None);
        }
        assert_eq!(m.len(), prefixes.len());
        for (i, p) in prefixes.iter().enumerate() {
            assert_eq!(m.get(p), Some(&i));
        }
        let mut seen: Vec<(IpNet, usize)> = m.iter().map(|(p, v)| (p, *v)).collect();
        seen.sort_by_key(|e| e.1);
        assert_eq!(seen.iter().map(|e| e.0).collect::<Vec<_>>(), prefixes);
        *m.get_mut(&prefixes[1]).unwrap() = 9;
        assert_eq!(m.remove(&prefixes[1]), Some(9));
        assert_eq!(m.get(&prefixes[2]), Some(&2), "/25 is not the /24");
        assert_eq!(m.drain().count(), prefixes.len() - 1);
        assert!(m.is_empty());
    }
}
