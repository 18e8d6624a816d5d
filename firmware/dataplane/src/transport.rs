//! Packet processing shared by the datapath tasks: outbound (TUN → network), inbound
//! (network → TUN) and timers, for WireGuard over UDP and for plain IPIP over a raw
//! socket.
//!
//! Every function here is synchronous and non-blocking: sockets and TUN devices are
//! written with `try_*` calls, and a full queue drops the packet as a congested link
//! would. Locks (peer table, a peer's noise state) are held only for one packet.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;

use crate::ipip;
use crate::peer::{Counters, Peer, PeerTable};

/// Largest packet handled (TUN reads, datagrams).
pub(crate) const MAX_PACKET: usize = 65_535;
/// Room for outer headers and WireGuard framing around a maximal packet.
pub(crate) const BUFFER_LEN: usize = MAX_PACKET + 256;

/// The network side of the datapath.
pub(crate) enum Network {
    /// WireGuard: one UDP socket for every peer.
    Udp(UdpSocket),
    /// Plain IPIP: a raw IPv4 socket for protocol 4, headers included.
    Raw(AsyncFd<socket2::Socket>),
}

/// State shared by every task of one datapath.
pub(crate) struct Shared {
    pub(crate) secret: StaticSecret,
    pub(crate) public: PublicKey,
    pub(crate) rate_limiter: Arc<RateLimiter>,
    pub(crate) network: Network,
    pub(crate) peers: RwLock<PeerTable>,
}

/// Scratch space of one task.
pub(crate) struct Buffers {
    ipip: Vec<u8>,
    out: Vec<u8>,
}

impl Buffers {
    pub(crate) fn new() -> Buffers {
        Buffers {
            ipip: vec![0; BUFFER_LEN],
            out: vec![0; BUFFER_LEN],
        }
    }
}

fn lock_noise(peer: &Peer) -> Option<std::sync::MutexGuard<'_, Tunn>> {
    peer.noise
        .as_ref()
        .map(|n| n.lock().unwrap_or_else(|p| p.into_inner()))
}

impl Shared {
    fn table(&self) -> std::sync::RwLockReadGuard<'_, PeerTable> {
        self.peers.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a datagram without waiting; counts it for `peer` when it went out.
    fn send_udp(&self, peer: Option<&Peer>, data: &[u8], to: SocketAddr) {
        let Network::Udp(socket) = &self.network else {
            return;
        };
        match socket.try_send_to(data, to) {
            Ok(n) => {
                if let Some(peer) = peer {
                    Counters::add(&peer.counters.tx_bytes, n);
                }
            }
            Err(e) => tracing::debug!(%to, error = %e, "datagram dropped"),
        }
    }

    /// One inner packet read from `peer`'s TUN: frame, encrypt, send.
    pub(crate) fn outbound(&self, peer: &Peer, inner: &[u8], bufs: &mut Buffers) {
        let (local, remote) = (peer.spec.outer_local, peer.spec.outer_remote);
        let Some(len) = ipip::encapsulate(inner, local, remote, &mut bufs.ipip) else {
            return; // not IPv4 (e.g. IPv6 neighbour discovery on the TUN): not carried
        };
        Counters::add(&peer.counters.tx_packets, 1);
        match &self.network {
            Network::Raw(socket) => {
                let to = socket2::SockAddr::from(SocketAddrV4::new(remote, 0));
                match socket.get_ref().send_to(&bufs.ipip[..len], &to) {
                    Ok(n) => Counters::add(&peer.counters.tx_bytes, n),
                    Err(e) => tracing::debug!(%remote, error = %e, "ipip packet dropped"),
                }
            }
            Network::Udp(_) => {
                let endpoint = peer.endpoint();
                let Some(mut noise) = lock_noise(peer) else {
                    return;
                };
                match noise.encapsulate(&bufs.ipip[..len], &mut bufs.out) {
                    TunnResult::WriteToNetwork(data) => match endpoint {
                        Some(to) => self.send_udp(Some(peer), data, to),
                        None => tracing::trace!(device = %peer.spec.device, "no endpoint yet"),
                    },
                    TunnResult::Err(e) => {
                        tracing::debug!(device = %peer.spec.device, error = ?e, "encapsulate")
                    }
                    _ => {}
                }
            }
        }
    }

    /// One datagram from the UDP socket.
    pub(crate) fn inbound_udp(&self, datagram: &[u8], from: SocketAddr, out: &mut [u8]) {
        let peer = {
            let packet = match self
                .rate_limiter
                .verify_packet(Some(from.ip()), datagram, out)
            {
                Ok(packet) => packet,
                Err(TunnResult::WriteToNetwork(cookie)) => {
                    let cookie = cookie.to_vec();
                    self.send_udp(None, &cookie, from);
                    return;
                }
                Err(_) => return,
            };
            let table = self.table();
            let peer = match packet {
                Packet::HandshakeInit(init) => {
                    parse_handshake_anon(&self.secret, &self.public, &init)
                        .ok()
                        .and_then(|half| table.by_key(&half.peer_static_public))
                }
                Packet::HandshakeResponse(p) => table.by_index(p.receiver_idx >> 8),
                Packet::PacketCookieReply(p) => table.by_index(p.receiver_idx >> 8),
                Packet::PacketData(p) => table.by_index(p.receiver_idx >> 8),
            };
            match peer {
                Some(peer) => peer.clone(),
                None => return,
            }
        };
        let Some(mut noise) = lock_noise(&peer) else {
            return;
        };
        match noise.decapsulate(Some(from.ip()), datagram, out) {
            TunnResult::Err(e) => {
                tracing::debug!(device = %peer.spec.device, %from, error = ?e, "datagram refused");
                return;
            }
            TunnResult::Done => {}
            TunnResult::WriteToNetwork(data) => {
                self.send_udp(Some(&peer), data, from);
                // Packets queued while the session was being set up go out now.
                while let TunnResult::WriteToNetwork(data) = noise.decapsulate(None, &[], out) {
                    self.send_udp(Some(&peer), data, from);
                }
            }
            TunnResult::WriteToTunnelV4(packet, source) => {
                if IpAddr::V4(source) == IpAddr::V4(peer.spec.outer_remote) {
                    self.deliver(&peer, packet);
                } else {
                    tracing::debug!(device = %peer.spec.device, %source, "inner source not allowed");
                }
            }
            TunnResult::WriteToTunnelV6(..) => {}
        }
        drop(noise);
        Counters::add(&peer.counters.rx_bytes, datagram.len());
        peer.learn_endpoint(from);
    }

    /// One packet from the raw IPIP socket (outer header included).
    pub(crate) fn inbound_raw(&self, packet: &[u8]) {
        let Some(outer) = ipip::decapsulate(packet) else {
            return;
        };
        let peer = match self.table().by_remote(&outer.source) {
            Some(peer) => peer.clone(),
            None => return,
        };
        Counters::add(&peer.counters.rx_bytes, packet.len());
        self.deliver(&peer, packet);
    }

    /// Checks a decrypted (or raw) outer IPIP packet from `peer` and writes its inner
    /// packet to the peer's TUN.
    fn deliver(&self, peer: &Peer, outer: &[u8]) {
        let Some(packet) = ipip::decapsulate(outer) else {
            return;
        };
        if packet.source != peer.spec.outer_remote || packet.destination != peer.spec.outer_local {
            tracing::debug!(device = %peer.spec.device, source = %packet.source, "ipip addresses not allowed");
            return;
        }
        match peer.tun.try_write(packet.inner) {
            Ok(_) => Counters::add(&peer.counters.rx_packets, 1),
            Err(e) => tracing::debug!(device = %peer.spec.device, error = %e, "tun write dropped"),
        }
    }

    /// Runs every peer's WireGuard timers (rekey, retransmit, keepalive).
    pub(crate) fn tick(&self, out: &mut [u8]) {
        let peers: Vec<Arc<Peer>> = self.table().all().cloned().collect();
        for peer in peers {
            let endpoint = peer.endpoint();
            let Some(mut noise) = lock_noise(&peer) else {
                continue;
            };
            if let TunnResult::WriteToNetwork(data) = noise.update_timers(out)
                && let Some(to) = endpoint
            {
                self.send_udp(Some(&peer), data, to);
            }
        }
    }

    /// Starts a handshake with `peer` now (when it has an endpoint).
    pub(crate) fn initiate(&self, peer: &Peer, out: &mut [u8]) {
        let Some(to) = peer.endpoint() else { return };
        let Some(mut noise) = lock_noise(peer) else {
            return;
        };
        if let TunnResult::WriteToNetwork(data) = noise.format_handshake_initiation(out, false) {
            self.send_udp(Some(peer), data, to);
        }
    }
}

/// Reads every packet waiting on the raw socket, handing each to `each`.
pub(crate) async fn read_raw_batch(
    socket: &AsyncFd<socket2::Socket>,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut guard = socket.readable().await?;
    loop {
        match guard.try_io(|s| {
            let mut reader: &socket2::Socket = s.get_ref();
            reader.read(buf)
        }) {
            Ok(Ok(n)) => each(&buf[..n]),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => return Ok(()),
        }
    }
}

/// Reads every datagram waiting on the UDP socket, handing each to `each`.
pub(crate) async fn read_udp_batch(
    socket: &UdpSocket,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8], SocketAddr),
) -> io::Result<()> {
    socket.readable().await?;
    loop {
        match socket.try_recv_from(buf) {
            Ok((n, from)) => each(&buf[..n], from),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // ICMP errors from earlier sends surface here; they do not stop the socket.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
    }
}
