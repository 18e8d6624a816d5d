//! Export budget: one flush encodes at most the budget (a peer's batch is never split);
//! the peers past it are due at once and served round robin, each change reaching every
//! peer exactly once, End-of-RIB after its table.
//!
//! ```text
//!              rr 10.0.0.1 (cluster 10.0.0.1, export budget 1 octet, set once the
//!                           sessions are up)
//!        /       |        |        \
//!   leaf1 .11  leaf2 .12  leaf3 .13  leaf4 .14
//! ```

mod scenario_net;

use std::net::IpAddr;
use std::time::Duration;

use bgp::speaker::Input;
use scenario_net::*;

/// The fabric's RR with four quiet leaves, all Established, then the budget set.
fn fabric(budget: usize) -> (Net, usize, Vec<usize>) {
    let (mut n, rr, leaves) = rr_with_quiet_leaves(4);
    for &l in &leaves {
        assert_eq!(
            n.state(l, IpAddr::V4(FABRIC_RR)).as_deref(),
            Some("Established")
        );
    }
    n.nodes[rr].speaker.set_export_budget(budget);
    (n, rr, leaves)
}

/// How many of leaves 2..=4 hold `prefix` from the RR.
fn holders(n: &Net, leaves: &[usize], prefix: &str) -> usize {
    leaves[1..]
        .iter()
        .filter(|&&l| {
            !n.updates_for(l, IpAddr::V4(FABRIC_RR), net(prefix))
                .is_empty()
        })
        .count()
}

#[test]
fn past_the_budget_peers_wait_for_the_next_flush_and_each_gets_every_change_once() {
    let (mut n, rr, leaves) = fabric(1);
    let before: Vec<usize> = (2..=4)
        .map(|i| n.updates_sent(rr, fabric_leaf_addr(i)))
        .collect();
    n.input(
        leaves[0],
        Input::Announce {
            prefix: net("198.51.100.1/32"),
            attrs: origin_attrs(),
        },
    );
    // The flush ending the leaf's UPDATE spends the budget on one peer; the others are
    // due at once, not after any timer of the session.
    assert_eq!(holders(&n, &leaves, "198.51.100.1/32"), 1);
    assert!(
        n.nodes[rr]
            .speaker
            .poll_timeout()
            .is_some_and(|t| t <= n.now),
        "the peers past the budget are due now"
    );
    n.advance(Duration::ZERO);
    assert_eq!(holders(&n, &leaves, "198.51.100.1/32"), 3);
    for (i, b) in (2..=4).zip(&before) {
        assert_eq!(
            n.updates_sent(rr, fabric_leaf_addr(i)) - b,
            1,
            "leaf{i} got the change once"
        );
    }
    // The source never gets its own route back.
    assert!(
        n.updates_for(leaves[0], IpAddr::V4(FABRIC_RR), net("198.51.100.1/32"))
            .is_empty()
    );
    // Nothing is left due.
    assert!(
        n.nodes[rr]
            .speaker
            .poll_timeout()
            .is_some_and(|t| t > n.now + Duration::from_secs(10))
    );
}

#[test]
fn round_robin_serves_first_the_peer_the_last_flush_stopped_at() {
    let (mut n, rr, leaves) = fabric(1);
    let announce = |n: &mut Net, prefix: &str| {
        n.input(
            leaves[0],
            Input::Announce {
                prefix: net(prefix),
                attrs: origin_attrs(),
            },
        )
    };
    announce(&mut n, "198.51.100.1/32");
    let first: Vec<bool> = leaves[1..]
        .iter()
        .map(|&l| {
            !n.updates_for(l, IpAddr::V4(FABRIC_RR), net("198.51.100.1/32"))
                .is_empty()
        })
        .collect();
    n.advance(Duration::ZERO);
    // A second change: its first flush starts where the first change's flushes stopped,
    // so over both changes no peer is always served first.
    announce(&mut n, "198.51.100.2/32");
    let second: Vec<bool> = leaves[1..]
        .iter()
        .map(|&l| {
            !n.updates_for(l, IpAddr::V4(FABRIC_RR), net("198.51.100.2/32"))
                .is_empty()
        })
        .collect();
    assert_eq!(first.iter().filter(|&&b| b).count(), 1);
    assert_eq!(second.iter().filter(|&&b| b).count(), 1);
    assert_ne!(first, second, "the second burst starts with another peer");
    n.advance(Duration::ZERO);
    assert_eq!(holders(&n, &leaves, "198.51.100.2/32"), 3);
    let _ = rr;
}

#[test]
fn without_a_budget_one_flush_serves_every_peer() {
    let (mut n, _rr, leaves) = fabric(0);
    n.input(
        leaves[0],
        Input::Announce {
            prefix: net("198.51.100.1/32"),
            attrs: origin_attrs(),
        },
    );
    assert_eq!(holders(&n, &leaves, "198.51.100.1/32"), 3);
}
