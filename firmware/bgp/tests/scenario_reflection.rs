//! Route reflection between clients and non-clients (RFC 4456), end to end.
//!
//! ```text
//!              rr 10.0.0.1 (cluster 10.0.0.1, dynamic range 10.0.0.0/24)
//!            /        |         \
//!   leaf1 .11     leaf2 .12     leaf3 .13     each announces 198.51.100.<n>/32
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::speaker::{Event, Input, PeerConfig};
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn leaf_addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 10 + i)
}

fn leaf_prefix(i: u8) -> ipnet::IpNet {
    net(&format!("198.51.100.{i}/32"))
}

fn three_clients() -> (Net, usize, Vec<usize>) {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    let mut leaves = Vec::new();
    for i in 1..=3u8 {
        let l = n.add(&format!("leaf{i}"), leaf_addr(i), None);
        n.input(l, Input::AddPeer(ibgp(IpAddr::V4(RR))));
        n.input(
            l,
            Input::Announce {
                prefix: leaf_prefix(i),
                attrs: origin_attrs(),
            },
        );
        leaves.push(l);
    }
    n.advance(Duration::from_secs(5));
    (n, rr, leaves)
}

#[test]
fn every_client_learns_the_others_with_originator_and_cluster_list() {
    let (n, rr, leaves) = three_clients();
    for (k, &l) in leaves.iter().enumerate() {
        let me = k as u8 + 1;
        assert_eq!(n.state(l, IpAddr::V4(RR)).as_deref(), Some("Established"));
        for other in (1..=3u8).filter(|o| *o != me) {
            // Installed through the announcing leaf (the RR keeps the next hop).
            assert_eq!(
                n.nodes[l].fib.get(&leaf_prefix(other)),
                Some(&vec![IpAddr::V4(leaf_addr(other))]),
                "leaf{me} route to leaf{other}"
            );
            let ups = n.updates_for(l, IpAddr::V4(RR), leaf_prefix(other));
            assert_eq!(ups.len(), 1, "announced once");
            assert_eq!(ups[0].originator_id, Some(leaf_addr(other)));
            assert_eq!(ups[0].cluster_list, vec![RR]);
            assert_eq!(ups[0].local_pref, Some(100));
        }
        // Never reflected back to its originator, and its own route is not in its FIB.
        assert!(n.updates_for(l, IpAddr::V4(RR), leaf_prefix(me)).is_empty());
        assert!(!n.nodes[l].fib.contains_key(&leaf_prefix(me)));
    }
    let peers = n.nodes[rr].speaker.peers();
    assert_eq!(peers.len(), 3);
    for p in &peers {
        assert_eq!(p.state, "Established");
        assert_eq!(p.dynamic.as_deref(), Some("leaves"));
        assert_eq!((p.received, p.accepted, p.advertised), (1, 1, 2));
    }
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 3);
}

#[test]
fn withdrawal_and_session_loss_propagate() {
    let (mut n, rr, leaves) = three_clients();
    n.input(leaves[0], Input::Withdraw(leaf_prefix(1)));
    for &l in &leaves[1..] {
        assert!(!n.nodes[l].fib.contains_key(&leaf_prefix(1)));
    }
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 2);
    // leaf2 leaves with a NOTIFICATION (a TCP loss would keep its route stale, see
    // scenario_graceful_restart): its route disappears everywhere and the dynamic peer
    // is removed.
    n.input(leaves[1], Input::RemovePeer(IpAddr::V4(RR)));
    assert!(!n.nodes[leaves[2]].fib.contains_key(&leaf_prefix(2)));
    assert!(n.nodes[rr].events.contains(&Event::PeerRemoved {
        peer: IpAddr::V4(leaf_addr(2))
    }));
    assert_eq!(n.nodes[rr].speaker.peers().len(), 2);
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 1);
    // It comes back and is re-admitted with its route.
    n.input(leaves[1], Input::AddPeer(ibgp(IpAddr::V4(RR))));
    n.advance(Duration::from_secs(10));
    assert_eq!(n.nodes[rr].speaker.peers().len(), 3);
    assert!(n.nodes[leaves[2]].fib.contains_key(&leaf_prefix(2)));
}

#[test]
fn non_client_routes_reach_clients_only() {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    let addrs = [leaf_addr(1), leaf_addr(2), leaf_addr(3), leaf_addr(4)];
    let clients = [true, true, false, false];
    let mut nodes = Vec::new();
    for (i, (a, client)) in addrs.iter().zip(clients).enumerate() {
        let peer = PeerConfig {
            rr_client: client,
            passive: true,
            ..ibgp(IpAddr::V4(*a))
        };
        n.input(rr, Input::AddPeer(peer));
        let l = n.add(&format!("n{i}"), *a, None);
        n.input(l, Input::AddPeer(ibgp(IpAddr::V4(RR))));
        n.input(
            l,
            Input::Announce {
                prefix: leaf_prefix(i as u8 + 1),
                attrs: origin_attrs(),
            },
        );
        nodes.push(l);
    }
    n.advance(Duration::from_secs(5));
    let has = |n: &Net, node: usize, i: u8| n.nodes[node].fib.contains_key(&leaf_prefix(i));
    // From client 1: to client 2 and both non-clients.
    assert!(has(&n, nodes[1], 1) && has(&n, nodes[2], 1) && has(&n, nodes[3], 1));
    // From non-client 3: to both clients, not to non-client 4.
    assert!(has(&n, nodes[0], 3) && has(&n, nodes[1], 3));
    assert!(!has(&n, nodes[3], 3));
    assert!(!has(&n, nodes[2], 4));
    // The reflected non-client route carries ORIGINATOR_ID and CLUSTER_LIST too.
    let ups = n.updates_for(nodes[0], IpAddr::V4(RR), leaf_prefix(3));
    assert_eq!(ups[0].originator_id, Some(leaf_addr(3)));
    assert_eq!(ups[0].cluster_list, vec![RR]);
}
