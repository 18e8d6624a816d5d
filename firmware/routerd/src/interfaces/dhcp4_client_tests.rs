//! Tests of the DHCPv4 client's exchanges: DISCOVER, OFFER, REQUEST, ACK and NAK,
//! retransmissions, and what it ignores.

use std::net::Ipv4Addr;
use std::time::Duration;

use smoltcp::wire::{DhcpMessageType, EthernetAddress};

use super::dhcp4_client::*;
use super::dhcp4_test_server::*;

#[test]
fn discover_is_broadcast_with_the_flag_mac_and_parameter_list() {
    let (client, discover, start) = selecting();
    assert_eq!(client.state(), DhcpState::Selecting);
    assert_eq!(discover.to, Destination::Broadcast);
    assert_eq!(discover.message_type, DhcpMessageType::Discover);
    assert!(
        discover.broadcast,
        "broadcast flag set before the client has an address"
    );
    assert_eq!(discover.chaddr, EthernetAddress(MAC));
    assert_eq!(discover.client_id, Some(EthernetAddress(MAC)));
    assert_eq!(discover.client_ip, Ipv4Addr::UNSPECIFIED);
    assert!(discover.asks_router);
    assert!(
        discover.len >= 300,
        "BOOTP minimum size, got {}",
        discover.len
    );
    // Retransmission due after 4 s ± 1 s.
    let due = client.poll_timeout().unwrap() - start;
    assert!(
        (Duration::from_secs(3)..=Duration::from_secs(5)).contains(&due),
        "{due:?}"
    );
}

#[test]
fn offer_then_ack_binds_with_mask_router_and_server_times() {
    let (mut client, discover, start) = selecting();
    let at = start + Duration::from_millis(10);
    client
        .handle_packet(at, &reply(DhcpMessageType::Offer, discover.xid, MAC, None))
        .unwrap();
    assert_eq!(client.state(), DhcpState::Requesting);
    let (sent, events) = outputs(&mut client);
    assert!(events.is_empty());
    let request = &sent[0];
    assert_eq!(request.message_type, DhcpMessageType::Request);
    assert_eq!(request.to, Destination::Broadcast);
    assert!(request.broadcast);
    assert_eq!(
        request.xid, discover.xid,
        "REQUEST answers the OFFER's exchange"
    );
    assert_eq!(request.requested_ip, Some(OFFERED));
    assert_eq!(request.server_identifier, Some(SERVER));

    client
        .handle_packet(
            at,
            &reply(DhcpMessageType::Ack, request.xid, MAC, Some((30, 90))),
        )
        .unwrap();
    assert_eq!(client.state(), DhcpState::Bound);
    let (_, events) = outputs(&mut client);
    let [LeaseEvent::Acquired(lease)] = &events[..] else {
        panic!("expected one Acquired, got {events:?}");
    };
    assert_eq!(lease.address, OFFERED);
    assert_eq!(lease.prefix_len, 24);
    assert_eq!(lease.router, Some(SERVER));
    assert_eq!(lease.server, SERVER);
    assert_eq!(lease.renew_at, Some(at + Duration::from_secs(30)));
    assert_eq!(lease.rebind_at, Some(at + Duration::from_secs(90)));
    assert_eq!(lease.expires_at, Some(at + Duration::from_secs(120)));
    assert_eq!(client.poll_timeout(), lease.renew_at);
}

#[test]
fn wrong_xid_or_chaddr_and_garbage_are_ignored() {
    let (mut client, discover, start) = selecting();
    let offer = |xid, mac| reply(DhcpMessageType::Offer, xid, mac, None);
    assert_eq!(
        client.handle_packet(start, &offer(discover.xid.wrapping_add(1), MAC)),
        Err(Ignored::WrongXid)
    );
    let mut other = MAC;
    other[5] ^= 1;
    assert_eq!(
        client.handle_packet(start, &offer(discover.xid, other)),
        Err(Ignored::NotForUs)
    );
    assert_eq!(
        client.handle_packet(start, &reply(DhcpMessageType::Ack, discover.xid, MAC, None)),
        Err(Ignored::Unexpected),
        "an ACK while selecting"
    );
    assert_eq!(
        client.handle_packet(start, &[0u8; 100]),
        Err(Ignored::Malformed)
    );
    assert_eq!(client.state(), DhcpState::Selecting);
    assert_eq!(client.poll_output(), None);
}

#[test]
fn any_truncation_or_corruption_never_panics() {
    let (mut client, discover, start) = selecting();
    let good = reply(DhcpMessageType::Offer, discover.xid, MAC, Some((30, 90)));
    for cut in 0..good.len() {
        let _ = client.handle_packet(start, &good[..cut]);
    }
    let mut state = 7u32;
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..4 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (state >> 8) as usize % bytes.len();
            bytes[i] = (state >> 16) as u8;
        }
        let _ = client.handle_packet(start, &bytes);
    }
}

#[test]
fn nak_while_requesting_restarts_with_a_new_exchange() {
    let (mut client, request, start) = requesting(Duration::ZERO);
    client
        .handle_packet(start, &reply(DhcpMessageType::Nak, request.xid, MAC, None))
        .unwrap();
    assert_eq!(client.state(), DhcpState::Init);
    assert_eq!(client.poll_timeout(), Some(start + RESTART_DELAY));
    client.handle_timeout(start + RESTART_DELAY);
    let (sent, _) = outputs(&mut client);
    assert_eq!(sent[0].message_type, DhcpMessageType::Discover);
    assert_ne!(sent[0].xid, request.xid);
}

#[test]
fn discover_retransmissions_back_off_to_the_maximum() {
    let (mut client, _, start) = selecting();
    let mut previous = start;
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let due = client.poll_timeout().unwrap();
        gaps.push((due - previous).as_secs_f64());
        client.handle_timeout(due);
        let (sent, _) = outputs(&mut client);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message_type, DhcpMessageType::Discover);
        previous = due;
    }
    let expected = [4.0, 8.0, 16.0, 32.0, 64.0, 64.0];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!((gap - want).abs() <= 1.0, "gaps {gaps:?}");
    }
}

#[test]
fn unanswered_requests_fall_back_to_discover() {
    let (mut client, discover, start) = selecting();
    client
        .handle_packet(
            start,
            &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
        )
        .unwrap();
    outputs(&mut client);
    let mut requests = 1;
    loop {
        let due = client.poll_timeout().unwrap();
        client.handle_timeout(due);
        let (sent, _) = outputs(&mut client);
        if sent[0].message_type == DhcpMessageType::Discover {
            break;
        }
        requests += 1;
        assert!(requests <= REQUEST_ATTEMPTS, "too many REQUESTs");
    }
    assert_eq!(requests, REQUEST_ATTEMPTS);
    assert_eq!(client.state(), DhcpState::Selecting);
}

#[test]
fn an_ack_without_lease_time_or_address_is_incomplete() {
    let (mut client, request, start) = requesting(Duration::ZERO);
    assert_eq!(
        client.handle_packet(start, &ack_for(request.xid, Ipv4Addr::UNSPECIFIED, None)),
        Err(Ignored::Incomplete)
    );
    let mut no_lease_time = ack_for(request.xid, OFFERED, None);
    let at = no_lease_time.windows(2).position(|w| w == [51, 4]).unwrap();
    no_lease_time[at] = 0xfe; // an unknown option instead of the lease time
    assert_eq!(
        client.handle_packet(start, &no_lease_time),
        Err(Ignored::Incomplete)
    );
    assert_eq!(client.state(), DhcpState::Requesting);
}
