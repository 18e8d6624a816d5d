//! Graceful restart, receiving side (RFC 4724 §4.2, RFC 8538 for sessions that end with
//! a NOTIFICATION): leaves keep forwarding while the route reflector's sessions drop and
//! come back ("fail-static").
//!
//! ```text
//!              rr 10.0.0.1 (cluster 10.0.0.1, dynamic range 10.0.0.0/24)
//!             /            \
//!   leaf1 10.0.0.11     leaf2 10.0.0.12      each announces 198.51.100.<n>/32
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::speaker::{GracefulRestartConfig, Input};
use bgp::wire::{Afi, Capability, GracefulRestart, Message, Safi};
use scenario_net::*;

const RR: Ipv4Addr = FABRIC_RR;
const RR_IP: IpAddr = IpAddr::V4(RR);

fn leaf_addr(i: u8) -> IpAddr {
    fabric_leaf_addr(i)
}

fn leaf_prefix(i: u8) -> ipnet::IpNet {
    fabric_leaf_prefix(i)
}

/// RR and two leaves, every session Established and every route installed.
fn two_leaves() -> (Net, usize, usize, usize) {
    let (n, rr, leaves) = rr_with_leaves(2);
    let (l1, l2) = (leaves[0], leaves[1]);
    assert_eq!(
        n.nodes[l2].fib.get(&leaf_prefix(1)),
        Some(&vec![leaf_addr(1)])
    );
    assert_eq!(
        n.nodes[l1].fib.get(&leaf_prefix(2)),
        Some(&vec![leaf_addr(2)])
    );
    (n, rr, l1, l2)
}

fn stale(n: &Net, node: usize, peer: IpAddr) -> u64 {
    n.nodes[node]
        .speaker
        .peers()
        .into_iter()
        .find(|p| p.address == peer)
        .map_or(0, |p| p.stale)
}

fn withdrawals(n: &Net, nodes: &[usize]) -> Vec<usize> {
    nodes.iter().map(|&i| n.nodes[i].fib_withdrawals).collect()
}

#[test]
fn leaf_keeps_forwarding_while_the_rr_session_drops_and_returns() {
    let (mut n, rr, l1, l2) = two_leaves();
    // TCP reset between the RR and leaf2: no NOTIFICATION either way.
    n.cut(rr, l2);
    assert_eq!(n.state(l2, RR_IP).as_deref(), Some("Idle"));
    assert_eq!(stale(&n, l2, RR_IP), 1, "leaf2 keeps leaf1's route stale");
    assert_eq!(stale(&n, rr, leaf_addr(2)), 1, "the RR keeps leaf2's route");
    n.advance(Duration::from_secs(1));
    assert_eq!(
        n.nodes[l2].fib.get(&leaf_prefix(1)),
        Some(&vec![leaf_addr(1)])
    );
    assert!(n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    let back = n.time_to_established(l2, RR_IP, Duration::from_secs(30));
    assert!(back.is_some(), "session back");
    n.advance(Duration::from_secs(1));
    // Received again and End-of-RIB seen: nothing stale, nothing ever withdrawn.
    assert_eq!((stale(&n, l2, RR_IP), stale(&n, rr, leaf_addr(2))), (0, 0));
    assert_eq!(n.updates_for(l2, RR_IP, leaf_prefix(1)).len(), 2);
    assert_eq!(
        n.nodes[l2].fib.get(&leaf_prefix(1)),
        Some(&vec![leaf_addr(1)])
    );
    assert_eq!(withdrawals(&n, &[rr, l1, l2]), vec![0, 0, 0]);

    // Every session of the RR drops at once, and returns.
    n.cut(rr, l1);
    n.cut(rr, l2);
    n.advance(Duration::from_secs(30));
    for l in [l1, l2] {
        assert_eq!(n.state(l, RR_IP).as_deref(), Some("Established"));
        assert_eq!(stale(&n, l, RR_IP), 0);
    }
    assert_eq!(n.nodes[l1].fib.len(), 1);
    assert_eq!(n.nodes[l2].fib.len(), 1);
    assert_eq!(withdrawals(&n, &[rr, l1, l2]), vec![0, 0, 0]);
}

#[test]
fn stale_routes_go_when_the_restart_timer_fires() {
    let (mut n, rr, l1, l2) = two_leaves();
    // The RR stops accepting: leaf2 cannot come back.
    n.nodes[rr].listening = false;
    n.cut(rr, l2);
    n.advance(Duration::from_secs(119));
    assert!(n.nodes[l2].fib.contains_key(&leaf_prefix(1)));
    assert!(n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    assert_eq!(withdrawals(&n, &[rr, l1, l2]), vec![0, 0, 0]);
    // The advertised restart time (120 s) is over on both sides.
    n.advance(Duration::from_secs(2));
    assert!(n.nodes[l2].fib.is_empty());
    assert!(!n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    assert!(!n.nodes[rr].fib.contains_key(&leaf_prefix(2)));
    assert_eq!(withdrawals(&n, &[rr, l1, l2]), vec![1, 1, 1]);
    // The dynamic slot of leaf2 is freed with its routes.
    assert!(
        n.nodes[rr]
            .speaker
            .peers()
            .iter()
            .all(|p| p.address != leaf_addr(2))
    );
}

#[test]
fn end_of_rib_withdraws_what_was_not_sent_again() {
    let (mut n, rr, l1, l2) = two_leaves();
    n.cut(rr, l2);
    // While leaf2 is away, leaf1 withdraws its route: leaf2 cannot hear it.
    n.input(l1, Input::Withdraw(leaf_prefix(1)));
    assert!(n.nodes[l2].fib.contains_key(&leaf_prefix(1)));
    assert!(
        n.time_to_established(l2, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(1));
    // The RR's table and End-of-RIB came without it: the stale copy is gone.
    assert!(n.nodes[l2].fib.is_empty());
    assert_eq!(n.nodes[l2].fib_withdrawals, 1);
    assert_eq!(stale(&n, l2, RR_IP), 0);
    // leaf2's own route never left leaf1.
    assert_eq!(n.nodes[l1].fib_withdrawals, 0);
}

/// The NOTIFICATIONs `node` sent to `peer`, with their data.
fn notifications_to(n: &Net, node: usize, peer: IpAddr) -> Vec<(u8, u8, Vec<u8>)> {
    n.nodes[node]
        .sent
        .iter()
        .filter_map(|(to, m)| match m {
            Message::Notification(x) if *to == peer => Some((x.code, x.subcode, x.data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn hold_timer_expiry_with_the_n_bit_keeps_the_routes_stale() {
    // RFC 8538: both sides set the N bit (the default), the RR goes silent.
    let (mut n, rr, l1, l2) = two_leaves();
    n.blackhole(RR_IP, leaf_addr(2), true);
    n.advance(Duration::from_secs(95));
    assert!(n.notifications_sent(l2).contains(&(4, 0)));
    assert_ne!(n.state(l2, RR_IP).as_deref(), Some("Established"));
    assert_eq!(stale(&n, l2, RR_IP), 1, "leaf1's route kept stale");
    assert_eq!(stale(&n, rr, leaf_addr(2)), 1, "the RR keeps leaf2's route");
    assert_eq!(
        n.nodes[l2].fib.get(&leaf_prefix(1)),
        Some(&vec![leaf_addr(1)])
    );
    assert!(n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    assert_eq!(withdrawals(&n, &[rr, l1, l2]), vec![0, 0, 0]);
    // The path returns: the session comes back, the routes are received again and
    // End-of-RIB ends the stale state, without a single FIB withdrawal.
    let before = n.updates_for(l2, RR_IP, leaf_prefix(1)).len();
    n.blackhole(RR_IP, leaf_addr(2), false);
    // The connection attempts made while the path was dark had their OPENs dropped:
    // they are reset when it returns.
    n.cut(rr, l2);
    let back = n.time_to_established(l2, RR_IP, Duration::from_secs(60));
    assert!(back.is_some(), "session back");
    n.advance(Duration::from_secs(1));
    assert_eq!(n.updates_for(l2, RR_IP, leaf_prefix(1)).len(), before + 1);
    assert_eq!((stale(&n, l2, RR_IP), stale(&n, rr, leaf_addr(2))), (0, 0));
    assert_eq!(
        n.nodes[l2].fib.get(&leaf_prefix(1)),
        Some(&vec![leaf_addr(1)])
    );
    assert_eq!(withdrawals(&n, &[rr, l1, l2]), vec![0, 0, 0]);
}

#[test]
fn hold_timer_expiry_without_the_n_bit_withdraws_at_once() {
    let (mut n, rr, _l1, l2) = two_leaves();
    // leaf2 stops setting the N bit; the session is renegotiated without it.
    n.nodes[l2]
        .speaker
        .set_graceful_restart(GracefulRestartConfig {
            notification: false,
            ..GracefulRestartConfig::default()
        });
    n.cut(rr, l2);
    assert!(
        n.time_to_established(l2, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(1));
    assert_eq!(stale(&n, l2, RR_IP), 0);
    assert!(n.nodes[l2].fib.contains_key(&leaf_prefix(1)));
    // Hold timer expiry: the NOTIFICATION is sent (and lost), so it is not graceful.
    n.blackhole(RR_IP, leaf_addr(2), true);
    n.advance(Duration::from_secs(95));
    assert!(n.notifications_sent(l2).contains(&(4, 0)));
    assert!(n.nodes[l2].fib.is_empty(), "withdrawn at hold timer expiry");
    assert_eq!(stale(&n, l2, RR_IP), 0);
    assert!(!n.nodes[rr].fib.contains_key(&leaf_prefix(2)));
}

#[test]
fn hard_reset_withdraws_at_once() {
    // Peer removal with the N bit: Cease/Hard Reset carrying Cease/Peer De-configured,
    // and the RR withdraws at once.
    let (mut n, rr, l1, l2) = two_leaves();
    n.input(l2, Input::RemovePeer(RR_IP));
    assert_eq!(notifications_to(&n, l2, RR_IP), vec![(6, 9, vec![6, 3])]);
    assert_eq!(stale(&n, rr, leaf_addr(2)), 0);
    assert!(!n.nodes[rr].fib.contains_key(&leaf_prefix(2)));
    assert!(!n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    assert!(n.nodes[l2].fib.is_empty());

    // Without the N bit the plain Cease is sent, and it withdraws as well.
    let (mut n, rr, l1, l2) = two_leaves();
    n.nodes[l2]
        .speaker
        .set_graceful_restart(GracefulRestartConfig {
            notification: false,
            ..GracefulRestartConfig::default()
        });
    n.cut(rr, l2);
    assert!(
        n.time_to_established(l2, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(1));
    n.input(l2, Input::RemovePeer(RR_IP));
    assert_eq!(notifications_to(&n, l2, RR_IP), vec![(6, 3, vec![])]);
    assert!(!n.nodes[rr].fib.contains_key(&leaf_prefix(2)));
    assert!(!n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
}

#[test]
fn other_notifications_with_the_n_bit_are_graceful() {
    // A Cease other than Hard Reset, received: the RR keeps leaf2's route stale, and a
    // clean shutdown of leaf2 is a Hard Reset (RFC 8538 §5: Administrative Shutdown).
    let (mut n, rr, l1, l2) = two_leaves();
    // The RR does not take leaf2's new connection at once.
    n.nodes[rr].listening = false;
    let mut cfg = ibgp(RR_IP);
    cfg.hold_time = 60;
    n.input(l2, Input::AddPeer(cfg));
    assert_eq!(notifications_to(&n, l2, RR_IP), vec![(6, 6, vec![])]);
    assert_eq!(stale(&n, rr, leaf_addr(2)), 1);
    assert!(n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    n.nodes[rr].listening = true;
    assert!(
        n.time_to_established(l2, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(1));
    assert_eq!(stale(&n, rr, leaf_addr(2)), 0);
    assert_eq!(n.nodes[l1].fib_withdrawals, 0);
    n.input(l2, Input::Shutdown);
    let sent = notifications_to(&n, l2, RR_IP);
    assert_eq!(sent.last(), Some(&(6, 9, vec![6, 2])));
    assert!(!n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
}

#[test]
fn a_peer_back_without_forwarding_state_loses_its_stale_routes_at_once() {
    let (mut n, rr, _l1, l2) = two_leaves();
    n.cut(rr, l2);
    // The RR comes back saying its forwarding state was not preserved.
    n.nodes[rr]
        .speaker
        .set_graceful_restart(GracefulRestartConfig {
            restart_time: 90,
            restarting: true,
            forwarding_preserved: false,
            notification: true,
        });
    assert!(
        n.time_to_established(l2, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(1));
    // Withdrawn when the session came back, then learned again from the RR.
    assert_eq!(n.nodes[l2].fib_withdrawals, 1);
    assert_eq!(
        n.nodes[l2].fib.get(&leaf_prefix(1)),
        Some(&vec![leaf_addr(1)])
    );
    // The OPEN said so: Restart State set, families without Forwarding State.
    let opens: Vec<&GracefulRestart> = n.nodes[l2]
        .inbox
        .iter()
        .filter_map(|(from, m)| match m {
            Message::Open(o) if *from == RR_IP => o.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart(g) => Some(g),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    let first = GracefulRestart {
        restarting: false,
        notification: true,
        restart_time: 120,
        families: vec![
            (Afi::Ipv4, Safi::Unicast, true),
            (Afi::Ipv6, Safi::Unicast, true),
        ],
    };
    let again = GracefulRestart {
        restarting: true,
        notification: true,
        restart_time: 90,
        families: vec![
            (Afi::Ipv4, Safi::Unicast, false),
            (Afi::Ipv6, Safi::Unicast, false),
        ],
    };
    assert_eq!(opens, vec![&first, &again]);
    // Restart State only during the restart time after the first such OPEN.
    n.advance(Duration::from_secs(90));
    n.cut(rr, l2);
    assert!(
        n.time_to_established(l2, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    let last = n.nodes[l2]
        .inbox
        .iter()
        .rev()
        .find_map(|(from, m)| match m {
            Message::Open(o) if *from == RR_IP => Some(o.clone()),
            _ => None,
        });
    assert!(last.unwrap().capabilities.iter().any(
        |c| matches!(c, Capability::GracefulRestart(g) if !g.restarting && g.restart_time == 90)
    ));
}
