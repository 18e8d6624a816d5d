//! Memory held by a `PrefixSet` of IPv4 /32s, measured with a counting allocator, against
//! the hash set of packed prefixes it replaced (`HashSet<u64>`, 9 octets per bucket).
//!
//! One test function only: the allocator (`counting/mod.rs`) counts the whole process, so nothing else may
//! allocate while a figure is taken. `-- --nocapture` prints the figures and build times
//! (meaningful in release mode: `cargo test --release -p bgp --test prefix_set_memory`).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use bgp::rib::prefix_hash::PrefixHashBuilder;
use bgp::rib::prefix_set::PrefixSet;
use ipnet::{IpNet, Ipv4Net};

mod counting;
use counting::{live, peak_above, reset_peak};

/// The `n` /32s 10.0.0.0, 10.0.0.1, …, in ascending order or in a scrambled one (a
/// multiplication by an odd constant, a bijection modulo 2^24).
fn addrs(n: u32, ascending: bool) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let i = if ascending {
                i
            } else {
                i.wrapping_mul(0x9e37_79b1) & 0x00ff_ffff
            };
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap())
        })
        .collect()
}

/// Octets per prefix held by a `PrefixSet` built from `prefixes`, its peak during the
/// build, and the build time.
fn prefix_set(prefixes: &[IpNet]) -> (f64, f64, f64) {
    let before = reset_peak();
    let start = Instant::now();
    let mut set = PrefixSet::default();
    for p in prefixes {
        assert!(set.insert(*p));
    }
    let took = start.elapsed().as_secs_f64() * 1e3;
    let held = live() - before;
    let peak = peak_above(before);
    assert_eq!(set.len(), prefixes.len());
    let n = prefixes.len() as f64;
    drop(set);
    assert_eq!(live(), before, "a dropped set gives everything back");
    (held as f64 / n, peak as f64 / n, took)
}

/// Octets per prefix held by the former representation, a hash set of packed keys, and
/// its build time.
fn hash_set(prefixes: &[IpNet]) -> (f64, f64) {
    let before = live();
    let start = Instant::now();
    let mut set: HashSet<u64, PrefixHashBuilder> = HashSet::default();
    for p in prefixes {
        let IpNet::V4(p) = p else { unreachable!() };
        set.insert((u64::from(u32::from(p.addr())) << 8) | u64::from(p.prefix_len()));
    }
    let took = start.elapsed().as_secs_f64() * 1e3;
    let held = live() - before;
    assert_eq!(set.len(), prefixes.len());
    (held as f64 / prefixes.len() as f64, took)
}

#[test]
fn a_prefix_set_holds_about_eight_octets_per_ipv4_prefix() {
    for n in [999, 1_000_000] {
        for ascending in [true, false] {
            let prefixes = addrs(n, ascending);
            let (old, old_took) = hash_set(&prefixes);
            let (new, peak, took) = prefix_set(&prefixes);
            println!(
                "{n} /32s, {}: hash set {old:.2} octets/prefix (built in {old_took:.1} ms), \
                 PrefixSet {new:.2} (peak while building {peak:.2}, built in {took:.1} ms)",
                if ascending { "ascending" } else { "scrambled" },
            );
            // At rest: the sorted base (exact after a merge, at most an eighth of slack
            // when appended to), its bucket index (at most 4 octets per 32 keys), and
            // staging sets of at most an eighth of it.
            assert!(new <= 11.0, "{n} /32s: {new:.2} octets per prefix");
            assert!(new <= 0.6 * old, "{n} /32s: {new:.2} against {old:.2}");
        }
    }
    // A set emptied by removals, then cleared, gives its memory back.
    let before = live();
    let prefixes = addrs(10_000, false);
    let mut set = PrefixSet::default();
    for p in &prefixes {
        set.insert(*p);
    }
    for p in &prefixes {
        assert!(set.remove(p));
    }
    assert!(set.is_empty());
    set.clear();
    assert_eq!(live() - before, 10_000 * size_of::<IpNet>() as isize);
}
