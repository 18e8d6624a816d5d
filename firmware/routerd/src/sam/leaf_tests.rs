//! The leaf's RR set handling and FIB rule, without sockets: sessions per RR, tunnels
//! per RR, ECMP over the RRs whose sessions are up, and what is never installed.

use std::path::PathBuf;

use super::*;
use crate::sam::settings::{Role, SamSettings};

fn settings() -> (SamSettings, sam::LeafConfig) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/leaf.toml");
    let text = std::fs::read_to_string(file).unwrap();
    let config = config::development(&text, "leaf.toml").unwrap();
    let settings = crate::sam::settings::from_config(&config).unwrap().unwrap();
    let Role::Leaf(leaf) = &settings.role else {
        panic!("a leaf config")
    };
    let enrollment = leaf.enrollment.clone();
    (settings, enrollment)
}

fn rr(n: u8) -> sam::RrNode {
    sam::RrNode {
        router_id: Ipv4Addr::new(10, 99, 0, n),
        underlay_endpoint: format!("203.0.113.{n}:51820").parse().unwrap(),
        tunnel_address: Ipv4Addr::new(10, 99, 0, n),
        wireguard_key: Some(sam::WireGuardKey([n; 32])),
        wireguard_address: Some(Ipv4Addr::new(10, 98, 0, n)),
    }
}

fn rr_set(nodes: &[u8]) -> RrSet {
    RrSet {
        asn: 65000,
        cluster_id: Ipv4Addr::new(10, 99, 0, 1),
        route_reflectors: nodes.iter().map(|&n| rr(n)).collect(),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn hops(nodes: &[u8]) -> Vec<IpAddr> {
    nodes
        .iter()
        .map(|&n| IpAddr::V4(Ipv4Addr::new(10, 99, 0, n)))
        .collect()
}

struct Fixture {
    leaf: LeafRuntime,
    transport: TransportHandle,
    tunnels: mpsc::UnboundedReceiver<Vec<TunnelPeer>>,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(tag: &str) -> Fixture {
    let (settings, config) = settings();
    let dir = std::env::temp_dir().join(format!("routerd-leaf-{}-{tag}", std::process::id()));
    let (wakes, _) = mpsc::unbounded_channel();
    let leaf = LeafRuntime::start(settings, config, &dir, wakes).unwrap();
    let (transport, tunnels) = TransportHandle::detached();
    Fixture {
        leaf,
        transport,
        tunnels,
        dir,
    }
}

#[test]
fn every_rr_gets_a_session_from_the_tunnel_address_and_a_tunnel() {
    let mut f = fixture("sessions");
    let (mut inputs, mut fib) = (Vec::new(), Vec::new());
    f.leaf
        .apply(&rr_set(&[1, 2]), &f.transport, &mut inputs, &mut fib);
    let peers: Vec<(IpAddr, Option<IpAddr>, bool)> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::AddPeer(p) => Some((p.remote, p.local, p.passive)),
            _ => None,
        })
        .collect();
    let own = Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 14)));
    assert_eq!(
        peers,
        vec![(hops(&[1])[0], own, false), (hops(&[2])[0], own, false)]
    );
    let tunnels = f.tunnels.try_recv().unwrap();
    assert_eq!(tunnels.len(), 2);
    assert!(
        tunnels
            .iter()
            .all(|t| t.keepalive == Some(25) && t.public_key.is_some())
    );
    assert_ne!(tunnels[0].device, tunnels[1].device);

    // An RR leaving the set loses its session and its tunnel.
    let mut inputs = Vec::new();
    f.leaf
        .apply(&rr_set(&[2]), &f.transport, &mut inputs, &mut fib);
    assert!(matches!(inputs.as_slice(), [Input::RemovePeer(a)] if *a == hops(&[1])[0]));
    assert_eq!(f.tunnels.try_recv().unwrap().len(), 1);
}

#[test]
fn routes_go_through_the_rrs_that_are_up_and_never_own_or_tunnel_prefixes() {
    let mut f = fixture("fib");
    let (mut inputs, mut fib) = (Vec::new(), Vec::new());
    f.leaf
        .apply(&rr_set(&[1, 2]), &f.transport, &mut inputs, &mut fib);
    let replace = |prefix: &str| FibChange::Replace {
        prefix: net(prefix),
        next_hops: vec![IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12))],
    };
    let mut out = Vec::new();
    // No session up yet: through every RR of the set.
    f.leaf.map_fib(replace("10.20.2.10/32"), &mut out);
    assert_eq!(
        out,
        vec![FibChange::Replace {
            prefix: net("10.20.2.10/32"),
            next_hops: hops(&[1, 2])
        }]
    );
    // Own /32, and prefixes covering tunnel or WireGuard addresses: never.
    out.clear();
    for p in [
        "10.20.4.10/32",
        "10.99.0.0/24",
        "10.98.0.14/32",
        "0.0.0.0/0",
    ] {
        f.leaf.map_fib(replace(p), &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
    // RR 2 up: only through it; both up: ECMP over both; withdrawn: removed.
    f.leaf.on_peer_state(hops(&[2])[0], true, &mut out);
    assert_eq!(
        out,
        vec![FibChange::Replace {
            prefix: net("10.20.2.10/32"),
            next_hops: hops(&[2])
        }]
    );
    out.clear();
    f.leaf.on_peer_state(hops(&[1])[0], true, &mut out);
    assert_eq!(
        out,
        vec![FibChange::Replace {
            prefix: net("10.20.2.10/32"),
            next_hops: hops(&[1, 2])
        }]
    );
    out.clear();
    f.leaf.map_fib(
        FibChange::Withdraw {
            prefix: net("10.20.2.10/32"),
        },
        &mut out,
    );
    f.leaf.map_fib(
        FibChange::Withdraw {
            prefix: net("10.20.4.10/32"),
        },
        &mut out,
    );
    assert_eq!(
        out,
        vec![FibChange::Withdraw {
            prefix: net("10.20.2.10/32")
        }]
    );
}

#[test]
fn sessions_down_for_a_minute_ask_for_renewal_once() {
    let mut f = fixture("renew");
    let (mut inputs, mut fib) = (Vec::new(), Vec::new());
    f.leaf
        .apply(&rr_set(&[1]), &f.transport, &mut inputs, &mut fib);
    let since = f.leaf.down_since.expect("no session up yet");
    assert!(
        f.leaf
            .deadline()
            .is_some_and(|d| d <= since + SESSIONS_DOWN_RENEWAL_SECS)
    );
    f.leaf.on_peer_state(hops(&[1])[0], true, &mut fib);
    assert_eq!(f.leaf.down_since, None);
    f.leaf.on_peer_state(hops(&[1])[0], false, &mut fib);
    assert!(f.leaf.down_since.is_some());
    // A minute later the timer asks for renewal, once per down period.
    f.leaf.down_since = Some(store::unix_now() - SESSIONS_DOWN_RENEWAL_SECS);
    f.leaf.on_timer();
    assert!(f.leaf.renewal_asked);
    f.leaf.on_peer_state(hops(&[1])[0], true, &mut fib);
    assert!(!f.leaf.renewal_asked);
}
