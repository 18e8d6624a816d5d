//! The kernel view behind `GET /v1/kernel`: the routes routerd's table holds with
//! protocol bgp, and the network interfaces, read back from the kernel (rtnetlink route
//! dump, interface names and states from `/sys/class/net`).
//!
//! Contract: [`start`] spawns one task that reads every [`READ_INTERVAL`] on a blocking
//! thread and publishes the result on a `watch` channel; the API answers from the last
//! published view and never waits for a read. A failed read keeps the previous routes and
//! links and sets `error`. The task ends when every receiver is gone or the runtime stops.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use api::kernel::{KernelLink, KernelNextHop, KernelRoute, KernelView};
use kernel::{Device, Fib, InstalledRoute, KernelError, PROTOCOL_BGP};
use tokio::sync::watch;

/// How often the kernel is read.
pub(crate) const READ_INTERVAL: Duration = Duration::from_secs(1);

/// The main routing table.
const MAIN_TABLE: u32 = 254;
/// Route protocol of routes the kernel adds for interface addresses (`proto kernel`).
const PROTOCOL_KERNEL: u8 = 2;
/// `type` of an IPIP tunnel device (`ARPHRD_TUNNEL`).
const ARPHRD_TUNNEL: u32 = 768;

/// Where interface names and states are read.
const SYS_CLASS_NET: &str = "/sys/class/net";

/// Starts reading `table`; returns the receiver for the API servers.
pub(crate) fn start(table: u32) -> Result<watch::Receiver<Arc<KernelView>>, KernelError> {
    let fib = Fib::new(table)?;
    let empty = KernelView {
        table,
        protocol: PROTOCOL_BGP,
        ..KernelView::default()
    };
    let (tx, rx) = watch::channel(Arc::new(empty));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(READ_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let previous = tx.borrow().clone();
            let reader = fib.clone();
            let next = tokio::task::spawn_blocking(move || {
                read(&reader, &previous, Path::new(SYS_CLASS_NET))
            })
            .await;
            let Ok(next) = next else { return };
            if tx.send(Arc::new(next)).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// One read of the kernel; on failure the previous routes and links stay, with `error` set.
pub(crate) fn read(fib: &Fib, previous: &KernelView, sys_class_net: &Path) -> KernelView {
    let links = read_links(sys_class_net);
    let names: HashMap<u32, String> = links.iter().map(|l| (l.index, l.name.clone())).collect();
    let mut view = KernelView {
        table: fib.table(),
        protocol: PROTOCOL_BGP,
        read_at_unix_secs: unix_now(),
        routes: previous.routes.clone(),
        connected: previous.connected.clone(),
        links,
        error: None,
    };
    let read = fib
        .routes_blocking(fib.table(), PROTOCOL_BGP)
        .and_then(|bgp| {
            let connected = fib.routes_blocking(MAIN_TABLE, PROTOCOL_KERNEL)?;
            Ok((bgp, connected))
        });
    match read {
        Ok((bgp, connected)) => {
            view.routes = routes_view(bgp, &names);
            view.connected = routes_view(connected, &names);
        }
        Err(e) => {
            view.error = Some(format!(
                "route dump failed, routes are from the previous read: {e}"
            ))
        }
    }
    view
}

/// Kernel routes as API routes, sorted by prefix.
fn routes_view(routes: Vec<InstalledRoute>, names: &HashMap<u32, String>) -> Vec<KernelRoute> {
    let mut out: Vec<KernelRoute> = routes
        .into_iter()
        .map(|route| KernelRoute {
            prefix: route.prefix.to_string(),
            next_hops: route
                .next_hops
                .into_iter()
                .map(|hop| KernelNextHop {
                    via: hop.via,
                    device: hop.dev.map(|dev| match dev {
                        Device::Name(name) => name,
                        Device::Index(index) => names
                            .get(&index)
                            .cloned()
                            .unwrap_or_else(|| index.to_string()),
                    }),
                    onlink: hop.onlink,
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    out
}

/// Interfaces under `dir` (`/sys/class/net`), sorted by index; unreadable entries are skipped.
pub(crate) fn read_links(dir: &Path) -> Vec<KernelLink> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut links: Vec<KernelLink> = entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let index = std::fs::read_to_string(path.join("ifindex"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            let operstate = std::fs::read_to_string(path.join("operstate"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            Some(KernelLink {
                index,
                name: entry.file_name().to_string_lossy().into_owned(),
                operstate,
                kind: link_kind(&path),
            })
        })
        .collect();
    links.sort_by_key(|l| l.index);
    links
}

/// The kind of the link at `path`: the kernel's `DEVTYPE` (wireguard, bridge, ...),
/// else `tun` for a TUN/TAP device, `ipip` for an IPIP tunnel, `None` otherwise.
fn link_kind(path: &Path) -> Option<String> {
    let uevent = std::fs::read_to_string(path.join("uevent")).unwrap_or_default();
    if let Some(devtype) = uevent.lines().find_map(|l| l.strip_prefix("DEVTYPE=")) {
        return Some(devtype.trim().to_string());
    }
    if path.join("tun_flags").exists() {
        return Some("tun".into());
    }
    let arphrd: Option<u32> = std::fs::read_to_string(path.join("type"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    (arphrd == Some(ARPHRD_TUNNEL)).then(|| "ipip".to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_come_from_the_directory_sorted_by_index() {
        let dir = std::env::temp_dir().join(format!("kernel-view-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, index, state) in [
            ("wan0", "3", "up\n"),
            ("lo", "1", "unknown\n"),
            ("sam0", "7", "down\n"),
        ] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("ifindex"), format!("{index}\n")).unwrap();
            std::fs::write(dir.join(name).join("operstate"), state).unwrap();
        }
        std::fs::write(
            dir.join("wan0").join("uevent"),
            "DEVTYPE=bridge\nINTERFACE=wan0\n",
        )
        .unwrap();
        std::fs::write(dir.join("sam0").join("type"), "768\n").unwrap();
        // An entry without an index is not an interface.
        std::fs::create_dir_all(dir.join("bonding_masters")).unwrap();
        let links = read_links(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        let got: Vec<(u32, &str, &str)> = links
            .iter()
            .map(|l| (l.index, l.name.as_str(), l.operstate.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(1, "lo", "unknown"), (3, "wan0", "up"), (7, "sam0", "down")]
        );
        let kinds: Vec<Option<&str>> = links.iter().map(|l| l.kind.as_deref()).collect();
        assert_eq!(kinds, vec![None, Some("bridge"), Some("ipip")]);
    }

    #[test]
    fn route_devices_are_named_and_routes_sorted() {
        let names = HashMap::from([(5, "sam0".to_string())]);
        let hop = |dev| kernel::NextHop {
            via: Some("100.64.0.1".parse().unwrap()),
            dev: Some(dev),
            onlink: true,
        };
        let routes = vec![
            InstalledRoute {
                prefix: "10.2.0.10/32".parse().unwrap(),
                next_hops: vec![hop(Device::Index(9))],
                table: 254,
                protocol: PROTOCOL_BGP,
            },
            InstalledRoute {
                prefix: "10.1.0.10/32".parse().unwrap(),
                next_hops: vec![hop(Device::Index(5))],
                table: 254,
                protocol: PROTOCOL_BGP,
            },
        ];
        let view = routes_view(routes, &names);
        assert_eq!(view[0].prefix, "10.1.0.10/32");
        assert_eq!(view[0].next_hops[0].device.as_deref(), Some("sam0"));
        // An index without a name is shown as the number.
        assert_eq!(view[1].next_hops[0].device.as_deref(), Some("9"));
    }
}
