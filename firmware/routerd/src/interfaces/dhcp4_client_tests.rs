//! Tests of the DHCPv4 client state machine: the client's packets parsed with smoltcp,
//! server packets built with smoltcp and fed in, timers driven by hand.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::{DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress};

use super::dhcp4_client::*;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OFFERED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const LEASE_SECS: u32 = 120;

/// A client message as the server sees it.
#[derive(Debug)]
struct Sent {
    to: Destination,
    message_type: DhcpMessageType,
    xid: u32,
    broadcast: bool,
    client_ip: Ipv4Addr,
    requested_ip: Option<Ipv4Addr>,
    server_identifier: Option<Ipv4Addr>,
    chaddr: EthernetAddress,
    client_id: Option<EthernetAddress>,
    asks_router: bool,
    len: usize,
}

fn parse_sent(to: Destination, bytes: &[u8]) -> Sent {
    let packet = DhcpPacket::new_checked(bytes).expect("client packet has a full header");
    let repr = DhcpRepr::parse(&packet).expect("smoltcp parses the client packet");
    Sent {
        to,
        message_type: repr.message_type,
        xid: repr.transaction_id,
        broadcast: repr.broadcast,
        client_ip: repr.client_ip,
        requested_ip: repr.requested_ip,
        server_identifier: repr.server_identifier,
        chaddr: repr.client_hardware_address,
        client_id: repr.client_identifier,
        asks_router: repr.parameter_request_list.is_some_and(|l| l.contains(&3)),
        len: bytes.len(),
    }
}

/// Drains the client: its packets (parsed) and its events.
fn outputs(client: &mut Dhcp4Client) -> (Vec<Sent>, Vec<LeaseEvent>) {
    let mut sent = Vec::new();
    let mut events = Vec::new();
    while let Some(output) = client.poll_output() {
        match output {
            Output::Transmit { to, bytes } => sent.push(parse_sent(to, &bytes)),
            Output::Event(event) => events.push(event),
        }
    }
    (sent, events)
}

/// An ACK for `your_ip` with `mask` (none: the server sent no subnet mask).
fn ack_for(xid: u32, your_ip: Ipv4Addr, mask: Option<Ipv4Addr>) -> Vec<u8> {
    let repr = DhcpRepr {
        message_type: DhcpMessageType::Ack,
        transaction_id: xid,
        secs: 0,
        client_hardware_address: EthernetAddress(MAC),
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: mask,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(SERVER),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(LEASE_SECS),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut DhcpPacket::new_unchecked(&mut bytes[..]))
        .expect("server packet fits");
    bytes
}

/// One server reply built with smoltcp.
fn reply(
    message_type: DhcpMessageType,
    xid: u32,
    mac: [u8; 6],
    t1_t2: Option<(u32, u32)>,
) -> Vec<u8> {
    let t1t2_bytes = t1_t2.map(|(t1, t2)| (t1.to_be_bytes(), t2.to_be_bytes()));
    let extra: Vec<DhcpOption<'_>> = match &t1t2_bytes {
        Some((t1, t2)) => vec![
            DhcpOption { kind: 58, data: t1 },
            DhcpOption { kind: 59, data: t2 },
        ],
        None => Vec::new(),
    };
    let granting = message_type != DhcpMessageType::Nak;
    let repr = DhcpRepr {
        message_type,
        transaction_id: xid,
        secs: 0,
        client_hardware_address: EthernetAddress(mac),
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: if granting {
            OFFERED
        } else {
            Ipv4Addr::UNSPECIFIED
        },
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: granting.then_some(SERVER),
        subnet_mask: granting.then_some(Ipv4Addr::new(255, 255, 255, 0)),
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: true,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(SERVER),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: granting.then_some(LEASE_SECS),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &extra,
    };
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut DhcpPacket::new_unchecked(&mut bytes[..]))
        .expect("server packet fits");
    bytes
}

/// A client that has sent its first DISCOVER; returns it, the DISCOVER and the start.
fn selecting() -> (Dhcp4Client, Sent, Instant) {
    let start = Instant::now();
    let mut client = Dhcp4Client::new(MAC, 42, start);
    assert_eq!(client.poll_timeout(), Some(start));
    client.handle_timeout(start);
    let (mut sent, events) = outputs(&mut client);
    assert!(events.is_empty());
    assert_eq!(sent.len(), 1);
    (client, sent.remove(0), start)
}

/// A client bound to OFFERED; returns it, the lease and the time of the REQUEST.
fn bound(t1_t2: Option<(u32, u32)>) -> (Dhcp4Client, Lease, Instant) {
    let (mut client, discover, start) = selecting();
    let offered_at = start + Duration::from_millis(20);
    client
        .handle_packet(
            offered_at,
            &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
        )
        .unwrap();
    let (sent, _) = outputs(&mut client);
    let acked_at = offered_at + Duration::from_millis(20);
    client
        .handle_packet(
            acked_at,
            &reply(DhcpMessageType::Ack, sent[0].xid, MAC, t1_t2),
        )
        .unwrap();
    let (_, mut events) = outputs(&mut client);
    let Some(LeaseEvent::Acquired(lease)) = events.pop() else {
        panic!("no lease acquired");
    };
    (client, lease, offered_at)
}

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
fn default_t1_t2_are_half_and_seven_eighths() {
    let (_, lease, sent_at) = bound(None);
    assert_eq!(lease.renew_at, Some(sent_at + Duration::from_secs(60)));
    assert_eq!(lease.rebind_at, Some(sent_at + Duration::from_secs(105)));
    // Inconsistent server times (T1 > T2) fall back to the defaults too.
    let (_, lease, sent_at) = bound(Some((100, 50)));
    assert_eq!(lease.renew_at, Some(sent_at + Duration::from_secs(60)));
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
    let (mut client, discover, start) = selecting();
    client
        .handle_packet(
            start,
            &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
        )
        .unwrap();
    let (sent, _) = outputs(&mut client);
    client
        .handle_packet(start, &reply(DhcpMessageType::Nak, sent[0].xid, MAC, None))
        .unwrap();
    assert_eq!(client.state(), DhcpState::Init);
    assert_eq!(client.poll_timeout(), Some(start + RESTART_DELAY));
    client.handle_timeout(start + RESTART_DELAY);
    let (sent, _) = outputs(&mut client);
    assert_eq!(sent[0].message_type, DhcpMessageType::Discover);
    assert_ne!(sent[0].xid, discover.xid);
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
fn renew_at_t1_is_unicast_and_an_ack_extends() {
    let (mut client, lease, _) = bound(None);
    let t1 = lease.renew_at.unwrap();
    client.handle_timeout(t1 - Duration::from_millis(1));
    assert_eq!(client.poll_output(), None, "nothing before T1");
    client.handle_timeout(t1);
    assert_eq!(client.state(), DhcpState::Renewing);
    let (sent, _) = outputs(&mut client);
    let renew = &sent[0];
    assert_eq!(renew.message_type, DhcpMessageType::Request);
    assert_eq!(renew.to, Destination::Server(SERVER));
    assert_eq!(renew.client_ip, OFFERED);
    assert!(!renew.broadcast);
    assert_eq!(
        renew.requested_ip, None,
        "RFC 2131: no requested ip while renewing"
    );
    assert_eq!(renew.server_identifier, None);
    // The next try is half the way to T2 (45 s left → 22.5 s).
    let retry = client.poll_timeout().unwrap() - t1;
    assert_eq!(retry, Duration::from_millis(22_500));

    client
        .handle_packet(t1, &reply(DhcpMessageType::Ack, renew.xid, MAC, None))
        .unwrap();
    assert_eq!(client.state(), DhcpState::Bound);
    let (_, events) = outputs(&mut client);
    let [LeaseEvent::Extended(extended)] = &events[..] else {
        panic!("expected Extended, got {events:?}");
    };
    assert_eq!(extended.address, OFFERED);
    assert_eq!(extended.renew_at, Some(t1 + Duration::from_secs(60)));
}

#[test]
fn rebind_at_t2_is_broadcast_and_expiry_removes_the_address() {
    let (mut client, lease, _) = bound(None);
    let t2 = lease.rebind_at.unwrap();
    let expiry = lease.expires_at.unwrap();
    let mut renew_xid = None;
    let mut rebinds = 0;
    while let Some(due) = client.poll_timeout()
        && due < expiry
    {
        client.handle_timeout(due);
        let (sent, events) = outputs(&mut client);
        assert!(events.is_empty(), "lease kept until expiry: {events:?}");
        let request = &sent[0];
        if due < t2 {
            assert_eq!(request.to, Destination::Server(SERVER));
            renew_xid.get_or_insert(request.xid);
            assert_eq!(Some(request.xid), renew_xid, "retransmissions keep the xid");
        } else {
            assert_eq!(client.state(), DhcpState::Rebinding);
            assert_eq!(request.to, Destination::Broadcast);
            assert_eq!(request.client_ip, OFFERED);
            assert_ne!(Some(request.xid), renew_xid, "rebinding is a new exchange");
            rebinds += 1;
        }
    }
    assert!(rebinds >= 1);
    assert_eq!(client.poll_timeout(), Some(expiry));
    client.handle_timeout(expiry);
    let (sent, events) = outputs(&mut client);
    assert_eq!(
        events,
        vec![LeaseEvent::Lost {
            lease: lease.clone(),
            reason: LossReason::Expired
        }]
    );
    assert_eq!(
        sent[0].message_type,
        DhcpMessageType::Discover,
        "starts over at once"
    );
    assert!(client.lease().is_none());
}

#[test]
fn nak_while_renewing_drops_the_lease() {
    let (mut client, lease, _) = bound(None);
    let t1 = lease.renew_at.unwrap();
    client.handle_timeout(t1);
    let (sent, _) = outputs(&mut client);
    client
        .handle_packet(t1, &reply(DhcpMessageType::Nak, sent[0].xid, MAC, None))
        .unwrap();
    let (_, events) = outputs(&mut client);
    assert_eq!(
        events,
        vec![LeaseEvent::Lost {
            lease,
            reason: LossReason::Nak
        }]
    );
    assert_eq!(client.state(), DhcpState::Init);
    assert_eq!(client.poll_timeout(), Some(t1 + RESTART_DELAY));
}

#[test]
fn release_is_unicast_before_the_address_goes_and_stops_the_client() {
    let (mut client, lease, sent_at) = bound(None);
    client.release(sent_at + Duration::from_secs(5));
    let mut order = Vec::new();
    while let Some(output) = client.poll_output() {
        order.push(output);
    }
    let [Output::Transmit { to, bytes }, Output::Event(event)] = &order[..] else {
        panic!("expected RELEASE then the event, got {order:?}");
    };
    let release = parse_sent(*to, bytes);
    assert_eq!(release.message_type, DhcpMessageType::Release);
    assert_eq!(release.to, Destination::Server(SERVER));
    assert_eq!(release.client_ip, OFFERED);
    assert_eq!(release.server_identifier, Some(SERVER));
    assert_eq!(
        *event,
        LeaseEvent::Lost {
            lease,
            reason: LossReason::Released
        }
    );
    assert_eq!(client.state(), DhcpState::Stopped);
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn infinite_lease_never_renews() {
    let (mut client, discover, start) = selecting();
    client
        .handle_packet(
            start,
            &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
        )
        .unwrap();
    let (sent, _) = outputs(&mut client);
    let mut ack = reply(DhcpMessageType::Ack, sent[0].xid, MAC, None);
    // Patch option 51's value to 0xffffffff ("infinite").
    let at = ack.windows(2).position(|w| w == [51, 4]).unwrap() + 2;
    ack[at..at + 4].copy_from_slice(&[0xff; 4]);
    client.handle_packet(start, &ack).unwrap();
    assert_eq!(client.state(), DhcpState::Bound);
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.lease().unwrap().expires_at, None);
}

#[test]
fn an_ack_with_another_address_replaces_the_lease() {
    let (mut client, lease, _) = bound(None);
    let t1 = lease.renew_at.unwrap();
    client.handle_timeout(t1);
    let (sent, _) = outputs(&mut client);
    let moved = Ipv4Addr::new(10, 20, 30, 40);
    client
        .handle_packet(t1, &ack_for(sent[0].xid, moved, None))
        .unwrap();
    let (_, events) = outputs(&mut client);
    let [
        LeaseEvent::Lost {
            lease: old,
            reason: LossReason::Replaced,
        },
        LeaseEvent::Acquired(new),
    ] = &events[..]
    else {
        panic!("expected Lost(Replaced) then Acquired, got {events:?}");
    };
    assert_eq!(old.address, OFFERED);
    assert_eq!(new.address, moved);
    assert_eq!(new.prefix_len, 8, "no subnet mask: classful prefix of 10/8");
    assert_eq!(new.router, None);
}

#[test]
fn subnet_masks_become_prefix_lengths_and_odd_masks_fall_back_to_classful() {
    let prefix = |address: Ipv4Addr, mask: Option<Ipv4Addr>| {
        let (mut client, discover, start) = selecting();
        client
            .handle_packet(
                start,
                &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
            )
            .unwrap();
        let (sent, _) = outputs(&mut client);
        client
            .handle_packet(start, &ack_for(sent[0].xid, address, mask))
            .unwrap();
        client.lease().unwrap().prefix_len
    };
    let net = Ipv4Addr::new(198, 51, 100, 7);
    assert_eq!(prefix(net, Some(Ipv4Addr::new(255, 255, 255, 252))), 30);
    assert_eq!(prefix(net, Some(Ipv4Addr::new(255, 255, 255, 255))), 32);
    assert_eq!(prefix(net, Some(Ipv4Addr::new(255, 255, 0, 0))), 16);
    // Non-contiguous and zero masks are not prefixes: class C for 198.51.100.7.
    assert_eq!(prefix(net, Some(Ipv4Addr::new(255, 0, 255, 0))), 24);
    assert_eq!(prefix(net, Some(Ipv4Addr::UNSPECIFIED)), 24);
    assert_eq!(prefix(Ipv4Addr::new(172, 16, 0, 9), None), 16);
}

#[test]
fn an_ack_without_lease_time_or_address_is_incomplete() {
    let (mut client, discover, start) = selecting();
    client
        .handle_packet(
            start,
            &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
        )
        .unwrap();
    let (sent, _) = outputs(&mut client);
    assert_eq!(
        client.handle_packet(start, &ack_for(sent[0].xid, Ipv4Addr::UNSPECIFIED, None)),
        Err(Ignored::Incomplete)
    );
    let mut no_lease_time = ack_for(sent[0].xid, OFFERED, None);
    let at = no_lease_time.windows(2).position(|w| w == [51, 4]).unwrap();
    no_lease_time[at] = 0xfe; // an unknown option instead of the lease time
    assert_eq!(
        client.handle_packet(start, &no_lease_time),
        Err(Ignored::Incomplete)
    );
    assert_eq!(client.state(), DhcpState::Requesting);
}
