//! Dynamic peers: admission from a range up to its limit, refusal reasons and counters,
//! the router's own address, per-peer import policies installed after admission.
//!
//! ```text
//!   raw peers 10.0.0.50.. ---->  rr 10.0.0.1 (range "leaves" 10.0.0.0/24, max 2)
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};

use bgp::policy::{Policy, PrefixRange};
use bgp::speaker::{Event, Input};
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn peer(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 50 + i)
}

fn refused(n: &Net, node: usize) -> Vec<(IpAddr, String)> {
    n.nodes[node]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { remote, reason } => Some((remote.ip(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn limit_and_refusal_reasons_are_counted() {
    let mut n = Net::new();
    let mut cfg = speaker_config(RR, Some(RR));
    cfg.local_addresses.push(v4(10, 0, 0, 99));
    let rr = n.add_with("rr", cfg);
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 2)),
    );
    let c1 = n.raw_session(peer(1), rr);
    let _c2 = n.raw_session(peer(2), rr);
    // Third peer: range full.
    let c3 = n.raw_connect(IpAddr::V4(peer(3)), rr);
    assert!(n.raw_closed.contains(&c3));
    // Outside every range.
    n.raw_connect(v4(192, 0, 2, 7), rr);
    // One of the router's own addresses, although inside the range.
    n.raw_connect(v4(10, 0, 0, 99), rr);
    assert_eq!(
        refused(&n, rr),
        vec![
            (IpAddr::V4(peer(3)), "range-full".to_string()),
            (v4(192, 0, 2, 7), "no-matching-range".to_string()),
            (v4(10, 0, 0, 99), "local-address".to_string()),
        ]
    );
    let admitted: Vec<_> = n.nodes[rr]
        .events
        .iter()
        .filter(|e| matches!(e, Event::PeerAdmitted { .. }))
        .collect();
    assert_eq!(admitted.len(), 2);
    // A refused connection got Cease/Connection Rejected.
    let got = n.raw_take(c3, &RAW_CTX);
    assert!(
        matches!(&got[..], [bgp::wire::Message::Notification(x)] if (x.code, x.subcode) == (6, 5))
    );
    // A slot frees up when a dynamic session ends.
    n.raw_send(
        c1,
        &bytes(&bgp::wire::Message::Notification(bgp::wire::Notification {
            code: 6,
            subcode: 2,
            data: vec![],
        })),
    );
    assert!(n.nodes[rr].events.contains(&Event::PeerRemoved {
        peer: IpAddr::V4(peer(1))
    }));
    let _c3 = n.raw_session(peer(3), rr);
    n.raw_connect(IpAddr::V4(peer(4)), rr);
    let counts = n.nodes[rr].speaker.refusals();
    assert_eq!(
        counts,
        vec![
            ("local-address".to_string(), 1),
            ("no-matching-range".to_string(), 1),
            ("range-full".to_string(), 2),
        ]
    );
    let dynamic: Vec<_> = n.nodes[rr]
        .speaker
        .peers()
        .into_iter()
        .map(|p| (p.address, p.dynamic))
        .collect();
    assert_eq!(dynamic.len(), 2);
    assert!(dynamic.iter().all(|(_, d)| d.as_deref() == Some("leaves")));
}

#[test]
fn import_policy_set_after_admission_re_evaluates_and_counts_rejections() {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 8)),
    );
    let c = n.raw_session(peer(1), rr);
    let owned = (Ipv4Addr::new(198, 51, 100, 1), 32);
    let stolen = [
        (Ipv4Addr::new(198, 51, 100, 2), 32),
        (Ipv4Addr::new(198, 51, 100, 3), 32),
    ];
    n.raw_send(
        c,
        &raw_update(&raw_attrs(peer(1)), &[owned, stolen[0], stolen[1]]),
    );
    // Template policy (accept all) until the daemon learns what the peer owns.
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 3);
    let policy = Policy::allow_only([PrefixRange::exact(net("198.51.100.1/32"))], "not-owned");
    n.input(
        rr,
        Input::SetImportPolicy {
            peer: IpAddr::V4(peer(1)),
            policy,
        },
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 1);
    assert_eq!(
        n.nodes[rr].fib.keys().collect::<Vec<_>>(),
        vec![&net("198.51.100.1/32")]
    );
    let st = &n.nodes[rr].speaker.peers()[0];
    assert_eq!((st.received, st.accepted), (3, 1));
    assert_eq!(st.rejected, vec![("not-owned".to_string(), 2)]);
    // New announcements go through the same policy.
    n.raw_send(
        c,
        &raw_update(&raw_attrs(peer(1)), &[(Ipv4Addr::new(198, 51, 100, 4), 32)]),
    );
    let st = &n.nodes[rr].speaker.peers()[0];
    assert_eq!((st.received, st.accepted), (4, 1));
    assert_eq!(st.rejected, vec![("not-owned".to_string(), 3)]);
    // The policy survives a reconnect of the same address.
    n.raw_send(
        c,
        &bytes(&bgp::wire::Message::Notification(bgp::wire::Notification {
            code: 6,
            subcode: 2,
            data: vec![],
        })),
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 0);
    let c = n.raw_session(peer(1), rr);
    n.raw_send(c, &raw_update(&raw_attrs(peer(1)), &[owned, stolen[0]]));
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 1);
}

#[test]
fn template_import_policy_applies_without_an_override() {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    let mut range = client_range("leaves", "10.0.0.0/24", 8);
    range.template.import = Policy::allow_only(
        [PrefixRange::range(net("198.51.100.0/24"), 32, 32)],
        "not-a-host-route",
    );
    n.input(rr, Input::AddRange(range));
    let c = n.raw_session(peer(1), rr);
    n.raw_send(
        c,
        &raw_update(
            &raw_attrs(peer(1)),
            &[
                (Ipv4Addr::new(198, 51, 100, 9), 32),
                (Ipv4Addr::new(198, 51, 100, 0), 24),
            ],
        ),
    );
    let st = &n.nodes[rr].speaker.peers()[0];
    assert_eq!((st.received, st.accepted), (2, 1));
    assert_eq!(st.rejected, vec![("not-a-host-route".to_string(), 1)]);
}

#[test]
fn ipv4_mapped_sources_from_a_dual_stack_listener_match_ipv4_ranges() {
    use std::net::SocketAddr;
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 8)),
    );
    let mapped = |a: Ipv4Addr, port| SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), port);
    n.input(
        rr,
        Input::Accepted {
            conn: bgp::speaker::ConnId(9_000),
            remote: mapped(peer(1), 40000),
            local: mapped(RR, 179),
        },
    );
    assert!(
        n.nodes[rr].events.contains(&Event::PeerAdmitted {
            peer: IpAddr::V4(peer(1)),
            range: "leaves".to_string()
        }),
        "{:?}",
        n.nodes[rr].events
    );
    assert!(n.nodes[rr].speaker.refusals().is_empty());
}

#[test]
fn configuring_a_dynamic_peer_statically_replaces_it() {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 8)),
    );
    let c = n.raw_session(peer(1), rr);
    n.raw_send(
        c,
        &raw_update(&raw_attrs(peer(1)), &[(Ipv4Addr::new(198, 51, 100, 1), 32)]),
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 1);
    let cfg = bgp::speaker::PeerConfig {
        passive: true,
        ..ibgp(IpAddr::V4(peer(1)))
    };
    n.input(rr, Input::AddPeer(cfg));
    assert!(n.raw_closed.contains(&c), "dynamic session closed");
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 0);
    let peers = n.nodes[rr].speaker.peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].dynamic, None);
    // The configured peer can connect right away.
    let c = n.raw_session(peer(1), rr);
    n.raw_send(
        c,
        &raw_update(&raw_attrs(peer(1)), &[(Ipv4Addr::new(198, 51, 100, 1), 32)]),
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 1);
}
