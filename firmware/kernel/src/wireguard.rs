//! [`WireGuard`]: kernel WireGuard devices configured over generic netlink.
//!
//! [`WireGuard::new`] resolves the `wireguard` family; a kernel without it answers
//! ENOENT, reported as [`KernelError::Unsupported`]. [`WireGuard::configure`] splits the
//! peer set over as many `WG_CMD_SET_DEVICE` messages as needed (each below
//! [`MESSAGE_BUDGET`] bytes of attributes): the first carries the device settings and
//! the replace-peers flag, later ones only add peers or continue a peer's allowed IPs.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use genetlink::GenetlinkHandle;
use ipnet::IpNet;
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;
use netlink_packet_wireguard::{
    WireguardAddressFamily, WireguardAllowedIp, WireguardAllowedIpAttr, WireguardAttribute,
    WireguardCmd, WireguardDeviceFlags, WireguardMessage, WireguardPeer as NlPeer,
    WireguardPeerAttribute, WireguardPeerFlags,
};

use crate::KernelError;

/// Attribute bytes per `SET_DEVICE` message; wg(8) keeps messages within a page or two.
pub(crate) const MESSAGE_BUDGET: usize = 8000;
/// Worst-case bytes of one peer's fixed attributes (key, flags, keepalive, IPv6 endpoint,
/// nest headers).
const PEER_FIXED: usize = 4 + 36 + 8 + 8 + 32 + 4;
/// Worst-case bytes of one allowed IP (IPv6).
const ALLOWED_IP: usize = 4 + 8 + 20 + 8;
/// Device attributes of the first message (name, private key, port, flags, peers nest).
const DEVICE_FIXED: usize = 20 + 36 + 8 + 8 + 4;

/// One peer to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireGuardPeer {
    /// The peer's public key.
    pub public_key: [u8; 32],
    /// Where to send to; `None` leaves it to be learned from the peer's handshake.
    pub endpoint: Option<SocketAddr>,
    /// Persistent keepalive in seconds (25 for peers behind NAT); `None` disables it.
    pub keepalive: Option<u16>,
    /// Inner source addresses accepted from the peer (tunnel endpoints only).
    pub allowed_ips: Vec<IpNet>,
}

/// A whole device configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireGuardConfig {
    /// The WireGuard interface name.
    pub name: String,
    /// This side's private key.
    pub private_key: [u8; 32],
    /// UDP listen port.
    pub listen_port: u16,
    /// The peers.
    pub peers: Vec<WireGuardPeer>,
    /// Remove peers not listed here (otherwise they are kept).
    pub replace_peers: bool,
}

/// What the kernel reports about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireGuardPeerStatus {
    /// The peer's public key.
    pub public_key: [u8; 32],
    /// The current endpoint (configured or learned).
    pub endpoint: Option<SocketAddr>,
    /// Time of the last completed handshake, `None` before the first.
    pub last_handshake: Option<SystemTime>,
    /// Bytes received from the peer.
    pub rx_bytes: u64,
    /// Bytes sent to the peer.
    pub tx_bytes: u64,
    /// Persistent keepalive interval in seconds (0 = off).
    pub keepalive: u16,
    /// Allowed IPs.
    pub allowed_ips: Vec<IpNet>,
}

/// A generic-netlink connection with the `wireguard` family resolved.
#[derive(Debug, Clone)]
pub struct WireGuard {
    handle: GenetlinkHandle,
}

fn genl_error(op: &'static str, e: genetlink::GenetlinkError) -> KernelError {
    match e {
        genetlink::GenetlinkError::NetlinkError(io) => match io.raw_os_error() {
            Some(errno) => KernelError::Refused { op, errno },
            None => KernelError::Socket { op, source: io },
        },
        other => KernelError::Decode {
            op,
            detail: other.to_string(),
        },
    }
}

impl WireGuard {
    /// Opens the connection (spawning its task) and resolves the family.
    pub async fn new() -> Result<WireGuard, KernelError> {
        let (connection, handle, _) =
            genetlink::new_connection().map_err(|source| KernelError::Socket {
                op: "open generic netlink",
                source,
            })?;
        tokio::spawn(connection);
        match handle.resolve_family::<WireguardMessage>().await {
            Ok(_) => Ok(WireGuard { handle }),
            Err(e) => match genl_error("resolve wireguard family", e) {
                KernelError::Refused {
                    errno: libc::ENOENT,
                    ..
                } => Err(KernelError::Unsupported {
                    what: "wireguard generic netlink family",
                }),
                other => Err(other),
            },
        }
    }

    /// Sends `cfg` in as many messages as its size needs.
    pub async fn configure(&self, cfg: &WireGuardConfig) -> Result<(), KernelError> {
        for attributes in split_configuration(cfg) {
            self.set_device(attributes).await?;
        }
        Ok(())
    }

    /// Adds or updates `peers` on the device `name` without touching the device settings
    /// (private key, port) or other peers, split like [`WireGuard::configure`]. Setting
    /// the private key again, even to the same key, expires every peer's session keys,
    /// so adding peers to a running device must not send it.
    pub async fn add_peers(&self, name: &str, peers: &[WireGuardPeer]) -> Result<(), KernelError> {
        for attributes in split_peers(name, peers) {
            self.set_device(attributes).await?;
        }
        Ok(())
    }

    /// Removes one peer from the device.
    pub async fn remove_peer(&self, name: &str, public_key: [u8; 32]) -> Result<(), KernelError> {
        let peer = NlPeer(vec![
            WireguardPeerAttribute::PublicKey(public_key),
            WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe),
        ]);
        self.set_device(vec![
            WireguardAttribute::IfName(name.to_string()),
            WireguardAttribute::Peers(vec![peer]),
        ])
        .await
    }

    async fn set_device(&self, attributes: Vec<WireguardAttribute>) -> Result<(), KernelError> {
        const OP: &str = "wireguard set device";
        let genl = GenlMessage::from_payload(WireguardMessage {
            cmd: WireguardCmd::SetDevice,
            attributes,
        });
        let mut message = NetlinkMessage::from(genl);
        message.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        let mut handle = self.handle.clone();
        let mut replies = handle
            .request(message)
            .await
            .map_err(|e| genl_error(OP, e))?;
        while let Some(reply) = replies.next().await {
            let reply = reply.map_err(|e| KernelError::Decode {
                op: OP,
                detail: e.to_string(),
            })?;
            if let NetlinkPayload::Error(err) = reply.payload
                && err.code.is_some()
            {
                return Err(KernelError::Refused {
                    op: OP,
                    errno: -err.raw_code(),
                });
            }
        }
        Ok(())
    }

    /// Per-peer state of the device `name`.
    pub async fn status(&self, name: &str) -> Result<Vec<WireGuardPeerStatus>, KernelError> {
        const OP: &str = "wireguard get device";
        let genl = GenlMessage::from_payload(WireguardMessage {
            cmd: WireguardCmd::GetDevice,
            attributes: vec![WireguardAttribute::IfName(name.to_string())],
        });
        let mut message = NetlinkMessage::from(genl);
        message.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut handle = self.handle.clone();
        let mut replies = handle
            .request(message)
            .await
            .map_err(|e| genl_error(OP, e))?;
        let mut peers: Vec<WireGuardPeerStatus> = Vec::new();
        while let Some(reply) = replies.next().await {
            let reply = reply.map_err(|e| KernelError::Decode {
                op: OP,
                detail: e.to_string(),
            })?;
            match reply.payload {
                NetlinkPayload::InnerMessage(genl) => {
                    for attr in genl.payload.attributes {
                        if let WireguardAttribute::Peers(list) = attr {
                            for peer in list {
                                merge_peer(&mut peers, decode_peer(peer));
                            }
                        }
                    }
                }
                NetlinkPayload::Error(err) if err.code.is_some() => {
                    return Err(KernelError::Refused {
                        op: OP,
                        errno: -err.raw_code(),
                    });
                }
                _ => {}
            }
        }
        Ok(peers)
    }
}

/// A peer split across messages appears again with more allowed IPs: merge them.
fn merge_peer(peers: &mut Vec<WireGuardPeerStatus>, peer: WireGuardPeerStatus) {
    match peers.iter_mut().find(|p| p.public_key == peer.public_key) {
        Some(existing) => existing.allowed_ips.extend(peer.allowed_ips),
        None => peers.push(peer),
    }
}

fn decode_peer(peer: NlPeer) -> WireGuardPeerStatus {
    let mut status = WireGuardPeerStatus {
        public_key: [0; 32],
        endpoint: None,
        last_handshake: None,
        rx_bytes: 0,
        tx_bytes: 0,
        keepalive: 0,
        allowed_ips: Vec::new(),
    };
    for attr in peer.0 {
        match attr {
            WireguardPeerAttribute::PublicKey(k) => status.public_key = k,
            WireguardPeerAttribute::Endpoint(e) => status.endpoint = Some(e),
            WireguardPeerAttribute::LastHandshake(t) if t.seconds > 0 || t.nano_seconds > 0 => {
                let nanos = u32::try_from(t.nano_seconds).unwrap_or(0);
                let secs = u64::try_from(t.seconds).unwrap_or(0);
                status.last_handshake =
                    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos));
            }
            WireguardPeerAttribute::RxBytes(b) => status.rx_bytes = b,
            WireguardPeerAttribute::TxBytes(b) => status.tx_bytes = b,
            WireguardPeerAttribute::PersistentKeepalive(k) => status.keepalive = k,
            WireguardPeerAttribute::AllowedIps(ips) => {
                status
                    .allowed_ips
                    .extend(ips.into_iter().filter_map(decode_allowed_ip));
            }
            _ => {}
        }
    }
    status
}

fn decode_allowed_ip(ip: WireguardAllowedIp) -> Option<IpNet> {
    let mut addr = None;
    let mut cidr = None;
    for attr in ip.0 {
        match attr {
            WireguardAllowedIpAttr::IpAddr(a) => addr = Some(a),
            WireguardAllowedIpAttr::Cidr(c) => cidr = Some(c),
            _ => {}
        }
    }
    IpNet::new(addr?, cidr?).ok()
}

fn allowed_ip(net: &IpNet) -> WireguardAllowedIp {
    let family = match net {
        IpNet::V4(_) => WireguardAddressFamily::Ipv4,
        IpNet::V6(_) => WireguardAddressFamily::Ipv6,
    };
    WireguardAllowedIp(vec![
        WireguardAllowedIpAttr::Family(family),
        WireguardAllowedIpAttr::IpAddr(net.network()),
        WireguardAllowedIpAttr::Cidr(net.prefix_len()),
    ])
}

/// Splits a configuration into `SET_DEVICE` attribute lists, each within
/// [`MESSAGE_BUDGET`]. Pure, so the split is testable without a kernel.
pub(crate) fn split_configuration(cfg: &WireGuardConfig) -> Vec<Vec<WireguardAttribute>> {
    let mut head = vec![
        WireguardAttribute::IfName(cfg.name.clone()),
        WireguardAttribute::PrivateKey(cfg.private_key),
        WireguardAttribute::ListenPort(cfg.listen_port),
    ];
    if cfg.replace_peers {
        head.push(WireguardAttribute::Flags(
            WireguardDeviceFlags::ReplacePeers,
        ));
    }
    split(&cfg.name, head, &cfg.peers)
}

/// Splits a peer set into `SET_DEVICE` attribute lists that name only the device.
pub(crate) fn split_peers(name: &str, peers: &[WireGuardPeer]) -> Vec<Vec<WireguardAttribute>> {
    split(
        name,
        vec![WireguardAttribute::IfName(name.to_string())],
        peers,
    )
}

/// The split itself: `head` opens the first message, later ones carry only the name.
fn split(
    name: &str,
    mut head: Vec<WireguardAttribute>,
    peers: &[WireGuardPeer],
) -> Vec<Vec<WireguardAttribute>> {
    let mut messages = Vec::new();
    let mut current: Vec<NlPeer> = Vec::new();
    let mut used = DEVICE_FIXED;
    let mut flush =
        |head: &mut Vec<WireguardAttribute>, current: &mut Vec<NlPeer>, used: &mut usize| {
            let mut attributes =
                std::mem::replace(head, vec![WireguardAttribute::IfName(name.to_string())]);
            if !current.is_empty() {
                attributes.push(WireguardAttribute::Peers(std::mem::take(current)));
            }
            messages.push(attributes);
            *used = DEVICE_FIXED;
        };
    for peer in peers {
        let mut ips = peer.allowed_ips.as_slice();
        let mut first = true;
        loop {
            if used + PEER_FIXED + ALLOWED_IP > MESSAGE_BUDGET {
                flush(&mut head, &mut current, &mut used);
            }
            let room = (MESSAGE_BUDGET - used - PEER_FIXED) / ALLOWED_IP;
            let take = ips.len().min(room);
            let mut attributes = vec![WireguardPeerAttribute::PublicKey(peer.public_key)];
            if first {
                attributes.push(WireguardPeerAttribute::Flags(
                    WireguardPeerFlags::ReplaceAllowedIps,
                ));
                if let Some(endpoint) = peer.endpoint {
                    attributes.push(WireguardPeerAttribute::Endpoint(endpoint));
                }
                attributes.push(WireguardPeerAttribute::PersistentKeepalive(
                    peer.keepalive.unwrap_or(0),
                ));
            }
            if take > 0 {
                attributes.push(WireguardPeerAttribute::AllowedIps(
                    ips[..take].iter().map(allowed_ip).collect(),
                ));
            }
            current.push(NlPeer(attributes));
            used += PEER_FIXED + take * ALLOWED_IP;
            ips = &ips[take..];
            first = false;
            if ips.is_empty() {
                break;
            }
        }
    }
    flush(&mut head, &mut current, &mut used);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn config(peers: usize, ips_per_peer: usize) -> WireGuardConfig {
        WireGuardConfig {
            name: "wg0".into(),
            private_key: [7; 32],
            listen_port: 51820,
            replace_peers: true,
            peers: (0..peers)
                .map(|p| WireGuardPeer {
                    public_key: {
                        let mut key = [1; 32];
                        key[..2].copy_from_slice(&(p as u16).to_be_bytes());
                        key
                    },
                    endpoint: Some(SocketAddr::from(([203, 0, 113, 1], 51820))),
                    keepalive: Some(25),
                    allowed_ips: (0..ips_per_peer)
                        .map(|i| {
                            IpNet::new([10, (i >> 8) as u8, i as u8, p as u8].into(), 32).unwrap()
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Reassembles the split messages into (key, endpoint seen, allowed IPs) per peer.
    fn reassemble(messages: &[Vec<WireguardAttribute>]) -> Vec<([u8; 32], bool, Vec<IpNet>)> {
        let mut peers: Vec<([u8; 32], bool, Vec<IpNet>)> = Vec::new();
        for msg in messages {
            for attr in msg {
                if let WireguardAttribute::Peers(list) = attr {
                    for peer in list {
                        let status = decode_peer(peer.clone());
                        match peers.iter_mut().find(|p| p.0 == status.public_key) {
                            Some(p) => {
                                assert!(status.endpoint.is_none(), "continuation repeats endpoint");
                                p.2.extend(status.allowed_ips)
                            }
                            None => peers.push((
                                status.public_key,
                                status.endpoint.is_some(),
                                status.allowed_ips,
                            )),
                        }
                    }
                }
            }
        }
        peers
    }

    #[test]
    fn small_configuration_is_one_message_with_device_settings() {
        let messages = split_configuration(&config(2, 2));
        assert_eq!(messages.len(), 1);
        assert!(messages[0].contains(&WireguardAttribute::ListenPort(51820)));
        assert!(messages[0].contains(&WireguardAttribute::Flags(
            WireguardDeviceFlags::ReplacePeers
        )));
    }

    #[test]
    fn adding_peers_never_sends_the_private_key_or_port() {
        let cfg = config(300, 2);
        let messages = split_peers("wg0", &cfg.peers);
        assert!(messages.len() > 1);
        for msg in &messages {
            assert_eq!(msg[0], WireguardAttribute::IfName("wg0".into()));
            assert!(!msg.iter().any(|a| matches!(
                a,
                WireguardAttribute::PrivateKey(_)
                    | WireguardAttribute::ListenPort(_)
                    | WireguardAttribute::Flags(_)
            )));
            assert!(msg.as_slice().buffer_len() <= MESSAGE_BUDGET);
        }
        assert_eq!(reassemble(&messages).len(), 300);
    }

    #[test]
    fn large_peer_and_allowed_ip_sets_split_within_budget_and_lose_nothing() {
        for (peers, ips) in [(500, 1), (3, 1000), (40, 37)] {
            let cfg = config(peers, ips);
            let messages = split_configuration(&cfg);
            assert!(messages.len() > 1, "{peers}x{ips} should split");
            for (i, msg) in messages.iter().enumerate() {
                let bytes: usize = msg.as_slice().buffer_len();
                assert!(bytes <= MESSAGE_BUDGET, "message {i} has {bytes} bytes");
                let replaces = msg
                    .iter()
                    .any(|a| matches!(a, WireguardAttribute::Flags(_)));
                assert_eq!(replaces, i == 0, "only the first message may replace peers");
                assert!(matches!(msg[0], WireguardAttribute::IfName(_)));
            }
            let got = reassemble(&messages);
            assert_eq!(got.len(), cfg.peers.len());
            for (want, got) in cfg.peers.iter().zip(&got) {
                assert_eq!(want.public_key, got.0);
                assert!(got.1);
                assert_eq!(want.allowed_ips, got.2);
            }
        }
    }
}
