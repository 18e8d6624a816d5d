//! Memory held by a `PrefixMap` of IPv4 prefixes (the Loc-RIB's and Adj-RIB-In's table),
//! measured with a counting allocator, against the hash map of packed prefixes it
//! replaced (`HashMap<u64, V>`).
//!
//! Values are 16 octets, the size of a Loc-RIB entry with one path. Three sets of a
//! million prefixes: consecutive /32s inserted in ascending order, the same in a
//! shuffled order, and a sparse set with one /32 per /24 (every prefix alone in its
//! block, the worst case of the block layout). One test function only: the allocator
//! (`counting/mod.rs`) counts the whole process. `-- --nocapture` prints the figures
//! (`cargo test --release -p bgp --test prefix_map_memory`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use bgp::rib::prefix_hash::PrefixHashBuilder;
use bgp::rib::prefix_map::PrefixMap;
use ipnet::{IpNet, Ipv4Net};

mod counting;
use counting::{live, peak_above, reset_peak};

/// The value stored per prefix: 16 octets, as a Loc-RIB entry.
type Value = [u64; 2];

/// A million prefixes of one of the three kinds.
fn prefixes(kind: &str) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = (0..1_000_000u32)
        .map(|i| {
            let (addr, len) = match kind {
                "sparse" => ((i << 8) | (i & 0xff), 32),
                _ => (0x0a00_0000 + i, 32),
            };
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap())
        })
        .collect();
    if kind == "scrambled" {
        // Fisher-Yates with a fixed xorshift sequence: the same set in another order.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for i in (1..out.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }
    out
}

/// Octets per prefix held by a `PrefixMap`, its peak while building, the build time.
fn prefix_map(prefixes: &[IpNet]) -> (f64, f64, f64) {
    let before = reset_peak();
    let start = Instant::now();
    let mut map: PrefixMap<Value> = PrefixMap::default();
    for (i, p) in prefixes.iter().enumerate() {
        assert!(map.insert(*p, [i as u64; 2]).is_none());
    }
    let took = start.elapsed().as_secs_f64() * 1e3;
    let held = live() - before;
    let peak = peak_above(before);
    assert_eq!(map.len(), prefixes.len());
    for (i, p) in prefixes.iter().enumerate().step_by(997) {
        assert_eq!(map.get(p), Some(&[i as u64; 2]));
    }
    for p in prefixes {
        assert!(map.remove(p).is_some());
    }
    assert!(map.is_empty());
    map.clear();
    assert_eq!(live(), before, "an emptied map gives everything back");
    let n = prefixes.len() as f64;
    (held as f64 / n, peak as f64 / n, took)
}

/// The same for the former representation.
fn hash_map(prefixes: &[IpNet]) -> (f64, f64, f64) {
    let before = reset_peak();
    let start = Instant::now();
    let mut map: HashMap<u64, Value, PrefixHashBuilder> = HashMap::default();
    for (i, p) in prefixes.iter().enumerate() {
        let IpNet::V4(p) = p else { unreachable!() };
        let key = (u64::from(u32::from(p.addr())) << 8) | u64::from(p.prefix_len());
        map.insert(key, [i as u64; 2]);
    }
    let took = start.elapsed().as_secs_f64() * 1e3;
    let held = live() - before;
    let peak = peak_above(before);
    let n = prefixes.len() as f64;
    (held as f64 / n, peak as f64 / n, took)
}

#[test]
fn a_prefix_map_of_neighbours_holds_about_its_values_alone() {
    for kind in ["ascending", "scrambled", "sparse"] {
        let set = prefixes(kind);
        let (old, old_peak, old_took) = hash_map(&set);
        let (new, peak, took) = prefix_map(&set);
        println!(
            "1M {kind}: hash map {old:.1} octets/prefix (peak {old_peak:.1}, {old_took:.0} ms), \
             PrefixMap {new:.1} (peak {peak:.1}, {took:.0} ms)"
        );
        if kind == "sparse" {
            // Every block holds one prefix: one 24-octet table entry, as a packed key was.
            assert!(new <= old * 1.01, "{kind}: {new:.1} against {old:.1}");
        } else {
            // The values (16 octets), block headers and a growing block's slack.
            assert!(new <= 18.0, "{kind}: {new:.1} octets per prefix");
            assert!(
                peak <= 0.5 * old_peak,
                "{kind}: peak {peak:.1} against {old_peak:.1}"
            );
        }
    }
}
