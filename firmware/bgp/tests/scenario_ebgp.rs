//! eBGP export rules, export policy, AS loop detection and IPv6 over MP_REACH.
//!
//! ```text
//!   leaf 10.0.0.11 (AS 65000) -- iBGP --  a 10.0.0.1 (AS 65000) -- eBGP --  ext 10.0.0.30 (AS 65010)
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::policy::{CommunityMatch, Match, Modification, Policy, Rule, Verdict, community};
use bgp::speaker::{Input, PeerConfig, PeerKind};
use bgp::wire::{AsSegment, PathAttributes, RawAttribute};
use scenario_net::*;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const LEAF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const EXT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 30);
const BLOCKED: u32 = community(65000, 666);
const TAG: u32 = community(65000, 1);

fn ext_peer(remote: Ipv4Addr, asn: u32) -> PeerConfig {
    PeerConfig {
        kind: PeerKind::External,
        remote_as: Some(asn),
        ..ibgp(IpAddr::V4(remote))
    }
}

fn topology() -> (Net, usize, usize, usize) {
    let mut n = Net::new();
    let a = n.add("a", A, None);
    let leaf = n.add("leaf", LEAF, None);
    let mut ext_cfg = speaker_config(EXT, None);
    ext_cfg.local_as = 65010;
    let ext = n.add_with("ext", ext_cfg);
    let export = Policy {
        rules: vec![
            Rule {
                when: Match {
                    prefixes: None,
                    communities: vec![CommunityMatch::Any(vec![BLOCKED])],
                },
                modify: vec![],
                verdict: Some(Verdict::Reject("blocked".into())),
            },
            Rule {
                when: Match::default(),
                modify: vec![Modification::AddCommunity(TAG)],
                verdict: None,
            },
        ],
        default: Verdict::Accept,
    };
    n.input(
        a,
        Input::AddPeer(PeerConfig {
            passive: true,
            next_hop_self: true,
            ..ibgp(IpAddr::V4(LEAF))
        }),
    );
    n.input(
        a,
        Input::AddPeer(PeerConfig {
            export,
            ..ext_peer(EXT, 65010)
        }),
    );
    n.input(leaf, Input::AddPeer(ibgp(IpAddr::V4(A))));
    n.input(
        ext,
        Input::AddPeer(PeerConfig {
            passive: true,
            ..ext_peer(A, AS)
        }),
    );
    n.advance(Duration::from_secs(5));
    assert_eq!(n.state(a, IpAddr::V4(EXT)).as_deref(), Some("Established"));
    assert_eq!(n.state(a, IpAddr::V4(LEAF)).as_deref(), Some("Established"));
    (n, a, leaf, ext)
}

#[test]
fn ibgp_route_exported_to_ebgp_peer() {
    let (mut n, a, leaf, ext) = topology();
    let unknown = RawAttribute {
        flags: 0xc0,
        type_code: 99,
        value: vec![1, 2],
    };
    let attrs = PathAttributes {
        local_pref: Some(200),
        med: Some(5),
        communities: vec![community(65000, 7)],
        unknown: vec![unknown],
        ..origin_attrs()
    };
    n.input(
        leaf,
        Input::Announce {
            prefix: net("198.51.100.1/32"),
            attrs: attrs.clone(),
        },
    );
    let blocked = PathAttributes {
        communities: vec![BLOCKED],
        ..origin_attrs()
    };
    n.input(
        leaf,
        Input::Announce {
            prefix: net("198.51.100.2/32"),
            attrs: blocked,
        },
    );
    let got = n.updates_for(ext, IpAddr::V4(A), net("198.51.100.1/32"));
    assert_eq!(got.len(), 1);
    let e = &got[0];
    assert_eq!(e.as_path, vec![AsSegment::Sequence(vec![AS])]);
    assert_eq!(e.next_hop, Some(A));
    assert_eq!((e.local_pref, e.med, e.originator_id), (None, None, None));
    assert_eq!(e.communities, vec![community(65000, 7), TAG]);
    assert_eq!(e.unknown.len(), 1);
    assert_eq!(
        e.unknown[0].flags & 0x20,
        0x20,
        "partial bit set on a passed-on attribute"
    );
    assert!(n.nodes[ext].fib.contains_key(&net("198.51.100.1/32")));
    // Rejected by the export policy.
    assert!(
        n.updates_for(ext, IpAddr::V4(A), net("198.51.100.2/32"))
            .is_empty()
    );
    assert!(!n.nodes[ext].fib.contains_key(&net("198.51.100.2/32")));
    assert_eq!(n.nodes[a].speaker.loc_rib_len(), 2);
}

#[test]
fn ebgp_route_to_ibgp_with_next_hop_self_and_as_loop_rejected() {
    let (mut n, a, leaf, ext) = topology();
    n.input(
        ext,
        Input::Announce {
            prefix: net("203.0.113.0/24"),
            attrs: origin_attrs(),
        },
    );
    let got = n.updates_for(leaf, IpAddr::V4(A), net("203.0.113.0/24"));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_path, vec![AsSegment::Sequence(vec![65010])]);
    assert_eq!(got[0].local_pref, Some(100));
    assert_eq!(got[0].next_hop, Some(A), "next-hop-self towards the leaf");
    assert_eq!(
        n.nodes[a].fib.get(&net("203.0.113.0/24")),
        Some(&vec![IpAddr::V4(EXT)])
    );
    // A path that already went through AS 65000 is a loop.
    let looped = PathAttributes {
        as_path: vec![AsSegment::Sequence(vec![AS])],
        ..origin_attrs()
    };
    n.input(
        ext,
        Input::Announce {
            prefix: net("192.0.2.0/24"),
            attrs: looped,
        },
    );
    assert!(!n.nodes[a].fib.contains_key(&net("192.0.2.0/24")));
    let st = n.nodes[a]
        .speaker
        .peers()
        .into_iter()
        .find(|p| p.address == IpAddr::V4(EXT))
        .unwrap();
    assert_eq!(st.rejected, vec![("as-loop".to_string(), 1)]);
    assert_eq!(st.accepted, 1);
}

#[test]
fn ipv6_routes_travel_in_mp_reach() {
    let (mut n, a, leaf, ext) = topology();
    // End-of-RIB for IPv4 and IPv6 followed the (empty) initial table.
    let eors = n.nodes[ext]
        .inbox
        .iter()
        .filter(|(from, m)| {
            *from == IpAddr::V4(A)
                && matches!(m, bgp::wire::Message::Update(u)
                    if u.nlri.is_empty() && u.withdrawn.is_empty() && u.attrs.mp_reach.is_none())
        })
        .count();
    assert_eq!(eors, 2);
    n.input(
        leaf,
        Input::Announce {
            prefix: net("2001:db8:1::/48"),
            attrs: origin_attrs(),
        },
    );
    let mapped = |v: Ipv4Addr| IpAddr::V6(v.to_ipv6_mapped());
    assert_eq!(
        n.nodes[a].fib.get(&net("2001:db8:1::/48")),
        Some(&vec![mapped(LEAF)])
    );
    assert_eq!(
        n.nodes[ext].fib.get(&net("2001:db8:1::/48")),
        Some(&vec![mapped(A)])
    );
    let paths = n.nodes[ext].speaker.explain(net("2001:db8:1::/48"));
    assert_eq!(paths[0].attrs.as_path, vec![AsSegment::Sequence(vec![AS])]);
    n.input(leaf, Input::Withdraw(net("2001:db8:1::/48")));
    assert!(n.nodes[ext].fib.is_empty() && n.nodes[a].fib.is_empty());
}
