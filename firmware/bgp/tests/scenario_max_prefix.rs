//! Max-prefix per peer: Shutdown (Cease/1, then idle for the configured time) and Warn.
//!
//! ```text
//!   raw peer 10.0.0.50  ---- iBGP ---->  rr 10.0.0.1 (configured passive peer)
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::speaker::{Input, MaxPrefixAction, PeerConfig};
use bgp::wire::Message;
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

fn hosts(count: u8) -> Vec<(Ipv4Addr, u8)> {
    (1..=count)
        .map(|i| (Ipv4Addr::new(198, 51, 100, i), 32))
        .collect()
}

fn setup(action: MaxPrefixAction) -> (Net, usize) {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    let cfg = PeerConfig {
        passive: true,
        rr_client: true,
        max_prefix: Some((10, action)),
        ..ibgp(IpAddr::V4(PEER))
    };
    n.input(rr, Input::AddPeer(cfg));
    (n, rr)
}

#[test]
fn shutdown_sends_cease_and_stays_idle_for_the_given_time() {
    let (mut n, rr) = setup(MaxPrefixAction::Shutdown(Duration::from_secs(60)));
    let c = n.raw_session(PEER, rr);
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &hosts(10)));
    assert_eq!(
        n.nodes[rr].speaker.loc_rib_len(),
        10,
        "at the limit is fine"
    );
    n.raw_send(
        c,
        &raw_update(&raw_attrs(PEER), &[(Ipv4Addr::new(198, 51, 100, 11), 32)]),
    );
    let got = n.raw_take(c, &RAW_CTX);
    let cease = got.iter().find_map(|m| match m {
        Message::Notification(x) => Some((x.code, x.subcode, x.data.clone())),
        _ => None,
    });
    assert_eq!(cease, Some((6, 1, vec![0, 1, 1, 0, 0, 0, 10])));
    assert!(n.raw_closed.contains(&c));
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 0, "routes withdrawn");
    assert!(n.nodes[rr].fib.is_empty());
    let st = &n.nodes[rr].speaker.peers()[0];
    assert_eq!(st.state, "Idle");
    assert!(
        st.last_error
            .as_deref()
            .unwrap()
            .contains("maximum prefixes")
    );
    // Within the idle time the peer is refused; afterwards it is accepted again.
    n.advance(Duration::from_secs(30));
    let early = n.raw_connect(IpAddr::V4(PEER), rr);
    assert!(n.raw_closed.contains(&early));
    assert_eq!(
        n.nodes[rr].speaker.refusals(),
        vec![("peer-idle".to_string(), 1)]
    );
    n.advance(Duration::from_secs(31));
    assert_eq!(n.nodes[rr].speaker.peers()[0].state, "Active");
    let c = n.raw_session(PEER, rr);
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &hosts(5)));
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 5);
}

#[test]
fn warn_keeps_the_session_and_the_routes() {
    let (mut n, rr) = setup(MaxPrefixAction::Warn);
    let c = n.raw_session(PEER, rr);
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &hosts(12)));
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 12);
    let st = &n.nodes[rr].speaker.peers()[0];
    assert_eq!(st.state, "Established");
    assert!(
        st.last_error
            .as_deref()
            .unwrap()
            .contains("maximum prefixes exceeded: 12 received, limit 10")
    );
    assert!(!n.raw_closed.contains(&c));
}

#[test]
fn dynamic_peer_over_the_limit_is_held_down() {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    let mut range = client_range("leaves", "10.0.0.0/24", 8);
    range.template.max_prefix = Some((10, MaxPrefixAction::Shutdown(Duration::from_secs(60))));
    n.input(rr, Input::AddRange(range));
    let c = n.raw_session(PEER, rr);
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &hosts(11)));
    assert!(n.raw_closed.contains(&c));
    assert!(
        n.nodes[rr].speaker.peers().is_empty(),
        "dynamic peer removed"
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 0);
    n.advance(Duration::from_secs(59));
    let early = n.raw_connect(IpAddr::V4(PEER), rr);
    assert!(n.raw_closed.contains(&early));
    assert_eq!(
        n.nodes[rr].speaker.refusals(),
        vec![("peer-idle".to_string(), 1)]
    );
    n.advance(Duration::from_secs(2));
    let c = n.raw_session(PEER, rr);
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &hosts(3)));
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 3);
}
