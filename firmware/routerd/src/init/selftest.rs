//! Test-image self checks, selected with `routerd.selftest=NAME` on the kernel command
//! line. They report on the console and end in an orderly power-off.
//!
//! - `links`: creates a kernel IPIP link and a kernel WireGuard link (configured with a
//!   private key and one peer) through the `kernel` crate's netlink code and prints
//!   `routerd: selftest ipip t0 ok` / `routerd: selftest wireguard wg0 ok`.
//! - `wgpair-a` / `wgpair-b`: two guests on one segment run routerd's kernel transport
//!   (kernel WireGuard with IPIP inside) toward each other and talk TCP across it; see
//!   [`wgpair`]. Ends in `routerd: selftest wgpair passed` or `... FAILED: reason`.
//! - `ipippair-a` / `ipippair-b`: the same over plain kernel IPIP (no WireGuard); ends in
//!   `routerd: selftest ipippair passed` or `... FAILED: reason`.

mod wgpair;

use std::net::Ipv4Addr;

use kernel::{Links, TunnelSpec, WireGuard, WireGuardConfig, WireGuardPeer};

use super::{Outcome, console};

/// Runs the named self test.
pub(super) fn run(name: &str) -> Outcome {
    match name {
        "links" => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Outcome::Fatal(format!("selftest: no runtime: {e}")),
            };
            match runtime.block_on(links()) {
                Ok(()) => {
                    console("selftest links passed");
                    Outcome::Stopped
                }
                Err(e) => {
                    console(&format!("selftest links FAILED: {e}"));
                    Outcome::Stopped
                }
            }
        }
        "wgpair-a" | "wgpair-b" | "ipippair-a" | "ipippair-b" => {
            let (test, side) = name.split_once('-').unwrap_or((name, ""));
            let mode = match test {
                "wgpair" => wgpair::PairMode::WireGuard,
                _ => wgpair::PairMode::PlainIpip,
            };
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Outcome::Fatal(format!("selftest: no runtime: {e}")),
            };
            match runtime.block_on(wgpair::run(side, mode)) {
                Ok(()) => console(&format!("selftest {test} passed side={side}")),
                Err(e) => console(&format!("selftest {test} FAILED side={side}: {e}")),
            }
            Outcome::Stopped
        }
        other => {
            console(&format!("unknown selftest {other:?}; ignoring"));
            Outcome::Stopped
        }
    }
}

async fn links() -> Result<(), kernel::KernelError> {
    let links = Links::new()?;
    let spec = TunnelSpec {
        name: "t0".into(),
        local: Ipv4Addr::new(192, 0, 2, 1),
        remote: Ipv4Addr::new(198, 51, 100, 1),
        ttl: 64,
        mtu: 1480,
    };
    links.ipip_create(&spec).await?;
    links.link_up("t0").await?;
    links
        .link_index("t0")
        .await?
        .ok_or(kernel::KernelError::NoSuchDevice { name: "t0".into() })?;
    console("selftest ipip t0 ok");
    links.wireguard_create("wg0").await?;
    let wg = WireGuard::new().await?;
    wg.configure(&WireGuardConfig {
        name: "wg0".into(),
        private_key: [0x11; 32],
        listen_port: 51820,
        peers: vec![WireGuardPeer {
            public_key: [0x22; 32],
            endpoint: Some(
                "203.0.113.7:51820"
                    .parse()
                    .unwrap_or(([203, 0, 113, 7], 51820).into()),
            ),
            keepalive: Some(25),
            allowed_ips: vec!["10.255.0.2/32".parse().unwrap_or_default()],
        }],
        replace_peers: true,
    })
    .await?;
    links.link_up("wg0").await?;
    let peers = wg.status("wg0").await?;
    console(&format!("selftest wireguard wg0 ok peers={}", peers.len()));
    Ok(())
}
