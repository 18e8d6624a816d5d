//! OPEN handling against a hand-driven peer (bad version, AS, BGP identifier, hold
//! time), ROUTE-REFRESH answered from Adj-RIB-Out, and Cease on shutdown.
//!
//! ```text
//!   raw peer 10.0.0.50  ---- iBGP ---->  rr 10.0.0.1 (dynamic range 10.0.0.0/24)
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};

use bgp::speaker::Input;
use bgp::wire::{Afi, Message, Open, RouteRefresh, Safi};
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

fn rr() -> (Net, usize) {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    (n, rr)
}

#[test]
fn bad_opens_get_the_right_notification() {
    type Mutation = Box<dyn Fn(&mut Open)>;
    let cases: Vec<(Mutation, (u8, u8))> = vec![
        (Box::new(|o| o.version = 3), (2, 1)),
        (
            Box::new(|o| {
                o.my_as = 65001;
                o.capabilities
                    .retain(|c| !matches!(c, bgp::wire::Capability::FourOctetAs(_)));
            }),
            (2, 2),
        ),
        (Box::new(|o| o.bgp_id = Ipv4Addr::UNSPECIFIED), (2, 3)),
        (Box::new(|o| o.bgp_id = RR), (2, 3)),
        (Box::new(|o| o.hold_time = 2), (2, 6)),
    ];
    for (mutate, expected) in cases {
        let (mut n, rr) = rr();
        let c = n.raw_connect(IpAddr::V4(PEER), rr);
        let mut open = raw_open(PEER, AS, 90);
        mutate(&mut open);
        n.raw_send(c, &bytes(&Message::Open(open)));
        let got = n.raw_take(c, &RAW_CTX);
        let notes: Vec<(u8, u8)> = got
            .iter()
            .filter_map(|m| match m {
                Message::Notification(x) => Some((x.code, x.subcode)),
                _ => None,
            })
            .collect();
        assert_eq!(notes, vec![expected]);
        assert!(n.raw_closed.contains(&c));
        assert!(
            n.nodes[rr].speaker.peers().is_empty(),
            "dynamic peer removed"
        );
    }
}

#[test]
fn route_refresh_resends_the_adj_rib_out() {
    let (mut n, rr) = rr();
    n.input(
        rr,
        Input::Announce {
            prefix: net("203.0.113.0/24"),
            attrs: origin_attrs(),
        },
    );
    let (c, first) = n.raw_session_messages(PEER, rr);
    let updates = |ms: &[Message]| -> Vec<bgp::wire::Update> {
        ms.iter()
            .filter_map(|m| match m {
                Message::Update(u) if !u.nlri.is_empty() => Some(u.clone()),
                _ => None,
            })
            .collect()
    };
    let initial = updates(&first);
    assert_eq!(initial.len(), 1);
    assert_eq!(initial[0].nlri, vec!["203.0.113.0/24".parse().unwrap()]);
    assert_eq!(
        initial[0].attrs.next_hop,
        Some(RR),
        "next hop self for a local route"
    );
    // End-of-RIB follows the table.
    assert!(first.contains(&Message::Update(Default::default())));
    n.raw_send(
        c,
        &bytes(&Message::RouteRefresh(RouteRefresh {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
        })),
    );
    let again = updates(&n.raw_take(c, &RAW_CTX));
    assert_eq!(again, initial);
    assert_eq!(n.nodes[rr].speaker.peers()[0].advertised, 1);
}

#[test]
fn shutdown_sends_cease_administrative_shutdown() {
    let (mut n, rr) = rr();
    let c = n.raw_session(PEER, rr);
    n.raw_take(c, &RAW_CTX);
    n.input(rr, Input::Shutdown);
    let got = n.raw_take(c, &RAW_CTX);
    assert!(
        matches!(&got[..], [Message::Notification(x)] if (x.code, x.subcode) == (6, 2)),
        "{got:?}"
    );
    assert!(n.raw_closed.contains(&c));
    // Nothing is admitted afterwards.
    let late = n.raw_connect(IpAddr::V4(PEER), rr);
    assert!(n.raw_closed.contains(&late));
    assert_eq!(
        n.nodes[rr].speaker.refusals(),
        vec![("shutting-down".to_string(), 1)]
    );
}
