//! Tests of the DHCPv4 client's lease: T1/T2 times, renewing (unicast), rebinding
//! (broadcast), expiry, NAK, replacement, release and prefixes.

use std::net::Ipv4Addr;
use std::time::Duration;

use smoltcp::wire::DhcpMessageType;

use super::dhcp4_client::*;
use super::dhcp4_test_server::*;

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
    let (mut client, request, start) = requesting(Duration::ZERO);
    let mut ack = reply(DhcpMessageType::Ack, request.xid, MAC, None);
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
        let (mut client, request, start) = requesting(Duration::ZERO);
        client
            .handle_packet(start, &ack_for(request.xid, address, mask))
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
