//! Wire codec micro-benchmarks: an UPDATE of 810 /32s (one full 4096-octet message with
//! ORIGIN, AS_PATH, NEXT_HOP and LOCAL_PREF), parsed and emitted; and packing 100,000
//! /32s into UPDATEs as the Adj-RIB-Out does. Run: `cargo bench -p bgp --bench wire`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bgp::wire::{Message, Origin, ParseCtx, PathAttributes, Update, pack_updates};
use criterion::{Criterion, Throughput, criterion_main};
use ipnet::Ipv4Net;

const CTX: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};

fn host_routes(count: u32) -> Vec<Ipv4Net> {
    (0..count)
        .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap())
        .collect()
}

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        local_pref: Some(100),
        ..PathAttributes::default()
    }
}

fn full_update() -> (Update, Vec<u8>) {
    let mut messages = Vec::new();
    pack_updates(&CTX, &attrs(), &host_routes(810), &mut messages);
    assert_eq!(messages.len(), 1, "810 /32s fill exactly one UPDATE");
    let bytes = messages.remove(0);
    let Ok(Message::Update(update)) = Message::parse(&bytes, &CTX) else {
        panic!("packed UPDATE does not parse");
    };
    assert_eq!(update.nlri.len(), 810);
    (update, bytes)
}

fn update_810(c: &mut Criterion) {
    let (update, bytes) = full_update();
    let mut group = c.benchmark_group("update_810_host_routes");
    group.throughput(Throughput::Elements(810));
    group.bench_function("parse", |b| {
        b.iter(|| Message::parse(black_box(&bytes), &CTX).unwrap())
    });
    let message = Message::Update(update);
    let mut out = Vec::with_capacity(4096);
    group.bench_function("emit", |b| {
        b.iter(|| {
            out.clear();
            black_box(&message).emit(&CTX, &mut out);
            out.len()
        })
    });
    group.finish();
}

fn pack_100k(c: &mut Criterion) {
    let nlri = host_routes(100_000);
    let attrs = attrs();
    let mut group = c.benchmark_group("pack_updates");
    group.throughput(Throughput::Elements(nlri.len() as u64));
    group.bench_function("100k_host_routes", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(128);
            pack_updates(&CTX, &attrs, black_box(&nlri), &mut out)
        })
    });
    group.finish();
}

/// The generated group function carries no docs of its own.
mod group {
    #![allow(missing_docs)]
    use super::{pack_100k, update_810};
    criterion::criterion_group!(benches, update_810, pack_100k);
}

criterion_main!(group::benches);
