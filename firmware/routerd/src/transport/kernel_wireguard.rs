//! The kernel datapath with WireGuard: one kernel WireGuard device ([`WG_DEVICE`]) for
//! all peers, and per peer an IPIP link bound to it.
//!
//! Addresses and routing: the WireGuard device holds this node's WireGuard address /32.
//! The IPIP link of a peer runs between the two WireGuard addresses (`local` = this
//! node's, `remote` = the peer's) and is created with `IFLA_IPTUN_LINK` = the WireGuard
//! device, so its outer packets can only leave through WireGuard. Per peer, the route
//! `peer WireGuard address/32 dev` [`WG_DEVICE`] ([`outer_route`]) carries the outer
//! packets; the route `peer tunnel address/32 dev <ipip device>` carries the inner
//! traffic (BGP, and client routes via the peer's tunnel address). WireGuard picks the
//! peer by its allowed IPs (the peer's WireGuard address /32 only), encrypts and sends
//! to the endpoint. Inbound, WireGuard accepts the outer packet because its source is
//! that allowed IP and hands it to the IPIP receive path, which finds the link by
//! (remote, local). Reverse path filtering is off on the WireGuard device; WireGuard's
//! own check (the source must be the sending peer's allowed IP) is the stricter one.
//!
//! Peers: [`KernelWireGuard::add_peers`] configures a whole batch in one
//! `WG_CMD_SET_DEVICE` exchange (split across messages by the `kernel` crate) that names
//! only the device and the peers: never the replace-peers flag, and never the private
//! key again (setting it, even unchanged, expires every peer's session keys), so existing
//! peers keep their sessions and learned endpoints.
//! A peer without an endpoint (a leaf behind NAT, seen from the RR) gets its endpoint
//! from its first authenticated handshake, and follows it when the NAT mapping changes.
//! [`KernelWireGuard::remove`] deletes the IPIP link and the WireGuard peer.
//!
//! Call order: [`KernelWireGuard::start`] (fresh device), then `add_peers`/`add_tunnel`
//! per new peer, `remove` per gone peer, `status` any time, `stop` at the end.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use ipnet::{IpNet, Ipv4Net};
use kernel::{KernelError, Links, TunnelSpec, WireGuard, WireGuardConfig, WireGuardPeer};

use super::{TransportError, TunnelPeer};
use crate::sam::settings::{TransportSettings, WireGuardSettings};

/// Name of the kernel WireGuard device.
pub(super) const WG_DEVICE: &str = "samwg0";
/// Outer IPv4 header of IPIP: the WireGuard device's MTU is the tunnel MTU plus this.
const IPIP_HEADER: u32 = 20;

/// What the kernel reports about one WireGuard peer, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PeerCounters {
    /// Current endpoint (configured or learned).
    pub(super) endpoint: Option<std::net::SocketAddr>,
    /// Seconds since the last completed handshake.
    pub(super) handshake_age_secs: Option<u64>,
    /// Bytes received from the peer.
    pub(super) rx_bytes: u64,
    /// Bytes sent to the peer.
    pub(super) tx_bytes: u64,
}

/// The kernel WireGuard device and the IPIP links inside it.
pub(super) struct KernelWireGuard {
    links: Links,
    wg: WireGuard,
    private_key: [u8; 32],
    listen_port: u16,
}

impl KernelWireGuard {
    /// Creates [`WG_DEVICE`] afresh (a leftover of an earlier run is deleted first),
    /// sets key, port and MTU, turns reverse-path filtering off on it, brings it up. A kernel without WireGuard gives
    /// `KernelError::Unsupported` (creating the link or resolving the family), and leaves
    /// nothing behind.
    pub(super) async fn start(
        settings: &TransportSettings,
        wireguard: &WireGuardSettings,
        links: Links,
    ) -> Result<KernelWireGuard, TransportError> {
        links.delete_link(WG_DEVICE).await?;
        links.wireguard_create(WG_DEVICE).await?;
        let this = match WireGuard::new().await {
            Ok(wg) => KernelWireGuard {
                links,
                wg,
                private_key: wireguard.private_key,
                listen_port: wireguard.listen_port,
            },
            Err(e) => {
                let _ = links.delete_link(WG_DEVICE).await;
                return Err(e.into());
            }
        };
        if let Err(e) = this.prepare_device(settings).await {
            let _ = this.links.delete_link(WG_DEVICE).await;
            return Err(e);
        }
        Ok(this)
    }

    async fn prepare_device(&self, settings: &TransportSettings) -> Result<(), TransportError> {
        self.wg
            .configure(&WireGuardConfig {
                name: WG_DEVICE.to_string(),
                private_key: self.private_key,
                listen_port: self.listen_port,
                peers: Vec::new(),
                replace_peers: true,
            })
            .await?;
        self.links
            .set_mtu(WG_DEVICE, settings.mtu + IPIP_HEADER)
            .await?;
        if let Some(wireguard) = &settings.wireguard {
            self.links
                .address_add(WG_DEVICE, host_route(wireguard.address))
                .await?;
        }
        self.links.link_up(WG_DEVICE).await?;
        kernel::sysctl::set_rp_filter(WG_DEVICE, kernel::sysctl::RpFilter::Off)?;
        Ok(())
    }

    /// Adds or updates the WireGuard peers of `peers` in one exchange.
    pub(super) async fn add_peers(&self, peers: &[&TunnelPeer]) -> Result<(), TransportError> {
        let mut wanted = Vec::with_capacity(peers.len());
        for peer in peers {
            wanted.push(wireguard_peer(peer)?);
        }
        if wanted.is_empty() {
            return Ok(());
        }
        // Only the peers: sending the private key again would expire every session.
        self.wg.add_peers(WG_DEVICE, &wanted).await?;
        let on_device = self.wg.status(WG_DEVICE).await?.len();
        tracing::info!(
            device = WG_DEVICE,
            added = peers.len(),
            on_device,
            "WireGuard peers configured"
        );
        Ok(())
    }

    /// Creates the peer's IPIP link between the `(local, remote)` WireGuard addresses
    /// inside the WireGuard device and brings it up.
    pub(super) async fn add_tunnel(
        &self,
        settings: &TransportSettings,
        peer: &TunnelPeer,
        (local, remote): (Ipv4Addr, Ipv4Addr),
        ttl: u8,
    ) -> Result<(), TransportError> {
        let spec = TunnelSpec {
            name: peer.device.clone(),
            local,
            remote,
            ttl,
            mtu: settings.mtu,
        };
        self.links.ipip_create_over(&spec, WG_DEVICE).await?;
        self.links.link_up(&peer.device).await?;
        Ok(())
    }

    /// The link handle the device and its IPIP links are managed with.
    pub(super) fn links(&self) -> &Links {
        &self.links
    }

    /// Deletes the peer's IPIP link and WireGuard peer; absent ones are fine.
    pub(super) async fn remove(&self, peer: &TunnelPeer) -> Result<(), KernelError> {
        match self.links.delete_link(&peer.device).await {
            Ok(()) | Err(KernelError::NoSuchDevice { .. }) => {}
            Err(e) => return Err(e),
        }
        if let Some(key) = peer.public_key {
            self.wg.remove_peer(WG_DEVICE, key).await?;
        }
        Ok(())
    }

    /// Per-peer counters read from the kernel (`WG_CMD_GET_DEVICE`), by public key.
    pub(super) async fn counters(&self) -> Result<BTreeMap<[u8; 32], PeerCounters>, KernelError> {
        let now = SystemTime::now();
        Ok(self
            .wg
            .status(WG_DEVICE)
            .await?
            .into_iter()
            .map(|p| {
                let age = p
                    .last_handshake
                    .map(|t| now.duration_since(t).map(|d| d.as_secs()).unwrap_or(0));
                let counters = PeerCounters {
                    endpoint: p.endpoint,
                    handshake_age_secs: age,
                    rx_bytes: p.rx_bytes,
                    tx_bytes: p.tx_bytes,
                };
                (p.public_key, counters)
            })
            .collect())
    }

    /// Deletes the WireGuard device (the IPIP links are deleted by the caller).
    pub(super) async fn stop(&self) {
        if let Err(error) = self.links.delete_link(WG_DEVICE).await {
            tracing::warn!(device = WG_DEVICE, %error, "cannot delete the WireGuard device");
        }
    }
}

/// The WireGuard side of a tunnel: the peer's key, endpoint and keepalive, and its
/// WireGuard address as the only allowed IP.
fn wireguard_peer(peer: &TunnelPeer) -> Result<WireGuardPeer, TransportError> {
    let public_key = peer.public_key.ok_or(TransportError::Unsupported(
        "a WireGuard tunnel needs the peer's public key (its claim or RR set has none)",
    ))?;
    let address = peer.peer_wireguard.ok_or(TransportError::Unsupported(
        "a WireGuard tunnel needs the peer's WireGuard address (its claim or RR set has none)",
    ))?;
    Ok(WireGuardPeer {
        public_key,
        endpoint: peer.endpoint,
        keepalive: peer.keepalive,
        allowed_ips: vec![host_route(address)],
    })
}

/// The route of a peer's outer packets: its WireGuard address /32 on [`WG_DEVICE`].
pub(super) fn outer_route(peer_wireguard: Ipv4Addr) -> kernel::RouteChange {
    kernel::RouteChange::Replace {
        prefix: host_route(peer_wireguard),
        next_hops: vec![kernel::NextHop {
            via: None,
            dev: Some(kernel::Device::Name(WG_DEVICE.to_string())),
            onlink: false,
        }],
    }
}

fn host_route(address: Ipv4Addr) -> IpNet {
    IpNet::V4(Ipv4Net::from(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: Option<[u8; 32]>) -> TunnelPeer {
        TunnelPeer {
            device: "samt00000001".into(),
            label: "leaf-a".into(),
            peer_tunnel: Ipv4Addr::new(10, 99, 0, 11),
            public_key: key,
            peer_wireguard: Some(Ipv4Addr::new(10, 98, 0, 11)),
            endpoint: None,
            keepalive: Some(25),
            underlay: None,
        }
    }

    #[test]
    fn the_only_allowed_ip_is_the_peer_wireguard_address() {
        let wg = wireguard_peer(&peer(Some([3; 32]))).unwrap();
        assert_eq!(
            wg.allowed_ips,
            vec!["10.98.0.11/32".parse::<IpNet>().unwrap()]
        );
        assert_eq!(wg.public_key, [3; 32]);
        assert_eq!(wg.endpoint, None, "learned from the handshake");
        assert_eq!(wg.keepalive, Some(25));
    }

    #[test]
    fn a_peer_without_a_key_or_address_is_refused() {
        assert!(matches!(
            wireguard_peer(&peer(None)),
            Err(TransportError::Unsupported(_))
        ));
        let mut no_address = peer(Some([3; 32]));
        no_address.peer_wireguard = None;
        assert!(matches!(
            wireguard_peer(&no_address),
            Err(TransportError::Unsupported(_))
        ));
    }

    #[test]
    fn the_outer_route_points_into_the_wireguard_device() {
        let route = outer_route(Ipv4Addr::new(10, 98, 0, 11));
        assert_eq!(route.prefix(), "10.98.0.11/32".parse::<IpNet>().unwrap());
        let kernel::RouteChange::Replace { next_hops, .. } = route else {
            panic!("a replace")
        };
        assert_eq!(
            next_hops[0].dev,
            Some(kernel::Device::Name(WG_DEVICE.into()))
        );
    }
}
