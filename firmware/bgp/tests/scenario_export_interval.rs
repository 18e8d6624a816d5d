//! Export interval: a reflector's changes during a burst go out together, a change
//! after a quiet interval at once, and End-of-RIB still follows the initial table; a
//! scaled interval grows with the number of Established peers, up to its cap.
//!
//! ```text
//!              rr 10.0.0.1 (cluster 10.0.0.1, export interval 1 s)
//!            /        |         \
//!   leaf1 .11     leaf2 .12     leaf3 .13
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::Speaker;
use bgp::speaker::Input;
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const INTERVAL: Duration = Duration::from_secs(1);

fn leaf_addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 10 + i)
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

/// The reflector (set up by `configure` before any session) and its three leaves, every
/// session Established.
fn fabric(configure: impl FnOnce(&mut Speaker)) -> (Net, usize, Vec<usize>) {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    configure(&mut n.nodes[rr].speaker);
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    let leaves: Vec<usize> = (1..=3u8)
        .map(|i| {
            let l = n.add(&format!("leaf{i}"), leaf_addr(i), None);
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

#[test]
fn a_burst_waits_for_the_interval_and_a_quiet_change_goes_out_at_once() {
    let (mut n, rr, leaves) = fabric(|rr| rr.set_export_interval(INTERVAL));
    let rr_ip = IpAddr::V4(RR);
    let leaf1 = leaves[0];
    let before = n.updates_sent(rr, IpAddr::V4(leaf_addr(1)));

    // Quiet for longer than the interval: the first change goes out at once.
    announce(&mut n, leaves[1], "198.51.100.2/32");
    assert_eq!(n.updates_for(leaf1, rr_ip, net("198.51.100.2/32")).len(), 1);
    // Within the interval: the next changes wait ...
    announce(&mut n, leaves[2], "198.51.100.3/32");
    announce(&mut n, leaves[1], "198.51.100.4/32");
    assert!(
        n.updates_for(leaf1, rr_ip, net("198.51.100.3/32"))
            .is_empty()
    );
    assert!(
        n.updates_for(leaf1, rr_ip, net("198.51.100.4/32"))
            .is_empty()
    );
    n.advance(INTERVAL / 2);
    assert!(
        n.updates_for(leaf1, rr_ip, net("198.51.100.3/32"))
            .is_empty()
    );
    // ... and go out together when it has passed, once each.
    n.advance(INTERVAL / 2);
    assert_eq!(n.updates_for(leaf1, rr_ip, net("198.51.100.3/32")).len(), 1);
    assert_eq!(n.updates_for(leaf1, rr_ip, net("198.51.100.4/32")).len(), 1);
    assert_eq!(
        n.updates_sent(rr, IpAddr::V4(leaf_addr(1))) - before,
        3,
        "one UPDATE for the quiet change, one per attribute set of the burst"
    );
    // Nothing is left waiting: no deadline of the export interval keeps firing.
    n.advance(Duration::from_secs(3));
    assert_eq!(n.updates_sent(rr, IpAddr::V4(leaf_addr(1))) - before, 3);
    assert!(
        n.nodes[rr]
            .speaker
            .poll_timeout()
            .is_some_and(|t| t > n.now + Duration::from_secs(10)),
        "only session timers remain"
    );
}

#[test]
fn a_scaled_interval_grows_with_the_established_peers() {
    // 200 ms per Established peer, at most 10 s: three leaves make 600 ms.
    let per_peer = Duration::from_millis(200);
    let (mut n, _, leaves) =
        fabric(|rr| rr.set_scaled_export_interval(per_peer, Duration::from_secs(10)));
    let rr_ip = IpAddr::V4(RR);
    let leaf1 = leaves[0];
    announce(&mut n, leaves[1], "198.51.100.2/32");
    assert_eq!(n.updates_for(leaf1, rr_ip, net("198.51.100.2/32")).len(), 1);
    announce(&mut n, leaves[2], "198.51.100.3/32");
    n.advance(Duration::from_millis(500));
    assert!(
        n.updates_for(leaf1, rr_ip, net("198.51.100.3/32"))
            .is_empty(),
        "held for three peers' worth"
    );
    n.advance(Duration::from_millis(100));
    assert_eq!(n.updates_for(leaf1, rr_ip, net("198.51.100.3/32")).len(), 1);

    // Capped: 1 s per peer, at most 300 ms.
    let (mut n, _, leaves) = fabric(|rr| {
        rr.set_scaled_export_interval(Duration::from_secs(1), Duration::from_millis(300))
    });
    let leaf1 = leaves[0];
    announce(&mut n, leaves[1], "198.51.100.2/32");
    announce(&mut n, leaves[2], "198.51.100.3/32");
    n.advance(Duration::from_millis(250));
    assert!(
        n.updates_for(leaf1, rr_ip, net("198.51.100.3/32"))
            .is_empty()
    );
    n.advance(Duration::from_millis(50));
    assert_eq!(n.updates_for(leaf1, rr_ip, net("198.51.100.3/32")).len(), 1);
}
