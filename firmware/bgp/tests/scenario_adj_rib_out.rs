//! The Adj-RIB-Out derived from the Loc-RIB: per peer only the advertised prefixes and
//! the changed ones are kept, and each change's route is worked out when it is sent.
//! These scenarios pin what that must still guarantee: a withdrawal for a route that was
//! sent (and none for one that was not), a client's route never reflected back to it,
//! an export policy that differs per peer (also when it changes), and a reset peer that
//! gets the whole table again.
//!
//! ```text
//!              rr 10.0.0.1 (cluster 10.0.0.1, dynamic range 10.0.0.0/24)
//!            /        |         \
//!   leaf1 .11     leaf2 .12     leaf3 .13 (configured on the rr with its own export policy)
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::policy::{Policy, PrefixRange};
use bgp::speaker::{Input, PeerConfig};
use bgp::wire::Message;
use ipnet::IpNet;
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn leaf_addr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + i))
}

/// The rr and three leaves, all Established; leaf3 is a configured client of the rr
/// with `leaf3_export` as its export policy.
fn network(leaf3_export: Policy) -> (Net, usize, Vec<usize>) {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    n.input(rr, Input::AddPeer(leaf3_config(leaf3_export)));
    let leaves: Vec<usize> = (1..=3u8)
        .map(|i| {
            let IpAddr::V4(a) = leaf_addr(i) else {
                unreachable!()
            };
            let l = n.add(&format!("leaf{i}"), a, None);
            n.input(l, Input::AddPeer(ibgp(IpAddr::V4(RR))));
            l
        })
        .collect();
    n.advance(Duration::from_secs(5));
    for &l in &leaves {
        assert_eq!(n.state(l, IpAddr::V4(RR)).as_deref(), Some("Established"));
    }
    (n, rr, leaves)
}

fn leaf3_config(export: Policy) -> PeerConfig {
    PeerConfig {
        rr_client: true,
        passive: true,
        export,
        ..ibgp(leaf_addr(3))
    }
}

fn announce(n: &mut Net, node: usize, prefix: &str) {
    n.input(
        node,
        Input::Announce {
            prefix: net(prefix),
            attrs: origin_attrs(),
        },
    );
}

/// (announcements, withdrawals) of `prefix` that `node` received from the rr.
fn seen(n: &Net, node: usize, prefix: &str) -> (usize, usize) {
    let IpNet::V4(p) = net(prefix) else {
        unreachable!()
    };
    let mut counts = (0, 0);
    for (from, m) in &n.nodes[node].inbox {
        if let (true, Message::Update(u)) = (*from == IpAddr::V4(RR), m) {
            counts.0 += usize::from(u.nlri.contains(&p));
            counts.1 += usize::from(u.withdrawn.contains(&p));
        }
    }
    counts
}

fn advertised(n: &Net, rr: usize, to: IpAddr) -> u64 {
    n.nodes[rr]
        .speaker
        .peers()
        .into_iter()
        .find(|p| p.address == to)
        .map_or(0, |p| p.advertised)
}

#[test]
fn a_sent_route_is_withdrawn_and_a_clients_own_route_never_comes_back_to_it() {
    let (mut n, rr, leaves) = network(Policy::default());
    announce(&mut n, leaves[0], "198.51.100.1/32");
    n.settle();
    assert_eq!(seen(&n, leaves[1], "198.51.100.1/32"), (1, 0));
    assert_eq!(advertised(&n, rr, leaf_addr(2)), 1);
    n.input(leaves[0], Input::Withdraw(net("198.51.100.1/32")));
    n.settle();
    assert_eq!(seen(&n, leaves[1], "198.51.100.1/32"), (1, 1));
    assert_eq!(advertised(&n, rr, leaf_addr(2)), 0);
    // The source heard nothing of its own route: no announcement, no withdrawal.
    assert_eq!(seen(&n, leaves[0], "198.51.100.1/32"), (0, 0));
    assert_eq!(advertised(&n, rr, leaf_addr(1)), 0);

    // The same prefix from two clients: each gets the other's path, and when one
    // withdraws, the other (now the only source) gets a withdrawal of what it was sent.
    announce(&mut n, leaves[0], "198.51.100.2/32");
    announce(&mut n, leaves[1], "198.51.100.2/32");
    n.settle();
    let (one, two) = (
        seen(&n, leaves[0], "198.51.100.2/32"),
        seen(&n, leaves[1], "198.51.100.2/32"),
    );
    // The best path's source is not sent its own route; the other source is sent it.
    assert_eq!(one.0 + two.0, 1, "{one:?} {two:?}");
    let (best_source, other) = if one.0 == 0 {
        (leaves[0], leaves[1])
    } else {
        (leaves[1], leaves[0])
    };
    n.input(best_source, Input::Withdraw(net("198.51.100.2/32")));
    n.settle();
    assert_eq!(seen(&n, other, "198.51.100.2/32"), (1, 1));
    assert_eq!(seen(&n, best_source, "198.51.100.2/32").1, 0);
    // And the remaining path goes to the client that withdrew its own.
    assert_eq!(seen(&n, best_source, "198.51.100.2/32").0, 1);
}

#[test]
fn an_export_policy_of_one_peer_holds_back_only_its_routes_also_when_it_changes() {
    let only_doc_1 = || {
        Policy::allow_only(
            [PrefixRange::or_longer(net("198.51.100.0/24"))],
            "not-for-leaf3",
        )
    };
    let (mut n, rr, leaves) = network(only_doc_1());
    announce(&mut n, leaves[0], "198.51.100.1/32");
    announce(&mut n, leaves[0], "203.0.113.1/32");
    n.settle();
    assert_eq!(seen(&n, leaves[1], "203.0.113.1/32"), (1, 0));
    assert_eq!(seen(&n, leaves[2], "198.51.100.1/32"), (1, 0));
    assert_eq!(seen(&n, leaves[2], "203.0.113.1/32"), (0, 0));
    assert_eq!(advertised(&n, rr, leaf_addr(3)), 1);

    // The policy opens: the held-back route goes out.
    n.input(rr, Input::AddPeer(leaf3_config(Policy::default())));
    n.settle();
    assert_eq!(seen(&n, leaves[2], "203.0.113.1/32"), (1, 0));
    assert_eq!(advertised(&n, rr, leaf_addr(3)), 2);
    // It closes again: that route is withdrawn, the other stays.
    n.input(rr, Input::AddPeer(leaf3_config(only_doc_1())));
    n.settle();
    assert_eq!(seen(&n, leaves[2], "203.0.113.1/32"), (1, 1));
    assert_eq!(seen(&n, leaves[2], "198.51.100.1/32").1, 0);
    assert_eq!(advertised(&n, rr, leaf_addr(3)), 1);
    // The other peers never noticed.
    assert_eq!(seen(&n, leaves[1], "203.0.113.1/32"), (1, 0));
}

#[test]
fn a_reset_peer_is_sent_the_whole_table_again() {
    let (mut n, rr, leaves) = network(Policy::default());
    let prefixes: Vec<String> = (1..=20).map(|i| format!("198.51.100.{i}/32")).collect();
    for p in &prefixes {
        announce(&mut n, leaves[0], p);
    }
    n.settle();
    assert_eq!(advertised(&n, rr, leaf_addr(2)), 20);
    n.cut(rr, leaves[1]);
    assert_eq!(advertised(&n, rr, leaf_addr(2)), 0);
    n.advance(Duration::from_secs(30));
    assert_eq!(
        n.state(leaves[1], IpAddr::V4(RR)).as_deref(),
        Some("Established")
    );
    assert_eq!(advertised(&n, rr, leaf_addr(2)), 20);
    for p in &prefixes {
        assert_eq!(seen(&n, leaves[1], p), (2, 0), "{p}");
    }
    // The peer that stayed up was not sent anything again.
    for p in &prefixes {
        assert_eq!(seen(&n, leaves[2], p), (1, 0), "{p}");
    }
}
