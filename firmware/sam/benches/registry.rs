//! Registry micro-benchmarks: enrolling 1,000 leaves (4 owned /32s each) into an empty
//! registry (MAC checks, uniqueness, signing), and admitting 8,000 announced /32s
//! against those claims (half owned, half owned by another leaf).
//! Run: `cargo bench -p sam --bench registry`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use ipnet::Ipv4Net;
use sam::{
    AttemptLimiter, Claim, ClaimSubject, EnrollRequest, JoinToken, LeafId, LogLimiter, Nonce,
    Policy, PolicyName, Registry, RrNode, RrSet, WireGuardKey,
};

const NOW: u64 = 1_800_000_000;
const LEAVES: u32 = 1000;
const OWNED: u32 = 4;

fn token() -> JoinToken {
    JoinToken::new(b"benchmark-join-token-0123456789").unwrap()
}

fn policy() -> Policy {
    Policy {
        name: PolicyName::new("bench").unwrap(),
        join_tokens: vec![token()],
        tunnel_prefixes: vec!["10.255.0.0/16".parse().unwrap()],
        client_pools: vec!["10.128.0.0/14".parse().unwrap()],
        endpoint_prefixes: vec![],
        require_wireguard: false,
        wireguard_prefixes: vec![],
        rr_set: RrSet {
            asn: 65000,
            cluster_id: Ipv4Addr::new(10, 255, 255, 254),
            route_reflectors: vec![RrNode {
                router_id: Ipv4Addr::new(10, 255, 255, 1),
                underlay_endpoint: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 51820),
                tunnel_address: Ipv4Addr::new(10, 255, 255, 1),
                wireguard_key: None,
                wireguard_address: None,
            }],
        },
        max_leaves: 4096,
        claim_ttl_secs: 86400,
        max_clock_skew_secs: 300,
    }
}

fn owned_route(leaf: u32, k: u32) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(0x0a80_0000 + leaf * OWNED + k), 32).unwrap()
}

fn session(leaf: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0aff_0000 + leaf + 1)
}

fn requests() -> Vec<EnrollRequest> {
    (0..LEAVES)
        .map(|i| {
            let mut key = [0u8; 32];
            key[28..].copy_from_slice(&i.to_be_bytes());
            let subject = ClaimSubject {
                leaf_id: LeafId::new(&format!("leaf-{i}")).unwrap(),
                policy: PolicyName::new("bench").unwrap(),
                tunnel_address: session(i),
                underlay_endpoint: None,
                owned: (0..OWNED).map(|k| owned_route(i, k)).collect(),
                asn: 65000,
                router_id: session(i),
                wireguard_key: Some(WireGuardKey(key)),
                wireguard_address: Some(Ipv4Addr::from(0x0afe_0000 + i + 1)),
            };
            let mut nonce = [0u8; 16];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            Claim::new(subject, Nonce(nonce), NOW)
                .sign(&token())
                .unwrap()
        })
        .collect()
}

fn empty_registry() -> Registry {
    Registry::new(vec![policy()])
        .unwrap()
        .with_limits(AttemptLimiter::new(u32::MAX, 1, 1), LogLimiter::default())
}

fn enroll(c: &mut Criterion) {
    let requests = requests();
    let bodies: Vec<Vec<u8>> = requests.iter().map(EnrollRequest::to_json).collect();
    let mut group = c.benchmark_group("enroll");
    group.throughput(Throughput::Elements(u64::from(LEAVES)));
    group.bench_function("1000 leaves, parsed", |b| {
        b.iter_batched(
            empty_registry,
            |mut registry| {
                for request in &requests {
                    black_box(registry.enroll(NOW, request).unwrap());
                }
                registry
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("1000 leaves, http bodies", |b| {
        let source = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        b.iter_batched(
            empty_registry,
            |mut registry| {
                for body in &bodies {
                    assert_eq!(registry.handle_http(NOW, source, body).status, 200);
                }
                registry
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn admit(c: &mut Criterion) {
    let mut registry = empty_registry();
    for request in requests() {
        registry.enroll(NOW, &request).unwrap();
    }
    let announcements: Vec<(Ipv4Addr, Ipv4Net)> = (0..LEAVES)
        .flat_map(|i| (0..OWNED).map(move |k| (i, k)))
        .flat_map(|(i, k)| {
            let other = (i + 1) % LEAVES;
            [
                (session(i), owned_route(i, k)),
                (session(i), owned_route(other, k)),
            ]
        })
        .collect();
    let mut group = c.benchmark_group("admit");
    group.throughput(Throughput::Elements(announcements.len() as u64));
    group.bench_function("8000 routes over 1000 sessions", |b| {
        b.iter(|| {
            let mut accepted = 0u32;
            for (session, prefix) in &announcements {
                if registry.admit(*session, *prefix) == sam::Admission::Accept {
                    accepted += 1;
                }
            }
            assert_eq!(accepted, LEAVES * OWNED);
            black_box(accepted)
        })
    });
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    enroll(&mut c);
    admit(&mut c);
}

criterion_main!(benches);
