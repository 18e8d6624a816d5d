//! The datapaths behind one interface: kernel IPIP links (plain, or inside one kernel
//! WireGuard device), or the userspace [`dataplane::Dataplane`]. [`Backend::start`] makes
//! the choice (see the module above).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use config::Datapath;
use dataplane::{Dataplane, PeerSpec};
use kernel::{KernelError, Links, TunnelSpec};

use super::kernel_wireguard::{self, KernelWireGuard, WG_DEVICE};
use super::{TransportError, TunnelPeer, TunnelStatus};
use crate::sam::settings::TransportSettings;

/// Name of the throw-away link that probes the kernel for IPIP support.
const PROBE_DEVICE: &str = "samprobe0";
/// Outer TTL of kernel IPIP packets.
const IPIP_TTL: u8 = 64;

/// A running datapath.
pub(super) enum Backend {
    /// Kernel IPIP links between underlay addresses (no WireGuard).
    Kernel(Links),
    /// Kernel IPIP links inside one kernel WireGuard device.
    KernelWireGuard(KernelWireGuard),
    /// routerd's TUN datapath.
    Userspace(Dataplane),
}

impl Backend {
    /// Picks and starts the datapath for `settings`: `kernel` starts the kernel path or
    /// fails; `auto` tries it and falls back to userspace exactly when the kernel lacks a
    /// feature ([`KernelError::is_unsupported`]).
    pub(super) async fn start(
        settings: &TransportSettings,
        links: Links,
    ) -> Result<Backend, TransportError> {
        match settings.datapath {
            Datapath::Userspace => {}
            Datapath::Kernel => return start_kernel(settings, links).await,
            Datapath::Auto => match start_kernel(settings, links).await {
                Ok(backend) => return Ok(backend),
                Err(TransportError::Kernel(e)) if e.is_unsupported() => {
                    tracing::info!(error = %e, "falling back to the userspace datapath");
                }
                Err(e) => return Err(e),
            },
        }
        let (private_key, listen_port) = settings
            .wireguard
            .as_ref()
            .map(|w| (w.private_key, w.listen_port))
            .unwrap_or(([0; 32], 0));
        let plane = Dataplane::start(dataplane::Config {
            private_key,
            listen_port,
            wireguard: settings.wireguard.is_some(),
        })
        .await?;
        Ok(Backend::Userspace(plane))
    }

    /// `kernel` or `userspace`.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Backend::Kernel(_) | Backend::KernelWireGuard(_) => "kernel",
            Backend::Userspace(_) => "userspace",
        }
    }

    /// Work shared by a batch of new peers before their devices are built: the kernel
    /// WireGuard peers of the whole batch in one exchange. Nothing for the other paths.
    pub(super) async fn prepare(&self, peers: &[&TunnelPeer]) -> Result<(), TransportError> {
        match self {
            Backend::KernelWireGuard(wg) => wg.add_peers(peers).await,
            Backend::Kernel(_) | Backend::Userspace(_) => Ok(()),
        }
    }

    /// Creates the peer's device (up, MTU set).
    pub(super) async fn add(
        &self,
        settings: &TransportSettings,
        peer: &TunnelPeer,
    ) -> Result<(), TransportError> {
        let (outer_local, outer_remote) = outer_addresses(settings, peer)?;
        match self {
            Backend::Kernel(links) => {
                links
                    .ipip_create(&TunnelSpec {
                        name: peer.device.clone(),
                        local: outer_local,
                        remote: outer_remote,
                        ttl: IPIP_TTL,
                        mtu: settings.mtu,
                    })
                    .await?;
                links.link_up(&peer.device).await?;
            }
            Backend::KernelWireGuard(wg) => {
                wg.add_tunnel(settings, peer, (outer_local, outer_remote), IPIP_TTL)
                    .await?
            }
            Backend::Userspace(plane) => {
                plane
                    .add_peer(PeerSpec {
                        device: peer.device.clone(),
                        public_key: peer.public_key.unwrap_or([0; 32]),
                        endpoint: peer.endpoint,
                        keepalive: peer.keepalive,
                        outer_local,
                        outer_remote,
                        mtu: settings.mtu,
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// Removes a half-built tunnel's device before the build is retried, and nothing
    /// else: with kernel WireGuard the WireGuard peer stays, so a retry does not cost the
    /// peer its session, handshake and counters. Absent is fine.
    pub(super) async fn remove_device(&self, peer: &TunnelPeer) {
        let links = match self {
            Backend::Kernel(links) => links,
            Backend::KernelWireGuard(wg) => wg.links(),
            Backend::Userspace(_) => return self.remove(peer).await,
        };
        match links.delete_link(&peer.device).await {
            Ok(()) | Err(KernelError::NoSuchDevice { .. }) => {}
            Err(error) => {
                tracing::warn!(device = %peer.device, %error, "cannot remove tunnel device")
            }
        }
    }

    /// Removes the peer's device (and with it its address and routes) and, with kernel
    /// WireGuard, its WireGuard peer; absent is fine.
    pub(super) async fn remove(&self, peer: &TunnelPeer) {
        let device = &peer.device;
        let result = match self {
            Backend::Kernel(links) => match links.delete_link(device).await {
                Err(KernelError::NoSuchDevice { .. }) => Ok(()),
                other => other.map_err(|e| e.to_string()),
            },
            Backend::KernelWireGuard(wg) => wg.remove(peer).await.map_err(|e| e.to_string()),
            Backend::Userspace(plane) => match plane.remove_peer(device).await {
                Err(dataplane::DataplaneError::NoSuchPeer { .. }) => Ok(()),
                other => other.map_err(|e| e.to_string()),
            },
        };
        if let Err(error) = result {
            tracing::warn!(%device, %error, "cannot remove tunnel device");
        }
    }

    /// The route that carries a peer's outer packets, when the backend needs one: with
    /// kernel WireGuard, the peer's WireGuard address /32 on the WireGuard device.
    pub(super) fn outer_route(&self, peer: &TunnelPeer) -> Option<kernel::RouteChange> {
        match self {
            Backend::KernelWireGuard(_) => peer.peer_wireguard.map(kernel_wireguard::outer_route),
            Backend::Kernel(_) | Backend::Userspace(_) => None,
        }
    }

    /// Removes what only the backend itself owns (the kernel WireGuard device); the
    /// caller removes the peers first.
    pub(super) async fn stop(&self) {
        if let Backend::KernelWireGuard(wg) = self {
            wg.stop().await;
        }
    }

    /// Status of the built tunnels, with WireGuard endpoint, handshake age and byte
    /// counters from the datapath (the kernel's `WG_CMD_GET_DEVICE` or the dataplane).
    pub(super) async fn status(&self, built: &BTreeMap<String, TunnelPeer>) -> Vec<TunnelStatus> {
        let base = |peer: &TunnelPeer| TunnelStatus {
            device: peer.device.clone(),
            label: peer.label.clone(),
            peer_tunnel: peer.peer_tunnel,
            peer_wireguard: peer.peer_wireguard,
            datapath: self.name(),
            endpoint: peer
                .endpoint
                .or(peer.underlay.map(|a| SocketAddr::from((a, 0)))),
            handshake_age_secs: None,
            rx_bytes: 0,
            tx_bytes: 0,
            error: None,
        };
        match self {
            Backend::Kernel(_) => built.values().map(base).collect(),
            Backend::KernelWireGuard(wg) => {
                let live = wg.counters().await.map_err(|e| e.to_string());
                built
                    .values()
                    .map(|peer| {
                        let mut status = base(peer);
                        let counters = live
                            .as_ref()
                            .map(|live| peer.public_key.and_then(|k| live.get(&k)));
                        match counters {
                            Ok(Some(c)) => {
                                status.endpoint = c.endpoint.or(status.endpoint);
                                status.handshake_age_secs = c.handshake_age_secs;
                                status.rx_bytes = c.rx_bytes;
                                status.tx_bytes = c.tx_bytes;
                            }
                            Ok(None) => {
                                status.error = Some(format!(
                                    "the WireGuard peer is missing from {WG_DEVICE} (removed outside routerd?)"
                                ));
                            }
                            Err(e) => {
                                status.error = Some(format!("cannot read {WG_DEVICE}: {e}"));
                            }
                        }
                        status
                    })
                    .collect()
            }
            Backend::Userspace(plane) => {
                let live: BTreeMap<String, dataplane::PeerStatus> = plane
                    .status()
                    .into_iter()
                    .map(|s| (s.device.clone(), s))
                    .collect();
                built
                    .values()
                    .map(|peer| {
                        let mut status = base(peer);
                        if let Some(s) = live.get(&peer.device) {
                            status.endpoint = s.endpoint.or(status.endpoint);
                            status.handshake_age_secs = s.last_handshake_age.map(|d| d.as_secs());
                            status.rx_bytes = s.rx_bytes;
                            status.tx_bytes = s.tx_bytes;
                        }
                        status
                    })
                    .collect()
            }
        }
    }
}

/// Starts the kernel path: probes IPIP, and with WireGuard creates the kernel WireGuard
/// device. Errors are the kernel's, unsupported ones included (the caller decides).
async fn start_kernel(
    settings: &TransportSettings,
    links: Links,
) -> Result<Backend, TransportError> {
    probe_ipip(&links, settings).await?;
    match &settings.wireguard {
        Some(wireguard) => Ok(Backend::KernelWireGuard(
            KernelWireGuard::start(settings, wireguard, links).await?,
        )),
        None => Ok(Backend::Kernel(links)),
    }
}

/// Outer IPIP addresses: WireGuard addresses inside WireGuard, underlay addresses
/// without.
fn outer_addresses(
    settings: &TransportSettings,
    peer: &TunnelPeer,
) -> Result<(Ipv4Addr, Ipv4Addr), TransportError> {
    if let Some(wireguard) = &settings.wireguard {
        let remote = peer.peer_wireguard.ok_or(TransportError::Unsupported(
            "a WireGuard tunnel needs the peer's WireGuard address (its claim or RR set has none)",
        ))?;
        return Ok((wireguard.address, remote));
    }
    match (settings.underlay_address, peer.underlay) {
        (Some(local), Some(remote)) => Ok((local, remote)),
        _ => Err(TransportError::Unsupported(
            "plain IPIP needs the underlay addresses of both ends (a leaf behind NAT needs WireGuard)",
        )),
    }
}

/// Creates and deletes an IPIP link to learn whether the kernel has IPIP.
async fn probe_ipip(links: &Links, settings: &TransportSettings) -> Result<(), TransportError> {
    let local = settings.underlay_address.unwrap_or(settings.tunnel_address);
    let _ = links.delete_link(PROBE_DEVICE).await;
    links
        .ipip_create(&TunnelSpec {
            name: PROBE_DEVICE.to_string(),
            local,
            remote: Ipv4Addr::new(192, 0, 2, 255),
            ttl: IPIP_TTL,
            mtu: settings.mtu,
        })
        .await?;
    links.delete_link(PROBE_DEVICE).await?;
    Ok(())
}
