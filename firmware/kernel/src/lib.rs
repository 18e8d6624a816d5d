//! Kernel programming for routerd over rtnetlink and generic netlink.
//!
//! What it does:
//! - [`Fib`] installs, replaces and withdraws routes in one configured table, tagged with
//!   protocol `bgp` (186), many requests per `sendmsg` on one socket, and reports errors
//!   per route. [`Fib::flush_stale`] removes what an earlier run left behind; it never
//!   touches routes carrying another protocol tag.
//! - [`Links`] creates and configures interfaces: IPIP tunnels, WireGuard links, MTU,
//!   addresses, up/down, deletion; finds physical links by MAC, renames them and manages
//!   a DHCP default route (protocol [`PROTOCOL_DHCP`]).
//! - [`WireGuard`] configures and reads kernel WireGuard devices over generic netlink,
//!   splitting large peer and allowed-IP sets across several messages.
//! - [`sysctl`] writes the few `/proc/sys` switches a router needs.
//!
//! Invariants:
//! - When the kernel lacks a feature (EOPNOTSUPP creating an `ipip`/`wireguard` link,
//!   ENOENT resolving the `wireguard` generic-netlink family) the error is
//!   [`KernelError::Unsupported`]: the daemon's signal to run the userspace datapath.
//! - Nothing here assumes more than a Linux kernel and a tokio runtime: no helper
//!   programs, no files besides `/proc/sys`, so a static musl binary works as init.
//!
//! Call order: create [`Fib`], [`Links`] and [`WireGuard`] inside a tokio runtime (they
//! open their sockets at construction), then call their methods in any order.

mod batch;
mod error;
mod fib;
mod interface;
mod link;
mod route;
pub mod sysctl;
mod wireguard;

pub use error::KernelError;
pub use fib::{ApplyReport, Fib};
pub use interface::{LinkState, PROTOCOL_DHCP};
pub use link::{Links, TunnelSpec};
pub use route::{Device, InstalledRoute, NextHop, PROTOCOL_BGP, RouteChange};
pub use wireguard::{WireGuard, WireGuardConfig, WireGuardPeer, WireGuardPeerStatus};
