//! Decision-process micro-benchmarks: the Loc-RIB choosing among competing paths.
//!
//! 100,000 /32s, each reachable from four route-reflector clients whose attribute sets
//! differ at different steps of RFC 4271 §9.1.2 (LOCAL_PREF, AS_PATH length, MED, and
//! finally the router id). Measured, per prefix:
//! - `learn_4_paths`: the four paths arrive one source after the other (every arrival
//!   runs the decision against the paths already there);
//! - `best_worsens`: the best path's source re-announces with a lower LOCAL_PREF, so
//!   the best path moves to another source;
//! - `best_withdrawn`: the best path is withdrawn and the next one takes over.
//!
//! Forwarding changes are produced (a leaf's setup) and drained after each pass; the
//! tables are built and dropped outside the timing.
//! Run: `cargo bench -p bgp --bench decision`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp::reflect::Role;
use bgp::rib::loc::LocRib;
use bgp::rib::{Attrs, SourceId, SourceInfo};
use bgp::wire::{AsSegment, Origin, PathAttributes};
use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use ipnet::{IpNet, Ipv4Net};

const PREFIXES: u32 = 100_000;

fn prefixes() -> Vec<IpNet> {
    (0..PREFIXES)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap()))
        .collect()
}

/// The attribute set of source `n` (1..=4): each loses to the one before it at a later
/// decision step.
fn attrs(n: u8, local_pref: u32) -> Attrs {
    let as_path_len = if n >= 2 { 3 } else { 2 };
    Arc::new(PathAttributes {
        origin: Some(Origin::Igp),
        as_path: vec![AsSegment::Sequence(
            (0..as_path_len).map(|a| 64_500 + a).collect(),
        )],
        next_hop: Some(Ipv4Addr::new(192, 0, 2, n)),
        med: Some(if n >= 3 { 20 } else { 10 }),
        local_pref: Some(if n == 1 { local_pref + 10 } else { local_pref }),
        ..PathAttributes::default()
    })
}

fn rib_with_sources() -> LocRib {
    let mut rib = LocRib::new(false);
    for n in 1..=4u8 {
        let info = SourceInfo {
            role: Role::Client,
            router_id: Ipv4Addr::new(198, 51, 100, n),
            address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))),
        };
        rib.set_source(SourceId(u32::from(n)), info);
    }
    rib
}

/// A Loc-RIB holding every prefix with all four paths.
fn learned(prefixes: &[IpNet], sets: &[Attrs]) -> LocRib {
    let mut rib = rib_with_sources();
    for (n, a) in sets.iter().enumerate() {
        for p in prefixes {
            rib.update(*p, SourceId(n as u32 + 1), Some(Arc::clone(a)));
        }
    }
    rib.take_changed();
    rib.take_fib();
    rib
}

fn decision(c: &mut Criterion) {
    let prefixes = prefixes();
    let sets: Vec<Attrs> = (1..=4).map(|n| attrs(n, 100)).collect();
    let worse = attrs(1, 50);
    let mut group = c.benchmark_group("decision_100k_prefixes_4_paths");
    group.throughput(Throughput::Elements(u64::from(PREFIXES)));
    group.sample_size(10);
    group.bench_function("learn_4_paths", |b| {
        // The Loc-RIB is returned, so that criterion drops it outside the timing.
        b.iter(|| learned(&prefixes, &sets))
    });
    group.bench_function("best_worsens", |b| {
        b.iter_batched(
            || learned(&prefixes, &sets),
            |mut rib| {
                for p in &prefixes {
                    rib.update(*p, SourceId(1), Some(Arc::clone(&worse)));
                }
                let changed = rib.take_changed();
                assert_eq!(changed.len(), prefixes.len(), "every best path moved");
                black_box(rib.take_fib().len());
                (rib, changed)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("best_withdrawn", |b| {
        b.iter_batched(
            || learned(&prefixes, &sets),
            |mut rib| {
                for p in &prefixes {
                    rib.update(*p, SourceId(1), None);
                }
                let changed = rib.take_changed();
                assert_eq!(changed.len(), prefixes.len(), "every best path moved");
                black_box(rib.take_fib().len());
                (rib, changed)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    // Sanity before timing: source 1 wins on LOCAL_PREF, then source 2 on AS_PATH length.
    let prefixes = prefixes();
    let sets: Vec<Attrs> = (1..=4).map(|n| attrs(n, 100)).collect();
    let mut rib = learned(&prefixes, &sets);
    assert_eq!(rib.best(&prefixes[0]).map(|p| p.source), Some(SourceId(1)));
    rib.update(prefixes[0], SourceId(1), Some(attrs(1, 50)));
    assert_eq!(rib.best(&prefixes[0]).map(|p| p.source), Some(SourceId(2)));
    decision(&mut c);
}

criterion_main!(benches);
