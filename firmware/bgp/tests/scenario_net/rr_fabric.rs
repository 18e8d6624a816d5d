//! The route-reflector fabric several scenarios start from: an RR at 10.0.0.1 admitting
//! its clients from the dynamic range 10.0.0.0/24, and leaves 10.0.0.(10+i) that each
//! announce 198.51.100.i/32 (or nothing: [`rr_with_quiet_leaves`]), run until every
//! session is up and every route installed.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::speaker::Input;

use super::{Net, client_range, ibgp, net, origin_attrs};

/// The RR's address, router id and cluster id.
pub const FABRIC_RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Leaf `i`'s address (1-based).
pub fn fabric_leaf_addr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10 + i))
}

/// The /32 leaf `i` announces.
pub fn fabric_leaf_prefix(i: u8) -> ipnet::IpNet {
    net(&format!("198.51.100.{i}/32"))
}

/// The RR and `count` leaves after 5 s of simulated time; returns the network, the RR's
/// node index and the leaves' node indices (leaf `i` at position `i - 1`).
pub fn rr_with_leaves(count: u8) -> (Net, usize, Vec<usize>) {
    fabric(count, true)
}

/// [`rr_with_leaves`] with leaves that announce nothing.
pub fn rr_with_quiet_leaves(count: u8) -> (Net, usize, Vec<usize>) {
    fabric(count, false)
}

fn fabric(count: u8, announce: bool) -> (Net, usize, Vec<usize>) {
    let mut n = Net::new();
    let rr = n.add("rr", FABRIC_RR, Some(FABRIC_RR));
    n.input(
        rr,
        Input::AddRange(client_range("leaves", "10.0.0.0/24", 10)),
    );
    let mut leaves = Vec::new();
    for i in 1..=count {
        let addr = Ipv4Addr::new(10, 0, 0, 10 + i);
        let l = n.add(&format!("leaf{i}"), addr, None);
        n.input(l, Input::AddPeer(ibgp(IpAddr::V4(FABRIC_RR))));
        if announce {
            n.input(
                l,
                Input::Announce {
                    prefix: fabric_leaf_prefix(i),
                    attrs: origin_attrs(),
                },
            );
        }
        leaves.push(l);
    }
    n.advance(Duration::from_secs(5));
    (n, rr, leaves)
}
