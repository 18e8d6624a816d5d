//! [`Dataplane`]: the handle the daemon holds; it owns the sockets, the peers and the
//! tasks (receive, timers, one TUN reader per peer).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use boringtun::noise::Tunn;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519::{PublicKey, StaticSecret};
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use crate::peer::{Counters, Peer, PeerSpec, PeerStatus, PeerTable};
use crate::transport::{BUFFER_LEN, Buffers, Network, Shared, read_raw_batch, read_udp_batch};
use crate::tun::Tun;
use crate::{DataplaneError, ipip};

/// Handshakes per second answered before cookies are demanded (shared by all peers).
const HANDSHAKE_RATE_LIMIT: u64 = 100;
/// WireGuard timer period.
const TIMER_PERIOD: Duration = Duration::from_millis(100);

/// How the datapath runs.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// This side's WireGuard private key (unused without WireGuard).
    pub private_key: [u8; 32],
    /// UDP listen port for WireGuard (0 picks one).
    pub listen_port: u16,
    /// Encrypt with WireGuard; without it, plain IPIP over a raw socket.
    pub wireguard: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_port", &self.listen_port)
            .field("wireguard", &self.wireguard)
            .finish_non_exhaustive()
    }
}

/// The WireGuard public key of `private_key`.
pub fn public_key(private_key: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*private_key)).to_bytes()
}

/// A running userspace datapath. Dropping it stops its tasks and removes its devices.
pub struct Dataplane {
    shared: Arc<Shared>,
    links: kernel::Links,
    wireguard: bool,
    local_port: Option<u16>,
    tasks: Vec<JoinHandle<()>>,
    readers: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("wireguard", &self.wireguard)
            .field("local_port", &self.local_port)
            .finish_non_exhaustive()
    }
}

impl Dataplane {
    /// Opens the network socket and starts the receive (and timer) tasks on the current
    /// tokio runtime.
    pub async fn start(config: Config) -> Result<Dataplane, DataplaneError> {
        let secret = StaticSecret::from(config.private_key);
        let public = PublicKey::from(&secret);
        let links = kernel::Links::new()?;
        let (network, local_port) = if config.wireguard {
            let socket = tokio::net::UdpSocket::bind(SocketAddr::from((
                Ipv4Addr::UNSPECIFIED,
                config.listen_port,
            )))
            .await
            .map_err(|source| DataplaneError::Socket {
                what: "wireguard udp socket",
                source,
            })?;
            let port = socket.local_addr().ok().map(|a| a.port());
            (Network::Udp(socket), port)
        } else {
            (
                Network::Raw(raw_socket().map_err(|source| DataplaneError::Socket {
                    what: "raw ipip socket",
                    source,
                })?),
                None,
            )
        };
        let shared = Arc::new(Shared {
            rate_limiter: Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT)),
            secret,
            public,
            network,
            peers: RwLock::new(PeerTable::default()),
        });
        let mut tasks = vec![tokio::spawn(receive_loop(shared.clone()))];
        if config.wireguard {
            tasks.push(tokio::spawn(timer_loop(shared.clone())));
        }
        Ok(Dataplane {
            shared,
            links,
            wireguard: config.wireguard,
            local_port,
            tasks,
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// The bound UDP port (WireGuard mode).
    pub fn local_port(&self) -> Option<u16> {
        self.local_port
    }

    /// This side's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.public.to_bytes()
    }

    /// Creates the peer's TUN device (MTU set, up) and starts carrying its traffic. With
    /// an endpoint and a keepalive, a handshake starts at once, so a peer behind NAT
    /// becomes reachable without waiting for traffic.
    pub async fn add_peer(&self, spec: PeerSpec) -> Result<(), DataplaneError> {
        self.table().check_new(&spec, self.wireguard)?;
        let tun = Tun::open(&spec.device).map_err(|source| DataplaneError::Tun {
            name: spec.device.clone(),
            source,
        })?;
        self.links.set_mtu(&spec.device, spec.mtu).await?;
        self.links.link_up(&spec.device).await?;
        let mut random = [0u8; 4];
        let _ = getrandom::fill(&mut random);
        let peer = {
            let mut table = self.shared.peers.write().unwrap_or_else(|p| p.into_inner());
            table.check_new(&spec, self.wireguard)?;
            let index = table.free_index(u32::from_ne_bytes(random));
            let noise = self.wireguard.then(|| {
                Mutex::new(Tunn::new(
                    self.shared.secret.clone(),
                    PublicKey::from(spec.public_key),
                    None,
                    spec.keepalive,
                    index,
                    Some(self.shared.rate_limiter.clone()),
                ))
            });
            let peer = Arc::new(Peer {
                endpoint: Mutex::new(spec.endpoint),
                spec,
                index,
                tun,
                noise,
                counters: Counters::default(),
            });
            table.insert(peer.clone());
            peer
        };
        let reader = tokio::spawn(tun_loop(self.shared.clone(), peer.clone()));
        self.readers().insert(peer.spec.device.clone(), reader);
        if self.wireguard && peer.spec.keepalive.is_some() {
            self.shared.initiate(&peer, &mut vec![0; 256]);
        }
        tracing::info!(device = %peer.spec.device, endpoint = ?peer.spec.endpoint, "userspace peer added");
        Ok(())
    }

    /// Stops carrying the peer and removes its TUN device (and so the routes through it).
    /// When this returns the device is gone, so the name can be used again at once.
    pub async fn remove_peer(&self, device: &str) -> Result<(), DataplaneError> {
        let removed = self
            .shared
            .peers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(device);
        let reader = self.readers().remove(device);
        if let Some(reader) = reader {
            reader.abort();
            // Completes once the task, and with it its handle on the peer, is dropped.
            let _ = reader.await;
        }
        match removed {
            Some(peer) => {
                drop(peer);
                Ok(())
            }
            None => Err(DataplaneError::NoSuchPeer {
                device: device.to_string(),
            }),
        }
    }

    /// Every peer's state, ordered by device name.
    pub fn status(&self) -> Vec<PeerStatus> {
        let mut all: Vec<PeerStatus> = self.table().all().map(|p| p.status()).collect();
        all.sort_by(|a, b| a.device.cmp(&b.device));
        all
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, PeerTable> {
        self.shared.peers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn readers(&self) -> std::sync::MutexGuard<'_, HashMap<String, JoinHandle<()>>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for (_, reader) in self.readers().drain() {
            reader.abort();
        }
    }
}

/// A non-blocking raw IPv4 socket for protocol 4 that sends whole packets.
fn raw_socket() -> std::io::Result<AsyncFd<socket2::Socket>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(ipip::PROTOCOL))),
    )?;
    socket.set_header_included_v4(true)?;
    socket.set_nonblocking(true)?;
    crate::tun::register_socket(socket)
}

/// Network → TUN, for every peer.
async fn receive_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; BUFFER_LEN];
    let mut out = vec![0u8; BUFFER_LEN];
    loop {
        let result = match &shared.network {
            Network::Udp(socket) => {
                read_udp_batch(socket, &mut buf, |datagram, from| {
                    shared.inbound_udp(datagram, from, &mut out)
                })
                .await
            }
            Network::Raw(socket) => {
                read_raw_batch(socket, &mut buf, |packet| shared.inbound_raw(packet)).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "datapath receive failed; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// TUN → network, for one peer.
async fn tun_loop(shared: Arc<Shared>, peer: Arc<Peer>) {
    let mut buf = vec![0u8; BUFFER_LEN];
    let mut bufs = Buffers::new();
    loop {
        let result = peer
            .tun
            .read_batch(&mut buf, |packet| shared.outbound(&peer, packet, &mut bufs))
            .await;
        if let Err(e) = result {
            tracing::warn!(device = %peer.spec.device, error = %e, "tun read failed; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// WireGuard timers for every peer; resets the shared handshake rate limiter each second.
async fn timer_loop(shared: Arc<Shared>) {
    let mut out = vec![0u8; BUFFER_LEN];
    let mut interval = tokio::time::interval(TIMER_PERIOD);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    loop {
        interval.tick().await;
        shared.tick(&mut out);
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(10) {
            shared.rate_limiter.reset_count();
        }
    }
}
