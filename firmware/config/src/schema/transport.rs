//! Transport (IPIP, optionally inside WireGuard) and control API parts of the schema.

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::scalars::{Secret, Sha256Digest, WgKey};

/// Default WireGuard UDP port.
pub const DEFAULT_WIREGUARD_PORT: u16 = 51820;
/// Default try-mode revert timeout of a pushed config, in seconds.
pub const DEFAULT_TRY_REVERT_SECS: u32 = 120;
/// Default sustained API requests per second from one source address.
pub const DEFAULT_API_RATE_PER_SECOND: u32 = 30;
/// Default API requests one quiet source address may send at once.
pub const DEFAULT_API_RATE_BURST: u32 = 60;
/// Largest `rate_per_second` and `rate_burst` the API accepts.
pub const MAX_API_RATE: u32 = 10_000;

fn wireguard_port() -> u16 {
    DEFAULT_WIREGUARD_PORT
}
fn try_revert_secs() -> u32 {
    DEFAULT_TRY_REVERT_SECS
}

fn api_rate_per_second() -> u32 {
    DEFAULT_API_RATE_PER_SECOND
}

fn api_rate_burst() -> u32 {
    DEFAULT_API_RATE_BURST
}

/// Tunnel transport between leaves and RRs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Plain IPIP, or IPIP inside WireGuard (default `ipip`).
    #[serde(default)]
    pub mode: TransportMode,
    /// Who runs the tunnels (default `auto`).
    #[serde(default)]
    pub datapath: Datapath,
    /// WireGuard settings; required exactly when `mode = "ipip+wireguard"`.
    #[serde(default)]
    pub wireguard: Option<WireGuard>,
}

/// Tunnel encapsulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransportMode {
    /// IPIP between underlay endpoints.
    #[default]
    #[serde(rename = "ipip")]
    Ipip,
    /// IPIP between WireGuard addresses, inside WireGuard.
    #[serde(rename = "ipip+wireguard")]
    IpipWireguard,
}

/// Which datapath carries the tunnels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datapath {
    /// Kernel links when the kernel supports them, else userspace.
    #[default]
    Auto,
    /// Kernel IPIP/WireGuard links only; fail when unsupported.
    Kernel,
    /// routerd's own TUN-based datapath.
    Userspace,
}

/// WireGuard settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireGuard {
    /// This router's private key (base64, `wg genkey`).
    pub private_key: Secret<WgKey>,
    /// UDP listen port (default 51820).
    #[serde(default = "wireguard_port")]
    pub listen_port: u16,
    /// Keepalive interval in seconds; set 25 behind NAT.
    #[serde(default)]
    pub persistent_keepalive: Option<u16>,
    /// Address of the WireGuard interface; IPIP runs between these addresses.
    pub address: Ipv4Addr,
}

/// The control and status API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Addresses and ports to bind; a wildcard address needs `allow_sources`.
    pub bind: Vec<SocketAddr>,
    /// Source prefixes allowed to connect; empty means any source.
    #[serde(default)]
    pub allow_sources: Vec<IpNet>,
    /// SHA-256 of the bearer token (the token itself is never stored).
    pub token_sha256: Sha256Digest,
    /// Seconds before a pushed config reverts unless confirmed (10..=3600, default 120).
    #[serde(default = "try_revert_secs")]
    pub try_revert_secs: u32,
    /// Requests per second one source address may sustain (1..=10000, default 30);
    /// more are answered `429`.
    #[serde(default = "api_rate_per_second")]
    pub rate_per_second: u32,
    /// Requests one quiet source address may send at once (1..=10000, default 60).
    #[serde(default = "api_rate_burst")]
    pub rate_burst: u32,
}
