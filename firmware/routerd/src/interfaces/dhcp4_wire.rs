//! The client's DHCPv4 messages: encoding with smoltcp's `DhcpRepr`, and the lease an
//! ACK grants. Pure functions of their arguments; the state lives in
//! [`super::dhcp4_client`].

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress};

use super::dhcp4_client::Lease;

/// Options asked for: subnet mask, router, DNS, lease time, T1, T2.
const PARAMETERS: &[u8] = &[1, 3, 6, 51, 58, 59];
/// Option code of the router list.
const OPTION_ROUTER: u8 = 3;
/// Smallest BOOTP message some servers accept.
const MIN_MESSAGE: usize = 300;
/// A lease time meaning "forever".
const INFINITE: u32 = u32::MAX;

/// One message from the client.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientMessage {
    /// DISCOVER, REQUEST or RELEASE.
    pub(super) message_type: DhcpMessageType,
    /// Transaction id of the exchange.
    pub(super) xid: u32,
    /// The interface's hardware address (`chaddr` and client id).
    pub(super) mac: [u8; 6],
    /// Seconds since the exchange began.
    pub(super) secs: u16,
    /// `ciaddr`: the leased address while renewing, rebinding or releasing.
    pub(super) client_ip: Ipv4Addr,
    /// The offered address, while requesting it.
    pub(super) requested_ip: Option<Ipv4Addr>,
    /// The chosen server, while requesting or releasing.
    pub(super) server_identifier: Option<Ipv4Addr>,
    /// Ask for broadcast replies (no address yet).
    pub(super) broadcast: bool,
}

/// The UDP payload of `message`, at least [`MIN_MESSAGE`] bytes.
pub(super) fn encode(message: &ClientMessage) -> Vec<u8> {
    let asks = message.message_type != DhcpMessageType::Release;
    let repr = DhcpRepr {
        message_type: message.message_type,
        transaction_id: message.xid,
        secs: message.secs,
        client_hardware_address: EthernetAddress(message.mac),
        client_ip: message.client_ip,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: message.broadcast,
        requested_ip: message.requested_ip,
        client_identifier: Some(EthernetAddress(message.mac)),
        server_identifier: message.server_identifier,
        parameter_request_list: asks.then_some(PARAMETERS),
        dns_servers: None,
        max_size: asks.then_some(1500),
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let mut bytes = vec![0u8; repr.buffer_len().max(MIN_MESSAGE)];
    let mut packet = DhcpPacket::new_unchecked(&mut bytes[..]);
    // The buffer is sized by `buffer_len`, so emitting cannot run out of room.
    if repr.emit(&mut packet).is_err() {
        tracing::error!("dhcp message did not fit its buffer; sending nothing");
        return Vec::new();
    }
    bytes
}

/// The lease an ACK grants, timed from `sent_at` (when the REQUEST went out); the
/// server is the ACK's server identifier, else `known_server`. `None` when the ACK
/// lacks an address, a lease time or any server.
pub(super) fn lease_from_ack(
    packet: &DhcpPacket<&[u8]>,
    repr: &DhcpRepr<'_>,
    sent_at: Instant,
    known_server: Option<Ipv4Addr>,
) -> Option<Lease> {
    if repr.your_ip.is_unspecified() {
        return None;
    }
    let seconds = repr.lease_duration?;
    let server = repr.server_identifier.or(known_server)?;
    let prefix_len = repr
        .subnet_mask
        .and_then(mask_prefix)
        .unwrap_or_else(|| classful_prefix(repr.your_ip));
    let router = packet
        .options()
        .find(|o| o.kind == OPTION_ROUTER && o.data.len() >= 4)
        .map(|o| Ipv4Addr::new(o.data[0], o.data[1], o.data[2], o.data[3]));
    let (duration, renew_at, rebind_at, expires_at) = if seconds == INFINITE {
        (None, None, None, None)
    } else {
        let (t1, t2) = match (repr.renew_duration, repr.rebind_duration) {
            (Some(t1), Some(t2)) if t1 <= t2 && t2 <= seconds => (t1, t2),
            _ => (seconds / 2, (u64::from(seconds) * 7 / 8) as u32),
        };
        let at = |s: u32| Some(sent_at + Duration::from_secs(u64::from(s)));
        (
            Some(Duration::from_secs(u64::from(seconds))),
            at(t1),
            at(t2),
            at(seconds),
        )
    };
    Some(Lease {
        address: repr.your_ip,
        prefix_len,
        router,
        server,
        duration,
        renew_at,
        rebind_at,
        expires_at,
    })
}

/// Prefix length of a contiguous, non-zero subnet mask.
fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (ones > 0 && bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The historical class prefix when a server sends no subnet mask.
fn classful_prefix(address: Ipv4Addr) -> u8 {
    match address.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}
