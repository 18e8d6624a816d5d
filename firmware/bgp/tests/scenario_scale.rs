//! 100k prefixes: ingest from one client, reflect to two others (correctness only; speed
//! belongs in benchmarks).
//!
//! ```text
//!   feeder (raw) 10.0.0.50 -- 100k /32 in packed UPDATEs -->  rr 10.0.0.1  --> leaf1 .11, leaf2 .12
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::speaker::Input;
use bgp::wire::{self, Message, Origin, PathAttributes};
use ipnet::Ipv4Net;
use scenario_net::*;

const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const FEEDER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const COUNT: u32 = 100_000;

fn host(i: u32) -> Ipv4Net {
    // 100.64.0.0/10 (shared address space) holds 4M hosts, plenty for the test.
    Ipv4Net::new(Ipv4Addr::from(0x6440_0000 + i), 32).unwrap()
}

#[test]
fn hundred_thousand_prefixes_ingested_and_reflected() {
    let mut n = Net::new();
    let rr = n.add("rr", RR, Some(RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 8)),
    );
    let leaves: Vec<usize> = (1..=2u8)
        .map(|i| {
            let addr = Ipv4Addr::new(10, 0, 0, 10 + i);
            let l = n.add(&format!("leaf{i}"), addr, None);
            n.input(l, Input::AddPeer(ibgp(IpAddr::V4(RR))));
            l
        })
        .collect();
    n.advance(Duration::from_secs(1));
    let feeder = n.raw_session(FEEDER, rr);
    // Two attribute sets, alternating by prefix.
    let attrs = |lp: u32| PathAttributes {
        origin: Some(Origin::Igp),
        next_hop: Some(FEEDER),
        local_pref: Some(lp),
        ..Default::default()
    };
    let mut msgs = Vec::new();
    for (lp, parity) in [(100, 0), (200, 1)] {
        let nlri: Vec<Ipv4Net> = (0..COUNT).filter(|i| i % 2 == parity).map(host).collect();
        wire::pack_updates(&RAW_CTX, &attrs(lp), &nlri, &mut msgs);
    }
    let stream: Vec<u8> = msgs.concat();
    // Deliver in odd-sized chunks so framing across chunk borders is exercised.
    for chunk in stream.chunks(65_521) {
        n.raw_send(feeder, chunk);
    }
    let rr_status = n.nodes[rr].speaker.peers();
    let fst = rr_status
        .iter()
        .find(|p| p.address == IpAddr::V4(FEEDER))
        .unwrap();
    assert_eq!(
        (fst.received, fst.accepted),
        (u64::from(COUNT), u64::from(COUNT))
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), COUNT as usize);
    assert_eq!(n.nodes[rr].fib.len(), COUNT as usize);
    // Interned: a handful of attribute sets, not one per prefix.
    assert!(
        n.nodes[rr].speaker.attribute_sets() < 16,
        "{}",
        n.nodes[rr].speaker.attribute_sets()
    );
    for &l in &leaves {
        assert_eq!(n.nodes[l].fib.len(), COUNT as usize);
        assert_eq!(
            n.nodes[l].fib.get(&host(7).into()),
            Some(&vec![IpAddr::V4(FEEDER)])
        );
        let st = n.nodes[rr]
            .speaker
            .peers()
            .into_iter()
            .find(|p| p.address == n.nodes[l].addr)
            .unwrap();
        assert_eq!(st.advertised, u64::from(COUNT));
        // Packed: about 100k / 1000 /32s per UPDATE, certainly not one per prefix.
        let updates = n.updates_sent(rr, n.nodes[l].addr);
        assert!(updates < 300, "{updates} UPDATEs for {COUNT} prefixes");
        // Every reflected UPDATE carries ORIGINATOR_ID and CLUSTER_LIST.
        for (to, m) in &n.nodes[rr].sent {
            if let (true, Message::Update(u)) = (*to == n.nodes[l].addr, m)
                && !u.nlri.is_empty()
            {
                assert_eq!(
                    (u.attrs.originator_id, &u.attrs.cluster_list[..]),
                    (Some(FEEDER), &[RR][..])
                );
            }
        }
    }
    // A leaf joining now gets the full table, packed.
    let late_addr = Ipv4Addr::new(10, 0, 0, 13);
    let late = n.add("late", late_addr, None);
    n.input(late, Input::AddPeer(ibgp(IpAddr::V4(RR))));
    n.advance(Duration::from_secs(1));
    assert_eq!(n.nodes[late].fib.len(), COUNT as usize);
    assert!(n.updates_sent(rr, IpAddr::V4(late_addr)) < 300);
    // Withdraw half: the leaves follow.
    let gone: Vec<Ipv4Net> = (0..COUNT).filter(|i| i % 2 == 0).map(host).collect();
    let mut msgs = Vec::new();
    wire::pack_withdrawals(&RAW_CTX, &gone, &mut msgs);
    n.raw_send(feeder, &msgs.concat());
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), COUNT as usize / 2);
    for &l in leaves.iter().chain([&late]) {
        assert_eq!(n.nodes[l].fib.len(), COUNT as usize / 2);
        assert!(!n.nodes[l].fib.contains_key(&host(0).into()));
    }
    // The feeder goes away: everything is withdrawn everywhere.
    n.raw_send(
        feeder,
        &bytes(&Message::Notification(wire::Notification {
            code: 6,
            subcode: 2,
            data: vec![],
        })),
    );
    assert_eq!(n.nodes[rr].speaker.loc_rib_len(), 0);
    for &l in leaves.iter().chain([&late]) {
        assert!(n.nodes[l].fib.is_empty());
    }
}
