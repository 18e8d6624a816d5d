//! A test DHCP server for the client's unit tests: the client's packets parsed with
//! smoltcp, server packets built with smoltcp, and clients driven to a known state.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::{DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress};

use super::dhcp4_client::{Destination, Dhcp4Client, Lease, LeaseEvent, Output};

pub(super) const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub(super) const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(super) const OFFERED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
pub(super) const LEASE_SECS: u32 = 120;

/// A client message as the server sees it.
#[derive(Debug)]
pub(super) struct Sent {
    pub(super) to: Destination,
    pub(super) message_type: DhcpMessageType,
    pub(super) xid: u32,
    pub(super) broadcast: bool,
    pub(super) client_ip: Ipv4Addr,
    pub(super) requested_ip: Option<Ipv4Addr>,
    pub(super) server_identifier: Option<Ipv4Addr>,
    pub(super) chaddr: EthernetAddress,
    pub(super) client_id: Option<EthernetAddress>,
    pub(super) asks_router: bool,
    pub(super) len: usize,
}

pub(super) fn parse_sent(to: Destination, bytes: &[u8]) -> Sent {
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
pub(super) fn outputs(client: &mut Dhcp4Client) -> (Vec<Sent>, Vec<LeaseEvent>) {
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
pub(super) fn ack_for(xid: u32, your_ip: Ipv4Addr, mask: Option<Ipv4Addr>) -> Vec<u8> {
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
pub(super) fn reply(
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
pub(super) fn selecting() -> (Dhcp4Client, Sent, Instant) {
    let start = Instant::now();
    let mut client = Dhcp4Client::new(MAC, 42, start);
    assert_eq!(client.poll_timeout(), Some(start));
    client.handle_timeout(start);
    let (mut sent, events) = outputs(&mut client);
    assert!(events.is_empty());
    assert_eq!(sent.len(), 1);
    (client, sent.remove(0), start)
}

/// A client that took the OFFER received at `start + offer_delay` and sent its REQUEST;
/// returns it, the REQUEST and the start.
pub(super) fn requesting(offer_delay: Duration) -> (Dhcp4Client, Sent, Instant) {
    let (mut client, discover, start) = selecting();
    client
        .handle_packet(
            start + offer_delay,
            &reply(DhcpMessageType::Offer, discover.xid, MAC, None),
        )
        .unwrap();
    let (mut sent, _) = outputs(&mut client);
    assert_eq!(sent.len(), 1, "one REQUEST");
    (client, sent.remove(0), start)
}

/// A client bound to OFFERED; returns it, the lease and the time of the REQUEST.
pub(super) fn bound(t1_t2: Option<(u32, u32)>) -> (Dhcp4Client, Lease, Instant) {
    let (mut client, request, start) = requesting(Duration::from_millis(20));
    let offered_at = start + Duration::from_millis(20);
    let acked_at = offered_at + Duration::from_millis(20);
    client
        .handle_packet(
            acked_at,
            &reply(DhcpMessageType::Ack, request.xid, MAC, t1_t2),
        )
        .unwrap();
    let (_, mut events) = outputs(&mut client);
    let Some(LeaseEvent::Acquired(lease)) = events.pop() else {
        panic!("no lease acquired");
    };
    (client, lease, offered_at)
}
