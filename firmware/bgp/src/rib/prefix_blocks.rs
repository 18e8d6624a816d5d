//! IPv4 prefix → value, in blocks of up to 256 prefixes of one length.
//!
//! Contract: a map from IPv4 prefixes (host bits ignored) to values, with the cost of a
//! hash map lookup and the memory locality of an array for neighbouring prefixes.
//!
//! A prefix of length `L` is its `L` significant bits; all but the last eight of them,
//! with `L`, name its block (a `u32` key in a keyed hash map, see
//! [`prefix_hash`](crate::rib::prefix_hash)), the last eight its slot in the block. A
//! block with one prefix holds it inline; a fuller one is a 256-bit occupancy map and
//! the values of the occupied slots in slot order, so a slot's value is at the rank of
//! its bit.
//!
//! Why: a table of a million routes is far larger than the CPU caches, and a plain hash
//! map scatters neighbouring prefixes (which UPDATEs carry together, and full tables
//! hold densely) over all of it; here 256 neighbours share a few cache lines and one
//! page. Peers choose prefixes, so blocks are found through the keyed hash; inside a
//! block the worst case is bounded (moving 255 values on an insert or remove).
//! A full block costs the values alone plus 64 octets; a block of one, one table entry
//! of 24 octets (for 16-octet values).

use ipnet::Ipv4Net;

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::rib::prefix_hash::PrefixHashBuilder;

/// Values of a block with more than one prefix, in slot order.
#[derive(Debug, Clone)]
struct Dense<V> {
    occupied: [u64; 4],
    values: Vec<V>,
}

impl<V> Dense<V> {
    fn has(&self, slot: u8) -> bool {
        self.occupied[usize::from(slot >> 6)] & (1 << (slot & 63)) != 0
    }

    /// Position of `slot`'s value: the number of occupied slots below it.
    fn rank(&self, slot: u8) -> usize {
        let word = usize::from(slot >> 6);
        let below: u32 = self.occupied[..word].iter().map(|w| w.count_ones()).sum();
        let mask = (1u64 << (slot & 63)) - 1;
        (below + (self.occupied[word] & mask).count_ones()) as usize
    }

    fn flip(&mut self, slot: u8) {
        self.occupied[usize::from(slot >> 6)] ^= 1 << (slot & 63);
    }

    /// The occupied slots, in order.
    fn slots(&self) -> impl Iterator<Item = u8> {
        occupied_slots(self.occupied)
    }

    fn insert_new(&mut self, slot: u8, value: V) {
        let r = self.rank(slot);
        let len = self.values.len();
        if len == self.values.capacity() {
            // Grow by half (at least 4), never past the 256 slots: a full block wastes
            // nothing, a growing one at most a third.
            self.values.reserve_exact((len / 2).max(4).min(256 - len));
        }
        self.values.insert(r, value);
        self.flip(slot);
    }
}

/// One block with its key: its single prefix inline, or the dense form. 24 octets for
/// 16-octet values (the key sits beside the tag), so a table of lone prefixes costs what
/// a hash map of packed prefixes did.
#[derive(Debug, Clone)]
enum Block<V> {
    One { key: u32, slot: u8, value: V },
    Many { key: u32, dense: Box<Dense<V>> },
}

impl<V> Block<V> {
    fn key(&self) -> u32 {
        match self {
            Block::One { key, .. } | Block::Many { key, .. } => *key,
        }
    }

    /// Every entry of the block, in slot order.
    fn entries(&self) -> impl Iterator<Item = (Ipv4Net, &V)> {
        let (one, many) = match self {
            Block::One { key, slot, value } => (Some((prefix_at(*key, *slot), value)), None),
            Block::Many { key, dense } => {
                let key = *key;
                let it = dense
                    .slots()
                    .zip(&dense.values)
                    .map(move |(s, v)| (prefix_at(key, s), v));
                (None, Some(it))
            }
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// Every entry of the block, values mutable.
    fn entries_mut(&mut self) -> impl Iterator<Item = (Ipv4Net, &mut V)> {
        let (one, many) = match self {
            Block::One { key, slot, value } => (Some((prefix_at(*key, *slot), value)), None),
            Block::Many { key, dense } => {
                let (key, occupied) = (*key, dense.occupied);
                let it = occupied_slots(occupied)
                    .zip(dense.values.iter_mut())
                    .map(move |(s, v)| (prefix_at(key, s), v));
                (None, Some(it))
            }
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// Every entry of the block, by value.
    fn into_entries(self) -> impl Iterator<Item = (Ipv4Net, V)> {
        let (one, many) = match self {
            Block::One { key, slot, value } => (Some((prefix_at(key, slot), value)), None),
            Block::Many { key, dense } => {
                let Dense { occupied, values } = *dense;
                let it = occupied_slots(occupied)
                    .zip(values)
                    .map(move |(s, v)| (prefix_at(key, s), v));
                (None, Some(it))
            }
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// The set slots of an occupancy map, in order.
fn occupied_slots(occupied: [u64; 4]) -> impl Iterator<Item = u8> {
    (0..=255u8).filter(move |&s| occupied[usize::from(s >> 6)] & (1 << (s & 63)) != 0)
}

/// Block key and slot of a prefix.
fn locate(p: &Ipv4Net) -> (u32, u8) {
    let len = u32::from(p.prefix_len());
    let bits = u32::from(p.addr()).checked_shr(32 - len).unwrap_or(0);
    ((len << 24) | (bits >> 8), bits as u8)
}

/// The prefix in `slot` of block `key`.
fn prefix_at(key: u32, slot: u8) -> Ipv4Net {
    let len = key >> 24;
    let bits = ((key & 0x00ff_ffff) << 8) | u32::from(slot);
    let addr = bits.checked_shl(32 - len).unwrap_or(0);
    // NOTE(unwrap): keys are only made by `locate` from valid prefixes (length <= 32).
    Ipv4Net::new(addr.into(), len as u8).expect("valid stored prefix")
}

/// IPv4 prefix → value, in blocks of neighbours.
#[derive(Debug, Clone)]
pub struct V4Blocks<V> {
    blocks: HashTable<Block<V>>,
    hasher: PrefixHashBuilder,
    len: usize,
}

impl<V> Default for V4Blocks<V> {
    fn default() -> Self {
        V4Blocks {
            blocks: HashTable::new(),
            hasher: PrefixHashBuilder::default(),
            len: 0,
        }
    }
}

impl<V> V4Blocks<V> {
    fn hash(&self, key: u32) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The value of `prefix`.
    pub fn get(&self, prefix: &Ipv4Net) -> Option<&V> {
        let (key, slot) = locate(prefix);
        match self.blocks.find(self.hash(key), |b| b.key() == key)? {
            Block::One { slot: s, value, .. } => (*s == slot).then_some(value),
            Block::Many { dense, .. } => dense.has(slot).then(|| &dense.values[dense.rank(slot)]),
        }
    }

    /// The value of `prefix`, mutable.
    pub fn get_mut(&mut self, prefix: &Ipv4Net) -> Option<&mut V> {
        let (key, slot) = locate(prefix);
        let hash = self.hash(key);
        match self.blocks.find_mut(hash, |b| b.key() == key)? {
            Block::One { slot: s, value, .. } => (*s == slot).then_some(value),
            Block::Many { dense, .. } => {
                let r = dense.rank(slot);
                if dense.has(slot) {
                    Some(&mut dense.values[r])
                } else {
                    None
                }
            }
        }
    }

    /// Set the value of `prefix`, returning the previous one.
    pub fn insert(&mut self, prefix: &Ipv4Net, value: V) -> Option<V> {
        let (key, slot) = locate(prefix);
        let hash = self.hash(key);
        let hasher = self.hasher;
        let rehash = |b: &Block<V>| hasher.hash_one(b.key());
        let block = match self.blocks.entry(hash, |b| b.key() == key, rehash) {
            Entry::Vacant(e) => {
                e.insert(Block::One { key, slot, value });
                self.len += 1;
                return None;
            }
            Entry::Occupied(e) => e.into_mut(),
        };
        match block {
            Block::One {
                slot: s, value: v, ..
            } if *s == slot => {
                return Some(std::mem::replace(v, value));
            }
            Block::Many { dense, .. } if dense.has(slot) => {
                let r = dense.rank(slot);
                return Some(std::mem::replace(&mut dense.values[r], value));
            }
            Block::Many { dense, .. } => dense.insert_new(slot, value),
            Block::One { .. } => {
                // Two prefixes now: the dense form.
                let dense = Box::new(Dense {
                    occupied: [0; 4],
                    values: Vec::with_capacity(4),
                });
                let old = std::mem::replace(block, Block::Many { key, dense });
                let (
                    Block::One {
                        slot: s, value: v, ..
                    },
                    Block::Many { dense, .. },
                ) = (old, block)
                else {
                    unreachable!("One replaced by Many")
                };
                dense.insert_new(s, v);
                dense.insert_new(slot, value);
            }
        }
        self.len += 1;
        None
    }

    /// Remove `prefix`, returning its value.
    pub fn remove(&mut self, prefix: &Ipv4Net) -> Option<V> {
        let (key, slot) = locate(prefix);
        let hash = self.hash(key);
        let Ok(entry) = self.blocks.find_entry(hash, |b| b.key() == key) else {
            return None;
        };
        let value = match entry.get() {
            Block::One { slot: s, .. } if *s == slot => match entry.remove().0 {
                Block::One { value, .. } => value,
                Block::Many { .. } => unreachable!("the block was One"),
            },
            Block::One { .. } => return None,
            Block::Many { dense, .. } if !dense.has(slot) => return None,
            Block::Many { .. } => {
                let block = entry.into_mut();
                let Block::Many { dense, .. } = block else {
                    unreachable!("matched Many above")
                };
                let v = dense.values.remove(dense.rank(slot));
                dense.flip(slot);
                if dense.values.len() == 1 {
                    // NOTE(unwrap): one bit and one value are left.
                    let last = dense.slots().next().expect("one occupied slot");
                    let only = dense.values.pop().expect("one value");
                    *block = Block::One {
                        key,
                        slot: last,
                        value: only,
                    };
                } else if dense.values.len() * 4 < dense.values.capacity() {
                    dense.values.shrink_to(dense.values.len() * 2);
                }
                v
            }
        };
        self.len -= 1;
        Some(value)
    }

    /// Every entry, neighbours in slot order, blocks in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Net, &V)> {
        self.blocks.iter().flat_map(Block::entries)
    }

    /// Every entry, values mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Ipv4Net, &mut V)> {
        self.blocks.iter_mut().flat_map(Block::entries_mut)
    }

    /// Remove and return every entry.
    pub fn drain(&mut self) -> impl Iterator<Item = (Ipv4Net, V)> + '_ {
        self.len = 0;
        self.blocks.drain().flat_map(Block::into_entries)
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No prefixes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn net(addr: u32, len: u8) -> Ipv4Net {
        Ipv4Net::new(addr.into(), len).unwrap().trunc()
    }

    #[test]
    fn keys_round_trip_for_every_length() {
        for len in 0..=32u8 {
            for addr in [0u32, 0xffff_ffff, 0xc000_0201, 0x0a80_ff00] {
                let p = net(addr, len);
                let (key, slot) = locate(&p);
                assert_eq!(prefix_at(key, slot), p, "{p}");
            }
        }
        // Same bits, different lengths: different blocks.
        assert_ne!(locate(&net(0, 24)).0, locate(&net(0, 25)).0);
    }

    #[test]
    fn a_block_goes_from_one_to_many_and_back() {
        let mut m = V4Blocks::default();
        let a = net(0xc000_0201, 32);
        let b = net(0xc000_0202, 32);
        assert_eq!(m.insert(&a, 1), None);
        assert_eq!(m.insert(&b, 2), None);
        assert_eq!(m.insert(&a, 3), Some(1));
        assert_eq!((m.get(&a), m.get(&b), m.len()), (Some(&3), Some(&2), 2));
        assert_eq!(m.remove(&a), Some(3));
        assert!(matches!(
            m.blocks.iter().next(),
            Some(Block::One {
                slot: 2,
                value: 2,
                ..
            })
        ));
        assert_eq!(m.remove(&a), None);
        assert_eq!(m.remove(&b), Some(2));
        assert!(m.is_empty() && m.blocks.is_empty());
    }

    #[test]
    fn a_full_block_holds_exactly_its_values() {
        let mut m = V4Blocks::default();
        for i in (0..256u32).rev() {
            m.insert(&net(0x0a00_0000 + i, 32), i);
        }
        let Some(Block::Many { dense: d, .. }) = m.blocks.iter().next() else {
            panic!("one dense block")
        };
        assert_eq!((d.values.len(), d.values.capacity()), (256, 256));
        let seen: Vec<u32> = m.iter().map(|(_, v)| *v).collect();
        assert_eq!(seen, (0..256).collect::<Vec<_>>(), "slot order");
    }

    proptest! {
        /// Any sequence of inserts and removes leaves the same content as a `BTreeMap`.
        #[test]
        fn behaves_like_an_ordered_map(
            ops in prop::collection::vec((any::<bool>(), 0u32..4096, 20u8..=32, any::<u16>()), 0..600)
        ) {
            let mut m = V4Blocks::default();
            let mut model = BTreeMap::new();
            for (insert, low, len, value) in ops {
                // Few distinct blocks, so that they fill and empty.
                let p = net(0x0a00_0000 | (low << 4) | u32::from(value & 0xf), len);
                if insert {
                    prop_assert_eq!(m.insert(&p, value), model.insert(p, value));
                } else {
                    prop_assert_eq!(m.remove(&p), model.remove(&p));
                }
                prop_assert_eq!(m.get(&p), model.get(&p));
                prop_assert_eq!(m.len(), model.len());
            }
            let mut all: Vec<(Ipv4Net, u16)> = m.iter().map(|(p, v)| (p, *v)).collect();
            all.sort();
            prop_assert_eq!(&all, &model.iter().map(|(p, v)| (*p, *v)).collect::<Vec<_>>());
            for (_, v) in m.iter_mut() {
                *v = v.wrapping_add(1);
            }
            let mut drained: Vec<(Ipv4Net, u16)> = m.drain().collect();
            drained.sort();
            let bumped: Vec<(Ipv4Net, u16)> =
                model.iter().map(|(p, v)| (*p, v.wrapping_add(1))).collect();
            prop_assert_eq!(drained, bumped);
            prop_assert!(m.is_empty());
        }
    }
}
