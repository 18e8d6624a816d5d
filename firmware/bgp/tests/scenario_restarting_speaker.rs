//! Graceful restart, restarting side (RFC 4724 §4.1): a route reflector that restarts
//! defers its export and End-of-RIB until the leaves it expects back have sent their
//! End-of-RIB, or its deadline passes, so no leaf drops another leaf's stale route.
//!
//! ```text
//!                rr 10.0.0.1 (cluster 10.0.0.1, dynamic range 10.0.0.0/24)
//!             /        |        \
//!   leaf1 10.0.0.11  leaf2 .12  leaf3 .13     each announces 198.51.100.<n>/32
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::speaker::{GracefulRestartConfig, Input, Speaker};
use bgp::wire::Message;
use scenario_net::*;

const RR: Ipv4Addr = FABRIC_RR;
const RR_IP: IpAddr = IpAddr::V4(RR);

fn leaf_addr(i: u8) -> IpAddr {
    fabric_leaf_addr(i)
}

fn leaf_prefix(i: u8) -> ipnet::IpNet {
    fabric_leaf_prefix(i)
}

/// RR and three leaves, every session Established and every route installed.
fn three_leaves() -> (Net, usize, Vec<usize>) {
    let (n, rr, leaves) = rr_with_leaves(3);
    for (k, &l) in leaves.iter().enumerate() {
        assert_eq!(n.nodes[l].fib.len(), 2, "leaf{} has the other two", k + 1);
    }
    (n, rr, leaves)
}

/// The RR process dies (every connection reset) and a fresh speaker takes its place,
/// restarting: Restart State set, the three leaves expected back within `deferral`.
fn restart_rr(n: &mut Net, rr: usize, leaves: &[usize], deferral: Duration) {
    n.nodes[rr].listening = false;
    for &l in leaves {
        n.cut(rr, l);
    }
    let mut speaker = Speaker::new(speaker_config(RR, Some(RR)));
    speaker.set_graceful_restart(GracefulRestartConfig {
        restarting: true,
        ..GracefulRestartConfig::default()
    });
    let expected = (1..=leaves.len() as u8).map(leaf_addr);
    speaker.expect_peers_before_selection(expected, n.now + deferral);
    n.nodes[rr].speaker = speaker;
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    n.nodes[rr].listening = true;
}

fn is_end_of_rib(m: &Message) -> bool {
    matches!(m, Message::Update(u)
        if u.nlri.is_empty() && u.withdrawn.is_empty() && u.attrs.mp_reach.is_none()
            && u.attrs.mp_unreach.is_empty())
}

fn is_withdrawal(m: &Message) -> bool {
    matches!(m, Message::Update(u) if !u.withdrawn.is_empty() || !u.attrs.mp_unreach.is_empty())
}

/// (End-of-RIB markers, UPDATEs withdrawing something) `leaf` received from the RR.
fn from_rr(n: &Net, leaf: usize) -> (usize, usize) {
    let msgs = n.nodes[leaf].inbox.iter().filter(|(f, _)| *f == RR_IP);
    msgs.fold((0, 0), |(e, w), (_, m)| {
        (
            e + usize::from(is_end_of_rib(m)),
            w + usize::from(is_withdrawal(m)),
        )
    })
}

fn withdrawals(n: &Net, nodes: &[usize]) -> Vec<usize> {
    nodes.iter().map(|&i| n.nodes[i].fib_withdrawals).collect()
}

#[test]
fn a_restarted_rr_withdraws_nothing_at_leaves_that_return_one_by_one() {
    let (mut n, rr, leaves) = three_leaves();
    let before: Vec<(usize, usize)> = leaves.iter().map(|&l| from_rr(&n, l)).collect();
    // leaf2 and leaf3 cannot reach the restarted RR yet; leaf1 is back first.
    n.blackhole(RR_IP, leaf_addr(2), true);
    n.blackhole(RR_IP, leaf_addr(3), true);
    restart_rr(&mut n, rr, &leaves, Duration::from_secs(360));
    let l1 = leaves[0];
    assert!(
        n.time_to_established(l1, RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(10));
    assert!(n.nodes[rr].speaker.selection_deferred());
    assert_eq!(
        n.nodes[rr].speaker.peers_awaited_before_selection(),
        vec![leaf_addr(2), leaf_addr(3)]
    );
    // leaf1 has had no table and no End-of-RIB: the others' routes are still stale.
    assert_eq!(from_rr(&n, l1), before[0]);
    assert!(n.nodes[l1].fib.contains_key(&leaf_prefix(2)));
    assert!(n.nodes[l1].fib.contains_key(&leaf_prefix(3)));
    // leaf2 comes back: still waiting for leaf3.
    n.blackhole(RR_IP, leaf_addr(2), false);
    n.cut(rr, leaves[1]);
    assert!(
        n.time_to_established(leaves[1], RR_IP, Duration::from_secs(60))
            .is_some()
    );
    n.advance(Duration::from_secs(5));
    assert_eq!(
        n.nodes[rr].speaker.peers_awaited_before_selection(),
        vec![leaf_addr(3)]
    );
    assert_eq!(from_rr(&n, l1), before[0]);
    assert_eq!(from_rr(&n, leaves[1]), before[1]);
    // leaf3's End-of-RIB ends the deferral: every leaf gets the table, then End-of-RIB.
    n.blackhole(RR_IP, leaf_addr(3), false);
    n.cut(rr, leaves[2]);
    assert!(
        n.time_to_established(leaves[2], RR_IP, Duration::from_secs(60))
            .is_some()
    );
    n.advance(Duration::from_secs(5));
    assert!(!n.nodes[rr].speaker.selection_deferred());
    for (k, &l) in leaves.iter().enumerate() {
        let (eor, withdrawn) = from_rr(&n, l);
        assert_eq!(
            eor,
            2 * before[k].0,
            "End-of-RIB again (IPv4, IPv6) to leaf{}",
            k + 1
        );
        assert_eq!(withdrawn, before[k].1, "no withdrawal to leaf{}", k + 1);
        assert_eq!(n.nodes[l].fib.len(), 2, "leaf{} has the other two", k + 1);
        let stale = n.nodes[l].speaker.peers()[0].stale;
        assert_eq!(stale, 0, "leaf{}: stale routes replaced", k + 1);
    }
    // The other two routes were received again after the restart at each leaf.
    assert_eq!(n.updates_for(l1, RR_IP, leaf_prefix(2)).len(), 2);
    assert_eq!(n.updates_for(l1, RR_IP, leaf_prefix(3)).len(), 2);
    assert_eq!(withdrawals(&n, &leaves), vec![0, 0, 0]);
}

#[test]
fn without_deferral_the_first_leaf_back_drops_the_others_routes() {
    // The same restart with nothing expected: the first leaf back gets an empty table
    // and End-of-RIB, and drops the stale routes of the leaves not back yet. This is what
    // the deferral prevents.
    let (mut n, rr, leaves) = three_leaves();
    n.blackhole(RR_IP, leaf_addr(2), true);
    n.blackhole(RR_IP, leaf_addr(3), true);
    n.nodes[rr].listening = false;
    for &l in &leaves {
        n.cut(rr, l);
    }
    let mut speaker = Speaker::new(speaker_config(RR, Some(RR)));
    speaker.expect_peers_before_selection([], n.now + Duration::from_secs(360));
    assert!(!speaker.selection_deferred());
    n.nodes[rr].speaker = speaker;
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    n.nodes[rr].listening = true;
    assert!(
        n.time_to_established(leaves[0], RR_IP, Duration::from_secs(30))
            .is_some()
    );
    n.advance(Duration::from_secs(2));
    assert!(!n.nodes[leaves[0]].fib.contains_key(&leaf_prefix(2)));
    assert_eq!(n.nodes[leaves[0]].fib_withdrawals, 2);
}

#[test]
fn a_leaf_that_never_returns_is_bounded_by_the_deadline() {
    let (mut n, rr, leaves) = three_leaves();
    let before: Vec<(usize, usize)> = leaves.iter().map(|&l| from_rr(&n, l)).collect();
    // leaf3 is gone for good.
    n.blackhole(RR_IP, leaf_addr(3), true);
    let restarted_at = n.now;
    let deferral = Duration::from_secs(60);
    restart_rr(&mut n, rr, &leaves, deferral);
    assert_eq!(
        n.nodes[rr].speaker.poll_timeout(),
        Some(restarted_at + deferral)
    );
    for &l in &leaves[..2] {
        assert!(
            n.time_to_established(l, RR_IP, Duration::from_secs(30))
                .is_some()
        );
    }
    // Up to the deadline: nothing sent to the two leaves that are back.
    n.advance(restarted_at + deferral - Duration::from_millis(1) - n.now);
    assert!(n.nodes[rr].speaker.selection_deferred());
    assert_eq!(from_rr(&n, leaves[0]), before[0]);
    assert_eq!(from_rr(&n, leaves[1]), before[1]);
    assert_eq!(withdrawals(&n, &leaves[..2]), vec![0, 0]);
    // At the deadline: the table and End-of-RIB. leaf3's route is not in it, so the
    // two leaves drop its stale copy; each other's routes were never withdrawn.
    n.advance(Duration::from_secs(1));
    assert!(!n.nodes[rr].speaker.selection_deferred());
    for (k, &l) in leaves[..2].iter().enumerate() {
        assert_eq!(
            from_rr(&n, l).0,
            2 * before[k].0,
            "End-of-RIB at the deadline"
        );
        assert!(!n.nodes[l].fib.contains_key(&leaf_prefix(3)));
        assert_eq!(
            n.nodes[l].fib_withdrawals, 1,
            "only leaf3's route withdrawn"
        );
    }
    assert!(n.nodes[leaves[0]].fib.contains_key(&leaf_prefix(2)));
    assert!(n.nodes[leaves[1]].fib.contains_key(&leaf_prefix(1)));
}
