//! The tunnels between a leaf and its RRs: one device per remote peer, run by the kernel
//! (IPIP links, optionally inside one kernel WireGuard device) or by the userspace
//! [`dataplane`] (TUN devices, WireGuard with boringtun).
//!
//! Contract: [`TransportHandle::start`] puts this node's tunnel address on `lo` (so BGP
//! can bind it before any tunnel exists), turns on IPv4 forwarding, picks the datapath
//! and starts a task that owns it. The core then hands over the *whole* desired set of
//! tunnels with [`TransportHandle::set_tunnels`] whenever it changes; the task removes
//! tunnels no longer wanted (with kernel WireGuard: the WireGuard peer too), configures
//! the WireGuard peers of all new tunnels in one batch, (re)creates new or changed
//! devices, and for each gives the device this node's tunnel address /32, a route
//! `peer tunnel address/32 dev <device>` and loose reverse-path filtering. Nothing here
//! waits in the core: the task works on its own and publishes [`TunnelStatus`]
//! (refreshed every second, WireGuard counters read from the datapath) for the API.
//!
//! Datapath choice (`transport.datapath`): `userspace` always uses the dataplane;
//! `kernel` uses kernel IPIP links (and, with WireGuard, a kernel WireGuard device) and
//! fails when the kernel lacks them; `auto` tries the kernel path and falls back to
//! userspace exactly on `KernelError::is_unsupported()`.
//!
//! Addresses: with WireGuard, the IPIP packets inside WireGuard run between the two
//! WireGuard addresses (`transport.wireguard.address` here; the peer's from its claim or
//! the RR set), and WireGuard accepts only the peer's WireGuard address; the tunnel
//! addresses are the inner addresses (BGP, and the next hop of client routes). Without
//! WireGuard, IPIP runs between the underlay addresses. A WireGuard tunnel to a peer
//! without a WireGuard address is refused with an error in its status. The kernel
//! layout is in [`kernel_wireguard`].

mod backend;
mod kernel_wireguard;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use kernel::{Device, Fib, NextHop, RouteChange};
use tokio::sync::mpsc;

use crate::sam::settings::TransportSettings;
use backend::Backend;

/// Routing protocol tag of the per-tunnel routes (`static`), distinct from BGP routes so
/// the FIB task's stale-route flush never touches them.
const TUNNEL_ROUTE_PROTOCOL: u8 = 4;
/// Main routing table.
const MAIN_TABLE: u32 = 254;
/// How often tunnel counters are refreshed for the status.
const STATUS_REFRESH: Duration = Duration::from_secs(1);

/// One tunnel the core wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TunnelPeer {
    /// Device name (at most 15 bytes), stable for the peer: see [`device_name`].
    pub(crate) device: String,
    /// Who is at the other end (leaf id or RR router id), for status and logs.
    pub(crate) label: String,
    /// The peer's tunnel address (its BGP session address).
    pub(crate) peer_tunnel: Ipv4Addr,
    /// The peer's WireGuard public key (WireGuard only).
    pub(crate) public_key: Option<[u8; 32]>,
    /// The peer's WireGuard address, the outer IPIP destination (WireGuard only).
    pub(crate) peer_wireguard: Option<Ipv4Addr>,
    /// Where to send WireGuard datagrams; `None` waits for the peer's handshake.
    pub(crate) endpoint: Option<SocketAddr>,
    /// Persistent keepalive toward the peer.
    pub(crate) keepalive: Option<u16>,
    /// The peer's underlay address (outer IPIP destination without WireGuard).
    pub(crate) underlay: Option<Ipv4Addr>,
}

/// One tunnel as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TunnelStatus {
    /// Device name.
    pub(crate) device: String,
    /// Leaf id or RR router id.
    pub(crate) label: String,
    /// The peer's tunnel address.
    pub(crate) peer_tunnel: Ipv4Addr,
    /// The peer's WireGuard address (outer IPIP destination), with WireGuard.
    pub(crate) peer_wireguard: Option<Ipv4Addr>,
    /// `kernel` or `userspace`.
    pub(crate) datapath: &'static str,
    /// Current WireGuard endpoint (configured or learned), or the underlay peer.
    pub(crate) endpoint: Option<SocketAddr>,
    /// Seconds since the last WireGuard handshake.
    pub(crate) handshake_age_secs: Option<u64>,
    /// Transport bytes received.
    pub(crate) rx_bytes: u64,
    /// Transport bytes sent.
    pub(crate) tx_bytes: u64,
    /// Why the tunnel could not be built, if it could not.
    pub(crate) error: Option<String>,
}

/// The transport could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// A kernel request failed (not a missing feature).
    #[error("transport: {0}")]
    Kernel(#[from] kernel::KernelError),
    /// The userspace datapath could not start.
    #[error("userspace datapath: {0}")]
    Dataplane(#[from] dataplane::DataplaneError),
    /// The configuration asks for something this build cannot do.
    #[error("transport: {0}")]
    Unsupported(&'static str),
}

/// The core's side of the transport task.
pub(crate) struct TransportHandle {
    desired: mpsc::UnboundedSender<Vec<TunnelPeer>>,
    status: Arc<Mutex<Vec<TunnelStatus>>>,
    datapath: &'static str,
}

/// A stable device name for a peer: `samt` and 8 hex digits of an FNV-1a hash of its
/// identity (12 bytes, within IFNAMSIZ).
pub(crate) fn device_name(identity: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in identity.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("samt{hash:08x}")
}

impl TransportHandle {
    /// Prepares the host (tunnel address on `lo`, forwarding), picks the datapath and
    /// starts the task.
    pub(crate) async fn start(
        settings: TransportSettings,
    ) -> Result<TransportHandle, TransportError> {
        let links = kernel::Links::new()?;
        links
            .address_add("lo", IpNet::V4(Ipv4Net::from(settings.tunnel_address)))
            .await?;
        kernel::sysctl::set_ip_forward(true)?;
        let backend = Backend::start(&settings, links.clone()).await?;
        let datapath = backend.name();
        tracing::info!(datapath, mtu = settings.mtu, "transport ready");
        let fib = Fib::with_protocol(MAIN_TABLE, TUNNEL_ROUTE_PROTOCOL)?;
        let status = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            settings,
            links,
            fib,
            backend,
            built: BTreeMap::new(),
            failed: BTreeMap::new(),
            status: status.clone(),
        };
        tokio::spawn(task.run(rx));
        Ok(TransportHandle {
            desired: tx,
            status,
            datapath,
        })
    }

    /// A handle without a task, for tests: the desired sets arrive on the receiver.
    #[cfg(test)]
    pub(crate) fn detached() -> (TransportHandle, mpsc::UnboundedReceiver<Vec<TunnelPeer>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = TransportHandle {
            desired: tx,
            status: Arc::new(Mutex::new(Vec::new())),
            datapath: "userspace",
        };
        (handle, rx)
    }

    /// Replaces the desired set of tunnels.
    pub(crate) fn set_tunnels(&self, tunnels: Vec<TunnelPeer>) {
        let _ = self.desired.send(tunnels);
    }

    /// `kernel` or `userspace`.
    pub(crate) fn datapath(&self) -> &'static str {
        self.datapath
    }

    /// The tunnels as last refreshed.
    pub(crate) fn status(&self) -> Vec<TunnelStatus> {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

struct Task {
    settings: TransportSettings,
    links: kernel::Links,
    fib: Fib,
    backend: Backend,
    built: BTreeMap<String, TunnelPeer>,
    failed: BTreeMap<String, (TunnelPeer, String)>,
    status: Arc<Mutex<Vec<TunnelStatus>>>,
}

impl Task {
    async fn run(mut self, mut desired: mpsc::UnboundedReceiver<Vec<TunnelPeer>>) {
        let mut refresh = tokio::time::interval(STATUS_REFRESH);
        let mut wanted: Vec<TunnelPeer> = Vec::new();
        loop {
            tokio::select! {
                next = desired.recv() => match next {
                    Some(mut set) => {
                        while let Ok(newer) = desired.try_recv() {
                            set = newer;
                        }
                        wanted = set;
                        self.reconcile(&wanted).await;
                    }
                    None => break,
                },
                _ = refresh.tick() => {
                    // Retry tunnels that failed (e.g. a device name still in use).
                    if !self.failed.is_empty() {
                        self.reconcile(&wanted).await;
                    }
                }
            }
            self.publish().await;
        }
        for peer in std::mem::take(&mut self.built).into_values() {
            self.backend.remove(&peer).await;
        }
        self.backend.stop().await;
    }

    async fn reconcile(&mut self, wanted: &[TunnelPeer]) {
        let keep: BTreeMap<&str, &TunnelPeer> =
            wanted.iter().map(|t| (t.device.as_str(), t)).collect();
        let stale: Vec<String> = self
            .built
            .iter()
            .filter(|(device, peer)| keep.get(device.as_str()) != Some(peer))
            .map(|(device, _)| device.clone())
            .collect();
        for device in stale {
            if let Some(peer) = self.built.remove(&device) {
                self.backend.remove(&peer).await;
                self.remove_outer_route(&peer).await;
                tracing::info!(%device, peer = %peer.label, reason = change_reason(&peer, keep.get(device.as_str()).copied()), "tunnel removed");
            }
        }
        self.failed.clear();
        let new: Vec<&TunnelPeer> = wanted
            .iter()
            .filter(|peer| !self.built.contains_key(&peer.device))
            .collect();
        if new.is_empty() {
            return;
        }
        if let Err(error) = self.backend.prepare(&new).await {
            tracing::warn!(%error, peers = new.len(), "cannot configure the WireGuard peers; retrying every second");
            for peer in new {
                self.failed
                    .insert(peer.device.clone(), (peer.clone(), error.to_string()));
            }
            return;
        }
        for peer in new {
            match self.build(peer).await {
                Ok(()) => {
                    tracing::info!(device = %peer.device, peer = %peer.label, tunnel = %peer.peer_tunnel, "tunnel up");
                    self.built.insert(peer.device.clone(), peer.clone());
                }
                Err(error) => {
                    tracing::warn!(device = %peer.device, peer = %peer.label, %error, "cannot build tunnel; retrying every second");
                    self.backend.remove_device(peer).await;
                    self.failed
                        .insert(peer.device.clone(), (peer.clone(), error.to_string()));
                }
            }
        }
    }

    async fn build(&self, peer: &TunnelPeer) -> Result<(), TransportError> {
        self.backend.add(&self.settings, peer).await?;
        let own = IpNet::V4(Ipv4Net::from(self.settings.tunnel_address));
        self.links.address_add(&peer.device, own).await?;
        let mut routes = vec![RouteChange::Replace {
            prefix: IpNet::V4(Ipv4Net::from(peer.peer_tunnel)),
            next_hops: vec![NextHop {
                via: None,
                dev: Some(Device::Name(peer.device.clone())),
                onlink: false,
            }],
        }];
        if let Some(route) = self.backend.outer_route(peer) {
            routes.push(route);
        }
        let report = self.fib.apply(routes).await;
        if let Some((_, error)) = report.failed.into_iter().next() {
            return Err(error.into());
        }
        kernel::sysctl::set_rp_filter(&peer.device, kernel::sysctl::RpFilter::Loose)?;
        Ok(())
    }

    /// Deletes the peer's outer route (kernel WireGuard): the device it points at stays.
    async fn remove_outer_route(&self, peer: &TunnelPeer) {
        if let Some(route) = self.backend.outer_route(peer) {
            let report = self
                .fib
                .apply(vec![RouteChange::Delete {
                    prefix: route.prefix(),
                }])
                .await;
            if let Some((prefix, error)) = report.failed.into_iter().next() {
                tracing::warn!(%prefix, %error, "cannot remove the WireGuard route of a tunnel");
            }
        }
    }

    async fn publish(&self) {
        let mut all = self.backend.status(&self.built).await;
        for (peer, error) in self.failed.values() {
            all.push(TunnelStatus {
                device: peer.device.clone(),
                label: peer.label.clone(),
                peer_tunnel: peer.peer_tunnel,
                peer_wireguard: peer.peer_wireguard,
                datapath: self.backend.name(),
                endpoint: peer.endpoint,
                handshake_age_secs: None,
                rx_bytes: 0,
                tx_bytes: 0,
                error: Some(error.clone()),
            });
        }
        all.sort_by(|a, b| a.device.cmp(&b.device));
        if let Ok(mut status) = self.status.lock() {
            *status = all;
        }
    }
}

/// Why a built tunnel is taken down, for the log: gone from the desired set, or which
/// of its fields changed (a changed tunnel is removed and built again).
fn change_reason(built: &TunnelPeer, wanted: Option<&TunnelPeer>) -> &'static str {
    let Some(wanted) = wanted else {
        return "no longer wanted";
    };
    if built.public_key != wanted.public_key {
        "WireGuard key changed"
    } else if built.endpoint != wanted.endpoint {
        "endpoint changed"
    } else if built.peer_tunnel != wanted.peer_tunnel
        || built.peer_wireguard != wanted.peer_wireguard
    {
        "address changed"
    } else if built.underlay != wanted.underlay {
        "underlay address changed"
    } else {
        "settings changed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_stable_short_and_distinct() {
        let a = device_name("sites/leaf-a");
        assert_eq!(a, device_name("sites/leaf-a"));
        assert_ne!(a, device_name("sites/leaf-b"));
        assert!(a.len() <= 15 && a.starts_with("samt"), "{a}");
    }
}
