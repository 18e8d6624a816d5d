//! `GET /v1/kernel`: what the router's own kernel holds for BGP, read back from the
//! kernel rather than from the speaker. Operators (and the four-site gate) use it where
//! the router's kernel cannot be inspected from outside, e.g. in a guest.
//!
//! Contract: the daemon reads the kernel on its own task ([`KernelView`] with the time of
//! the read) and publishes the latest view on a `watch` channel; the handler answers from
//! that view only and never waits for the kernel. A router without a kernel routing table
//! (a reflect-only RR) has no view: `404`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The kernel's BGP routes and links, as read at `read_at_unix_secs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelView {
    /// Kernel routing table the router installs into (254 = main).
    pub table: u32,
    /// Route protocol number the router tags its routes with (186 = bgp).
    pub protocol: u8,
    /// Unix time of the read (0: not read yet).
    pub read_at_unix_secs: u64,
    /// Routes in `table` tagged `protocol`, sorted by prefix.
    pub routes: Vec<KernelRoute>,
    /// Routes the kernel made for the interfaces' addresses (main table, protocol
    /// kernel), sorted by prefix. With `routes` they answer "which device does an address
    /// leave through" by longest prefix match ([`KernelView::lookup`]; policy rules
    /// aside).
    #[serde(default)]
    pub connected: Vec<KernelRoute>,
    /// Network interfaces, sorted by index.
    pub links: Vec<KernelLink>,
    /// Why the last read failed (the previous routes are kept); `None` when it worked.
    #[serde(default)]
    pub error: Option<String>,
}

/// One route as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelRoute {
    /// Destination prefix, e.g. `10.1.0.10/32`.
    pub prefix: String,
    /// Next hops (several for a multipath route).
    pub next_hops: Vec<KernelNextHop>,
}

/// One next hop of a kernel route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelNextHop {
    /// Gateway, `None` for a device route.
    pub via: Option<IpAddr>,
    /// Output interface name (the index as text when the name is unknown).
    pub device: Option<String>,
    /// The gateway is taken as on-link.
    pub onlink: bool,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelLink {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Operational state as the kernel reports it (`up`, `down`, `unknown`, ...).
    pub operstate: String,
    /// Kind of link where known: `wireguard`, `bridge`, ... (the kernel's device type),
    /// `tun`, `ipip`; `None` for plain devices.
    #[serde(default)]
    pub kind: Option<String>,
}

impl KernelView {
    /// The route for exactly `prefix` (as text, e.g. `10.1.0.10/32`), if installed.
    pub fn route(&self, prefix: &str) -> Option<&KernelRoute> {
        self.routes.iter().find(|r| r.prefix == prefix)
    }

    /// The most specific route of `routes` and `connected` covering `address`
    /// (a BGP route wins a tie), like `ip route get` without policy rules.
    pub fn lookup(&self, address: IpAddr) -> Option<&KernelRoute> {
        self.routes
            .iter()
            .chain(&self.connected)
            .filter_map(|r| {
                let net: ipnet::IpNet = r.prefix.parse().ok()?;
                net.contains(&address).then_some((net.prefix_len(), r))
            })
            .fold(
                None,
                |best: Option<(u8, &KernelRoute)>, (len, r)| match best {
                    Some((b, _)) if b >= len => best,
                    _ => Some((len, r)),
                },
            )
            .map(|(_, r)| r)
    }

    /// The link named `name`.
    pub fn link(&self, name: &str) -> Option<&KernelLink> {
        self.links.iter().find(|l| l.name == name)
    }
}
