//! Peers: what the caller asks for ([`PeerSpec`]), what it can read ([`PeerStatus`]), and
//! the live per-peer state shared by the tasks ([`Peer`], [`PeerTable`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boringtun::noise::Tunn;

use crate::DataplaneError;
use crate::tun::Tun;

/// One tunnel peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Name of the TUN device carrying this peer's traffic (at most 15 bytes).
    pub device: String,
    /// The peer's WireGuard public key (ignored without WireGuard).
    pub public_key: [u8; 32],
    /// Where to send; `None` waits for the peer's handshake to learn it (NAT-ed leaves).
    pub endpoint: Option<SocketAddr>,
    /// Persistent keepalive in seconds (25 for a leaf behind NAT).
    pub keepalive: Option<u16>,
    /// Outer IPIP source: this side's WireGuard address (or underlay address without
    /// WireGuard).
    pub outer_local: Ipv4Addr,
    /// Outer IPIP destination: the peer's WireGuard address (or underlay address); the
    /// only inner source accepted from the peer.
    pub outer_remote: Ipv4Addr,
    /// TUN device MTU: underlay MTU − 20, − 80 more with WireGuard.
    pub mtu: u32,
}

/// A peer's state, with the fields of the kernel's WireGuard status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's TUN device.
    pub device: String,
    /// The peer's public key.
    pub public_key: [u8; 32],
    /// Current endpoint, configured or learned.
    pub endpoint: Option<SocketAddr>,
    /// Time since the last completed handshake (`None` before the first one, and
    /// always without WireGuard).
    pub last_handshake_age: Option<Duration>,
    /// Transport bytes received from the peer (UDP payload, or outer IPIP packet).
    pub rx_bytes: u64,
    /// Transport bytes sent to the peer.
    pub tx_bytes: u64,
    /// Inner packets delivered to the TUN.
    pub rx_packets: u64,
    /// Inner packets read from the TUN and sent.
    pub tx_packets: u64,
    /// Always `"userspace"`: which datapath carries the peer.
    pub datapath: &'static str,
}

/// Counters updated by the datapath tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) rx_bytes: AtomicU64,
    pub(crate) tx_bytes: AtomicU64,
    pub(crate) rx_packets: AtomicU64,
    pub(crate) tx_packets: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A live peer.
pub(crate) struct Peer {
    pub(crate) spec: PeerSpec,
    /// Session index base (boringtun shifts it left by 8).
    pub(crate) index: u32,
    pub(crate) tun: Tun,
    /// The noise state; `None` without WireGuard.
    pub(crate) noise: Option<Mutex<Tunn>>,
    pub(crate) endpoint: Mutex<Option<SocketAddr>>,
    pub(crate) counters: Counters,
}

impl Peer {
    pub(crate) fn endpoint(&self) -> Option<SocketAddr> {
        *self.endpoint.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records where an authenticated datagram came from.
    pub(crate) fn learn_endpoint(&self, from: SocketAddr) {
        let mut endpoint = self.endpoint.lock().unwrap_or_else(|p| p.into_inner());
        if *endpoint != Some(from) {
            tracing::info!(device = %self.spec.device, old = ?*endpoint, new = %from, "peer endpoint changed");
            *endpoint = Some(from);
        }
    }

    pub(crate) fn status(&self) -> PeerStatus {
        let last_handshake_age = self.noise.as_ref().and_then(|n| {
            let noise = n.lock().unwrap_or_else(|p| p.into_inner());
            noise.stats().0
        });
        let c = &self.counters;
        PeerStatus {
            device: self.spec.device.clone(),
            public_key: self.spec.public_key,
            endpoint: self.endpoint(),
            last_handshake_age,
            rx_bytes: c.rx_bytes.load(Ordering::Relaxed),
            tx_bytes: c.tx_bytes.load(Ordering::Relaxed),
            rx_packets: c.rx_packets.load(Ordering::Relaxed),
            tx_packets: c.tx_packets.load(Ordering::Relaxed),
            datapath: "userspace",
        }
    }
}

/// Every peer, reachable by session index, public key, outer remote and device.
#[derive(Default)]
pub(crate) struct PeerTable {
    by_index: HashMap<u32, Arc<Peer>>,
    by_key: HashMap<[u8; 32], u32>,
    by_remote: HashMap<Ipv4Addr, u32>,
    by_device: HashMap<String, u32>,
}

impl PeerTable {
    /// Refuses a spec that clashes with an existing peer.
    pub(crate) fn check_new(&self, spec: &PeerSpec, wireguard: bool) -> Result<(), DataplaneError> {
        if self.by_device.contains_key(&spec.device) {
            return Err(DataplaneError::Duplicate { what: "device" });
        }
        if wireguard && self.by_key.contains_key(&spec.public_key) {
            return Err(DataplaneError::Duplicate { what: "public key" });
        }
        if self.by_remote.contains_key(&spec.outer_remote) {
            return Err(DataplaneError::Duplicate {
                what: "outer remote address",
            });
        }
        Ok(())
    }

    /// An unused 24-bit session index near `hint`.
    pub(crate) fn free_index(&self, hint: u32) -> u32 {
        let mut index = hint & 0x00ff_ffff;
        while index == 0 || self.by_index.contains_key(&index) {
            index = (index + 1) & 0x00ff_ffff;
        }
        index
    }

    pub(crate) fn insert(&mut self, peer: Arc<Peer>) {
        let index = peer.index;
        self.by_key.insert(peer.spec.public_key, index);
        self.by_remote.insert(peer.spec.outer_remote, index);
        self.by_device.insert(peer.spec.device.clone(), index);
        self.by_index.insert(index, peer);
    }

    pub(crate) fn remove(&mut self, device: &str) -> Option<Arc<Peer>> {
        let index = self.by_device.remove(device)?;
        let peer = self.by_index.remove(&index)?;
        self.by_key.remove(&peer.spec.public_key);
        self.by_remote.remove(&peer.spec.outer_remote);
        Some(peer)
    }

    pub(crate) fn by_index(&self, index: u32) -> Option<&Arc<Peer>> {
        self.by_index.get(&index)
    }

    pub(crate) fn by_key(&self, key: &[u8; 32]) -> Option<&Arc<Peer>> {
        self.by_key.get(key).and_then(|i| self.by_index.get(i))
    }

    pub(crate) fn by_remote(&self, remote: &Ipv4Addr) -> Option<&Arc<Peer>> {
        self.by_remote
            .get(remote)
            .and_then(|i| self.by_index.get(i))
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Peer>> {
        self.by_index.values()
    }
}
