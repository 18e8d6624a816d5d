//! The decision process end to end: the same prefix from several peers with different
//! attributes; the RR's best path, the step at which each other path lost, the FIB
//! (multipath) and what the RR reflects.
//!
//! ```text
//!   leaf1 .11 (client) --\
//!   leaf2 .12 (client) ----  rr 10.0.0.1 (AS 65000, multipath)  ---- leaf3 .13 (client, listener)
//!   ext   .30 (AS 65010) --/
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::policy::{Policy, Verdict};
use bgp::speaker::{Input, PeerConfig, PeerKind};
use bgp::wire::{AsSegment, Origin, PathAttributes};
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const L1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const L2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
const L3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 13);
const EXT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 30);

fn path(asns: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: vec![AsSegment::Sequence(asns.to_vec())],
        ..Default::default()
    }
}

/// One row: what leaf1 and leaf2 (or ext) announce, who wins, why the other lost.
struct Row {
    name: &'static str,
    first: (Ipv4Addr, PathAttributes),
    second: (Ipv4Addr, PathAttributes),
    winner: Ipv4Addr,
    loser_step: &'static str,
}

fn rows() -> Vec<Row> {
    let with = |f: &dyn Fn(&mut PathAttributes)| {
        let mut p = path(&[65010]);
        f(&mut p);
        p
    };
    vec![
        Row {
            name: "local-pref",
            first: (L1, with(&|p| p.local_pref = Some(200))),
            second: (L2, path(&[65010])),
            winner: L1,
            loser_step: "local-pref",
        },
        Row {
            name: "as-path",
            first: (L1, path(&[65010, 65011])),
            second: (L2, path(&[65010])),
            winner: L2,
            loser_step: "as-path-length",
        },
        Row {
            name: "origin",
            first: (L1, with(&|p| p.origin = Some(Origin::Incomplete))),
            second: (L2, path(&[65010])),
            winner: L2,
            loser_step: "origin",
        },
        Row {
            name: "med",
            first: (L1, with(&|p| p.med = Some(50))),
            second: (L2, with(&|p| p.med = Some(10))),
            winner: L2,
            loser_step: "med",
        },
        Row {
            name: "med-other-neighbour-as",
            first: (L1, with(&|p| p.med = Some(50))),
            second: (
                L2,
                PathAttributes {
                    med: Some(10),
                    ..path(&[65020])
                },
            ),
            winner: L1,
            loser_step: "router-id",
        },
        Row {
            name: "ebgp-over-ibgp",
            first: (L1, path(&[65010])),
            second: (
                EXT,
                PathAttributes {
                    origin: Some(Origin::Igp),
                    ..Default::default()
                },
            ),
            winner: EXT,
            loser_step: "ebgp-over-ibgp",
        },
        Row {
            name: "cluster-list",
            first: (
                L1,
                with(&|p| p.cluster_list = vec![Ipv4Addr::new(9, 9, 9, 9)]),
            ),
            second: (L2, path(&[65010])),
            winner: L2,
            loser_step: "cluster-list-length",
        },
        Row {
            name: "router-id",
            first: (L1, path(&[65010])),
            second: (L2, path(&[65010])),
            winner: L1,
            loser_step: "router-id",
        },
        Row {
            name: "originator-id",
            first: (L1, path(&[65010])),
            second: (
                L2,
                with(&|p| p.originator_id = Some(Ipv4Addr::new(10, 0, 0, 2))),
            ),
            winner: L2,
            loser_step: "router-id",
        },
        Row {
            name: "peer-address",
            first: (
                L1,
                with(&|p| p.originator_id = Some(Ipv4Addr::new(10, 0, 0, 5))),
            ),
            second: (
                L2,
                with(&|p| p.originator_id = Some(Ipv4Addr::new(10, 0, 0, 5))),
            ),
            winner: L1,
            loser_step: "peer-address",
        },
    ]
}

fn prefix(i: usize) -> ipnet::IpNet {
    net(&format!("198.51.100.{}/32", i + 1))
}

#[test]
fn decision_table_with_loser_reasons() {
    let mut n = Net::new();
    let mut cfg = speaker_config(RR, Some(RR));
    cfg.multipath = true;
    let rr = n.add_with("rr", cfg);
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/28", 8)),
    );
    let ext_peer = PeerConfig {
        kind: PeerKind::External,
        remote_as: Some(65010),
        passive: true,
        ..ibgp(IpAddr::V4(EXT))
    };
    n.input(rr, Input::AddPeer(ext_peer));
    let mut nodes = std::collections::HashMap::new();
    // The announcing routers take nothing back from the RR, so their own routes stay
    // their best paths (and stay advertised) whatever the RR picks.
    let deaf = Policy {
        rules: vec![],
        default: Verdict::Reject("announcer".into()),
    };
    for addr in [L1, L2, L3] {
        let import = if addr == L3 {
            Policy::default()
        } else {
            deaf.clone()
        };
        let l = n.add(&addr.to_string(), addr, None);
        n.input(
            l,
            Input::AddPeer(PeerConfig {
                import,
                ..ibgp(IpAddr::V4(RR))
            }),
        );
        nodes.insert(addr, l);
    }
    let mut ext_cfg = speaker_config(EXT, None);
    ext_cfg.local_as = 65010;
    let ext = n.add_with("ext", ext_cfg);
    n.input(
        ext,
        Input::AddPeer(PeerConfig {
            kind: PeerKind::External,
            remote_as: Some(AS),
            import: deaf,
            ..ibgp(IpAddr::V4(RR))
        }),
    );
    nodes.insert(EXT, ext);
    let table = rows();
    for (i, row) in table.iter().enumerate() {
        for (from, attrs) in [&row.first, &row.second] {
            n.input(
                nodes[from],
                Input::Announce {
                    prefix: prefix(i),
                    attrs: attrs.clone(),
                },
            );
        }
    }
    n.advance(Duration::from_secs(5));
    for (i, row) in table.iter().enumerate() {
        let paths = n.nodes[rr].speaker.explain(prefix(i));
        assert_eq!(paths.len(), 2, "{}", row.name);
        assert!(paths[0].best, "{}", row.name);
        assert_eq!(
            paths[0].peer,
            Some(IpAddr::V4(row.winner)),
            "{}: winner",
            row.name
        );
        assert_eq!(
            paths[1].lost_at,
            Some(row.loser_step),
            "{}: loser step",
            row.name
        );
        // leaf3 gets the winner, reflected (or, from eBGP, with LOCAL_PREF added).
        let got = n.updates_for(nodes[&L3], IpAddr::V4(RR), prefix(i));
        let last = got
            .last()
            .unwrap_or_else(|| panic!("{}: leaf3 got nothing", row.name));
        assert_eq!(last.next_hop, Some(row.winner), "{}", row.name);
        if row.winner == EXT {
            assert_eq!((last.originator_id, last.local_pref), (None, Some(100)));
            assert_eq!(last.as_path, vec![AsSegment::Sequence(vec![65010])]);
        } else {
            assert!(last.originator_id.is_some() && last.cluster_list.first() == Some(&RR));
        }
    }
    // Multipath: paths equal up to the IGP step share the FIB entry.
    let fib = |n: &Net, i: usize| n.nodes[rr].fib.get(&prefix(i)).cloned().unwrap_or_default();
    let (l1, l2) = (IpAddr::V4(L1), IpAddr::V4(L2));
    assert_eq!(fib(&n, 0), vec![l1], "local-pref decides: one next hop");
    assert_eq!(
        fib(&n, 7),
        vec![l1, l2],
        "router-id tie-break: both next hops"
    );
    assert_eq!(
        fib(&n, 9),
        vec![l1, l2],
        "peer-address tie-break: both next hops"
    );
    // A better path arriving later replaces the best and the FIB.
    let mut better = path(&[65010]);
    better.local_pref = Some(300);
    n.input(
        nodes[&L2],
        Input::Announce {
            prefix: prefix(0),
            attrs: better,
        },
    );
    assert_eq!(fib(&n, 0), vec![l2]);
    assert_eq!(
        n.nodes[rr].speaker.explain(prefix(0))[1].lost_at,
        Some("local-pref")
    );
}
