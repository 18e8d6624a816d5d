//! The DHCPv4 client of one interface, sans-IO (RFC 2131): time and received bytes in;
//! packets to send, one deadline and lease events out.
//!
//! States: `Init` → (DISCOVER, broadcast) `Selecting` → first valid OFFER → (REQUEST,
//! broadcast) `Requesting` → ACK → `Bound` → at T1 (REQUEST unicast to the server)
//! `Renewing` → at T2 (REQUEST broadcast) `Rebinding` → at expiry the lease is lost and the
//! client starts over in `Init`. An ACK in `Renewing`/`Rebinding` extends the lease; a
//! NAK in `Requesting`/`Renewing`/`Rebinding` drops it and restarts after
//! [`RESTART_DELAY`]. [`Dhcp4Client::release`] sends RELEASE and ends in `Stopped`.
//!
//! Invariants:
//! - Every message the client sends carries the broadcast flag until it holds an address
//!   (the interface cannot receive unicast before), its MAC as `chaddr` and client id.
//! - A received packet counts only when it parses, is a reply, carries the transaction
//!   id of the current exchange and this client's `chaddr`; anything else is returned as
//!   [`Ignored`] and changes nothing. Parsing never panics.
//! - Retransmissions back off from [`FIRST_RETRANSMIT`] doubling up to
//!   [`MAX_RETRANSMIT`], each ±1 s of jitter; in `Renewing`/`Rebinding` the next try is
//!   half the time left to T2/expiry, at least [`MIN_LEASE_RETRY`].
//! - Lease times (T1, T2, expiry) count from the moment the REQUEST that got the ACK was
//!   sent, as RFC 2131 §4.4.5 says.
//!
//! Call order: [`Dhcp4Client::new`], then loop: [`Dhcp4Client::poll_output`] until
//! `None`, wait for a packet or [`Dhcp4Client::poll_timeout`], feed it with
//! [`Dhcp4Client::handle_packet`] or [`Dhcp4Client::handle_timeout`].

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use smoltcp::wire::{DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress};

use super::dhcp4_wire::{ClientMessage, encode, lease_from_ack};

/// First retransmission interval of DISCOVER and REQUEST.
pub(crate) const FIRST_RETRANSMIT: Duration = Duration::from_secs(4);
/// Longest retransmission interval.
pub(crate) const MAX_RETRANSMIT: Duration = Duration::from_secs(64);
/// REQUESTs sent for one OFFER before starting over with DISCOVER.
pub(crate) const REQUEST_ATTEMPTS: u32 = 4;
/// Wait before a new DISCOVER after a NAK or a lost lease.
pub(crate) const RESTART_DELAY: Duration = Duration::from_secs(2);
/// Shortest wait between REQUESTs while renewing or rebinding.
pub(crate) const MIN_LEASE_RETRY: Duration = Duration::from_secs(10);

/// Where the client is in RFC 2131's state diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DhcpState {
    /// No lease; DISCOVER goes out at the next deadline.
    Init,
    /// DISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUEST for an offer sent, waiting for ACK or NAK.
    Requesting,
    /// Holding a lease until T1.
    Bound,
    /// Past T1: asking the leasing server (unicast) to extend.
    Renewing,
    /// Past T2: asking any server (broadcast) to extend.
    Rebinding,
    /// Released or stopped; does nothing more.
    Stopped,
}

impl DhcpState {
    /// Lowercase name for logs and status.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DhcpState::Init => "init",
            DhcpState::Selecting => "selecting",
            DhcpState::Requesting => "requesting",
            DhcpState::Bound => "bound",
            DhcpState::Renewing => "renewing",
            DhcpState::Rebinding => "rebinding",
            DhcpState::Stopped => "stopped",
        }
    }
}

/// An address lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The leased address.
    pub(crate) address: Ipv4Addr,
    /// Prefix length from the subnet mask (classful when the server sent none).
    pub(crate) prefix_len: u8,
    /// The first router of the router option.
    pub(crate) router: Option<Ipv4Addr>,
    /// The server that granted it (server identifier).
    pub(crate) server: Ipv4Addr,
    /// Lease time; `None` for an infinite lease.
    pub(crate) duration: Option<Duration>,
    /// T1: start renewing.
    pub(crate) renew_at: Option<Instant>,
    /// T2: start rebinding.
    pub(crate) rebind_at: Option<Instant>,
    /// The address must be given up.
    pub(crate) expires_at: Option<Instant>,
}

/// Where a packet goes (always to UDP port 67).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// 255.255.255.255.
    Broadcast,
    /// The leasing server, by unicast.
    Server(Ipv4Addr),
}

/// Why a lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LossReason {
    /// Not extended before expiry.
    Expired,
    /// The server refused it (NAK).
    Nak,
    /// Given back at shutdown.
    Released,
    /// An ACK gave a different address, prefix or router (the new lease follows).
    Replaced,
}

/// What the interface must do about the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeaseEvent {
    /// Configure the address (and default route).
    Acquired(Lease),
    /// Same address, new times.
    Extended(Lease),
    /// Remove the address (and default route).
    Lost {
        /// The lease given up.
        lease: Lease,
        /// Why.
        reason: LossReason,
    },
}

/// One output of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Send a DHCP message.
    Transmit {
        /// Where.
        to: Destination,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// The lease changed.
    Event(LeaseEvent),
}

/// Why a received packet changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Ignored {
    /// Not a DHCP message (too short, bad magic, unknown hardware type).
    #[error("not a dhcp message")]
    Malformed,
    /// Transaction id of another exchange.
    #[error("transaction id of another exchange")]
    WrongXid,
    /// For another client's hardware address.
    #[error("for another hardware address")]
    NotForUs,
    /// A message type this state does not wait for.
    #[error("not expected in this state")]
    Unexpected,
    /// Lacks what it must carry (address, server identifier, lease time).
    #[error("incomplete offer or ack")]
    Incomplete,
}

/// The offer being requested.
#[derive(Debug, Clone, Copy)]
struct Offer {
    address: Ipv4Addr,
    server: Ipv4Addr,
}

/// The DHCPv4 client of one interface.
#[derive(Debug)]
pub(crate) struct Dhcp4Client {
    mac: [u8; 6],
    state: DhcpState,
    xid: u32,
    rng: u64,
    exchange_started: Instant,
    last_sent: Instant,
    deadline: Option<Instant>,
    backoff: Duration,
    attempts: u32,
    offer: Option<Offer>,
    lease: Option<Lease>,
    out: VecDeque<Output>,
}

impl Dhcp4Client {
    /// A client for the interface with hardware address `mac`; `seed` feeds transaction
    /// ids and jitter (give it real randomness). The first DISCOVER is due at `now`.
    pub(crate) fn new(mac: [u8; 6], seed: u64, now: Instant) -> Dhcp4Client {
        Dhcp4Client {
            mac,
            state: DhcpState::Init,
            xid: 0,
            rng: seed,
            exchange_started: now,
            last_sent: now,
            deadline: Some(now),
            backoff: FIRST_RETRANSMIT,
            attempts: 0,
            offer: None,
            lease: None,
            out: VecDeque::new(),
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> DhcpState {
        self.state
    }

    /// The lease held now, if any.
    pub(crate) fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The next output, in order.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Dhcp4Client::handle_timeout`] must be called next; `None`: only a packet
    /// (or nothing, in `Stopped` or with an infinite lease) moves it on.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Acts on the deadline if it has passed.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        if let Some(expires) = self.lease.as_ref().and_then(|l| l.expires_at)
            && now >= expires
        {
            self.lose(now, LossReason::Expired, Duration::ZERO);
            return;
        }
        match self.state {
            DhcpState::Init => self.discover(now),
            DhcpState::Selecting => {
                self.send_discover(now);
                self.backoff = (self.backoff * 2).min(MAX_RETRANSMIT);
                self.deadline = Some(now + self.jittered(self.backoff));
            }
            DhcpState::Requesting => {
                if self.attempts >= REQUEST_ATTEMPTS {
                    self.offer = None;
                    self.discover(now);
                } else {
                    self.send_request(now);
                    self.backoff = (self.backoff * 2).min(MAX_RETRANSMIT);
                    self.deadline = Some(now + self.jittered(self.backoff));
                }
            }
            DhcpState::Bound | DhcpState::Renewing => {
                let rebind_at = self.lease.as_ref().and_then(|l| l.rebind_at);
                if rebind_at.is_some_and(|t2| now >= t2) {
                    self.state = DhcpState::Rebinding;
                    self.new_exchange(now);
                } else if self.state == DhcpState::Bound {
                    self.state = DhcpState::Renewing;
                    self.new_exchange(now);
                }
                self.send_request(now);
                let limit = match self.state {
                    DhcpState::Renewing => rebind_at,
                    _ => self.lease.as_ref().and_then(|l| l.expires_at),
                };
                self.deadline = limit.map(|limit| retry_time(now, limit));
            }
            DhcpState::Rebinding => {
                self.send_request(now);
                let expires = self.lease.as_ref().and_then(|l| l.expires_at);
                self.deadline = expires.map(|limit| retry_time(now, limit));
            }
            DhcpState::Stopped => self.deadline = None,
        }
    }

    /// Handles one received UDP payload (from port 67).
    pub(crate) fn handle_packet(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Ignored> {
        let packet = DhcpPacket::new_checked(bytes).map_err(|_| Ignored::Malformed)?;
        let repr = DhcpRepr::parse(&packet).map_err(|_| Ignored::Malformed)?;
        if repr.transaction_id != self.xid {
            return Err(Ignored::WrongXid);
        }
        if repr.client_hardware_address != EthernetAddress(self.mac) {
            return Err(Ignored::NotForUs);
        }
        match (self.state, repr.message_type) {
            (DhcpState::Selecting, DhcpMessageType::Offer) => {
                let server = repr.server_identifier.ok_or(Ignored::Incomplete)?;
                if repr.your_ip.is_unspecified() {
                    return Err(Ignored::Incomplete);
                }
                self.offer = Some(Offer {
                    address: repr.your_ip,
                    server,
                });
                self.state = DhcpState::Requesting;
                self.backoff = FIRST_RETRANSMIT;
                self.attempts = 0;
                self.send_request(now);
                self.deadline = Some(now + self.jittered(self.backoff));
                Ok(())
            }
            (
                DhcpState::Requesting | DhcpState::Renewing | DhcpState::Rebinding,
                DhcpMessageType::Ack,
            ) => {
                let known_server = self
                    .offer
                    .map(|o| o.server)
                    .or(self.lease.as_ref().map(|l| l.server));
                let lease = lease_from_ack(&packet, &repr, self.last_sent, known_server)
                    .ok_or(Ignored::Incomplete)?;
                self.bind(lease);
                Ok(())
            }
            (DhcpState::Requesting, DhcpMessageType::Nak) => {
                let chosen = self.offer.map(|o| o.server);
                if repr.server_identifier.is_some() && repr.server_identifier != chosen {
                    return Err(Ignored::NotForUs);
                }
                self.offer = None;
                self.state = DhcpState::Init;
                self.deadline = Some(now + RESTART_DELAY);
                Ok(())
            }
            (DhcpState::Renewing | DhcpState::Rebinding, DhcpMessageType::Nak) => {
                self.lose(now, LossReason::Nak, RESTART_DELAY);
                Ok(())
            }
            _ => Err(Ignored::Unexpected),
        }
    }

    /// Gives the lease back (RELEASE, unicast to the server) and stops. The
    /// [`LeaseEvent::Lost`] output comes after the RELEASE so the address is still there
    /// to send it from.
    pub(crate) fn release(&mut self, now: Instant) {
        if let Some(lease) = self.lease.take() {
            self.new_exchange(now);
            let bytes = self.message(
                now,
                DhcpMessageType::Release,
                lease.address,
                None,
                Some(lease.server),
                false,
            );
            self.out.push_back(Output::Transmit {
                to: Destination::Server(lease.server),
                bytes,
            });
            self.out.push_back(Output::Event(LeaseEvent::Lost {
                lease,
                reason: LossReason::Released,
            }));
        }
        self.state = DhcpState::Stopped;
        self.deadline = None;
        self.offer = None;
    }

    fn discover(&mut self, now: Instant) {
        self.state = DhcpState::Selecting;
        self.new_exchange(now);
        self.backoff = FIRST_RETRANSMIT;
        self.send_discover(now);
        self.deadline = Some(now + self.jittered(self.backoff));
    }

    fn lose(&mut self, now: Instant, reason: LossReason, delay: Duration) {
        if let Some(lease) = self.lease.take() {
            self.out
                .push_back(Output::Event(LeaseEvent::Lost { lease, reason }));
        }
        self.offer = None;
        self.state = DhcpState::Init;
        self.deadline = Some(now + delay);
        if delay.is_zero() {
            self.discover(now);
        }
    }

    fn bind(&mut self, lease: Lease) {
        let event = match self.lease.take() {
            Some(old)
                if old.address == lease.address
                    && old.prefix_len == lease.prefix_len
                    && old.router == lease.router =>
            {
                LeaseEvent::Extended(lease.clone())
            }
            Some(old) => {
                self.out.push_back(Output::Event(LeaseEvent::Lost {
                    lease: old,
                    reason: LossReason::Replaced,
                }));
                LeaseEvent::Acquired(lease.clone())
            }
            None => LeaseEvent::Acquired(lease.clone()),
        };
        self.out.push_back(Output::Event(event));
        self.deadline = lease.renew_at;
        self.lease = Some(lease);
        self.offer = None;
        self.state = DhcpState::Bound;
    }

    fn new_exchange(&mut self, now: Instant) {
        self.xid = self.next_random() as u32;
        self.exchange_started = now;
        self.attempts = 0;
    }

    fn send_discover(&mut self, now: Instant) {
        let bytes = self.message(
            now,
            DhcpMessageType::Discover,
            Ipv4Addr::UNSPECIFIED,
            None,
            None,
            true,
        );
        self.transmit(now, Destination::Broadcast, bytes);
    }

    /// REQUEST as the state needs it: selecting (requested ip + server id, broadcast),
    /// renewing (ciaddr, unicast) or rebinding (ciaddr, broadcast).
    fn send_request(&mut self, now: Instant) {
        let (to, bytes) = match (self.state, self.offer, self.lease.as_ref()) {
            (DhcpState::Requesting, Some(offer), _) => (
                Destination::Broadcast,
                self.message(
                    now,
                    DhcpMessageType::Request,
                    Ipv4Addr::UNSPECIFIED,
                    Some(offer.address),
                    Some(offer.server),
                    true,
                ),
            ),
            (DhcpState::Renewing, _, Some(lease)) => (
                Destination::Server(lease.server),
                self.message(
                    now,
                    DhcpMessageType::Request,
                    lease.address,
                    None,
                    None,
                    false,
                ),
            ),
            (DhcpState::Rebinding, _, Some(lease)) => (
                Destination::Broadcast,
                self.message(
                    now,
                    DhcpMessageType::Request,
                    lease.address,
                    None,
                    None,
                    false,
                ),
            ),
            _ => return,
        };
        self.attempts += 1;
        self.transmit(now, to, bytes);
    }

    fn transmit(&mut self, now: Instant, to: Destination, bytes: Vec<u8>) {
        self.last_sent = now;
        self.out.push_back(Output::Transmit { to, bytes });
    }

    /// Encodes one client message of the current exchange.
    fn message(
        &self,
        now: Instant,
        message_type: DhcpMessageType,
        client_ip: Ipv4Addr,
        requested_ip: Option<Ipv4Addr>,
        server_identifier: Option<Ipv4Addr>,
        broadcast: bool,
    ) -> Vec<u8> {
        let secs = now
            .saturating_duration_since(self.exchange_started)
            .as_secs();
        encode(&ClientMessage {
            message_type,
            xid: self.xid,
            mac: self.mac,
            secs: u16::try_from(secs).unwrap_or(u16::MAX),
            client_ip,
            requested_ip,
            server_identifier,
            broadcast,
        })
    }

    /// `base` ± 1 s.
    fn jittered(&mut self, base: Duration) -> Duration {
        let offset_ms = self.next_random() % 2001;
        (base + Duration::from_millis(offset_ms)).saturating_sub(Duration::from_secs(1))
    }

    /// splitmix64.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The next REQUEST while renewing or rebinding: half the time left to `limit`, at
/// least [`MIN_LEASE_RETRY`], never past `limit`.
fn retry_time(now: Instant, limit: Instant) -> Instant {
    let left = limit.saturating_duration_since(now);
    (now + (left / 2).max(MIN_LEASE_RETRY)).min(limit)
}
