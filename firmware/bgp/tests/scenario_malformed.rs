//! Malformed UPDATEs from a peer (RFC 7606): treat-as-withdraw, attribute discard and
//! session reset, applied by the speaker.
//!
//! ```text
//!   raw peer 10.0.0.50  ---- iBGP ---->  rr 10.0.0.1 (dynamic range 10.0.0.0/24)
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};

use bgp::speaker::Input;
use bgp::wire::Message;
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const PREFIX: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 51, 100, 0), 24);

fn setup() -> (Net, usize, bgp::speaker::ConnId) {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    let c = n.raw_session(PEER, rr);
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &[PREFIX]));
    assert_eq!(
        n.nodes[rr].fib.get(&net("198.51.100.0/24")),
        Some(&vec![IpAddr::V4(PEER)])
    );
    (n, rr, c)
}

#[test]
fn bad_origin_value_is_treated_as_withdraw_and_session_stays() {
    let (mut n, rr, c) = setup();
    let mut attrs = raw_attrs(PEER);
    attrs[3] = 7; // ORIGIN value 7 does not exist.
    n.raw_send(c, &raw_update(&attrs, &[PREFIX]));
    assert!(n.nodes[rr].fib.is_empty(), "prefix withdrawn");
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 0);
    let st = &n.nodes[rr].speaker.peers()[0];
    assert_eq!(st.state, "Established");
    assert_eq!(st.received, 0);
    assert!(
        st.last_error
            .as_deref()
            .unwrap_or("")
            .contains("treated as withdraw"),
        "{st:?}"
    );
    assert!(!n.raw_closed.contains(&c));
    // A good UPDATE afterwards is accepted again.
    n.raw_send(c, &raw_update(&raw_attrs(PEER), &[PREFIX]));
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 1);
}

#[test]
fn malformed_atomic_aggregate_is_discarded_and_route_kept() {
    let (mut n, rr, c) = setup();
    let mut attrs = raw_attrs(PEER);
    attrs.extend_from_slice(&[0x40, 6, 1, 0]); // ATOMIC_AGGREGATE must be empty.
    n.raw_send(
        c,
        &raw_update(&attrs, &[(Ipv4Addr::new(203, 0, 113, 0), 24)]),
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 2);
    let paths = n.nodes[rr].speaker.explain(net("203.0.113.0/24"));
    assert_eq!(paths.len(), 1);
    assert!(!paths[0].attrs.atomic_aggregate, "attribute dropped");
    assert_eq!(n.nodes[rr].speaker.peers()[0].state, "Established");
}

#[test]
fn broken_header_resets_the_session_with_notification() {
    let (mut n, rr, c) = setup();
    let mut bad = raw_update(&raw_attrs(PEER), &[PREFIX]);
    bad[0] = 0; // marker must be all ones
    n.raw_send(c, &bad);
    let got = n.raw_take(c, &RAW_CTX);
    assert!(
        got.iter()
            .any(|m| matches!(m, Message::Notification(x) if x.code == 1)),
        "message header error sent: {got:?}"
    );
    assert!(n.raw_closed.contains(&c));
    // The dynamic peer is gone and its route withdrawn.
    assert!(n.nodes[rr].speaker.peers().is_empty());
    assert!(n.nodes[rr].fib.is_empty());
}
