//! System tests of the `kernel` crate, each in a fresh network namespace: batched route
//! programming into table 100 with protocol `bgp`, stale-route flushing that spares
//! foreign routes, multipath, link and sysctl operations, and the `Unsupported` signal
//! for IPIP/WireGuard on kernels without them.
//!
//! Route prefixes come from 198.18.0.0/15 (the benchmarking range); nothing is sent to
//! them, the namespace has no uplink.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Instant;

use ipnet::IpNet;
use kernel::{Device, Fib, KernelError, Links, NextHop, PROTOCOL_BGP, RouteChange, WireGuard};
use system_tests::netns::{in_fresh_netns, run};

const TABLE: u32 = 100;

fn sh(args: &[&str]) -> String {
    String::from_utf8_lossy(&run(Command::new(args[0]).args(&args[1..])).stdout).into_owned()
}

fn ip_lines(args: &[&str]) -> Vec<String> {
    let mut all = vec!["ip"];
    all.extend_from_slice(args);
    sh(&all).lines().map(str::to_string).collect()
}

/// veth pair `kv0`/`kv1` in the current namespace, both up, 192.0.2.1/24 on `kv0`.
fn underlay() {
    sh(&[
        "ip", "link", "add", "kv0", "type", "veth", "peer", "name", "kv1",
    ]);
    sh(&["ip", "link", "set", "kv0", "up"]);
    sh(&["ip", "link", "set", "kv1", "up"]);
    sh(&["ip", "addr", "add", "192.0.2.1/24", "dev", "kv0"]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The i-th /32 of 198.18.0.0/15.
fn host(i: u32) -> IpNet {
    IpNet::new(IpAddr::V4(Ipv4Addr::from(0xC612_0000 + i)), 32).unwrap()
}

fn via(gw: &str, dev: &str) -> Vec<NextHop> {
    vec![NextHop {
        via: Some(gw.parse().unwrap()),
        dev: Some(Device::Name(dev.into())),
        onlink: true,
    }]
}

fn bgp_routes() -> Vec<String> {
    ip_lines(&["route", "show", "table", "100", "proto", "bgp"])
}

#[test]
fn fib_installs_replaces_deletes_and_flushes_10k_routes() {
    in_fresh_netns(
        "kfib",
        "fib_installs_replaces_deletes_and_flushes_10k_routes",
        || {
            underlay();
            let rt = runtime();
            let fib = rt.block_on(async { Fib::new(TABLE) }).expect("fib");
            let n = 10_000;

            let install: Vec<RouteChange> = (0..n)
                .map(|i| RouteChange::Replace {
                    prefix: host(i),
                    next_hops: via("192.0.2.2", "kv0"),
                })
                .collect();
            let start = Instant::now();
            let report = rt.block_on(fib.apply(install));
            println!("installed {n} routes in {:?}", start.elapsed());
            assert!(
                report.failed.is_empty(),
                "{:?}",
                &report.failed[..report.failed.len().min(3)]
            );
            assert_eq!(report.applied, n as usize);
            let lines = bgp_routes();
            assert_eq!(lines.len(), n as usize);
            assert!(
                lines
                    .iter()
                    .all(|l| l.contains("via 192.0.2.2 dev kv0") && l.contains("onlink"))
            );
            assert_eq!(
                rt.block_on(fib.routes(TABLE, PROTOCOL_BGP)).unwrap().len(),
                n as usize
            );
            assert!(
                ip_lines(&["route", "show", "table", "main"])
                    .iter()
                    .all(|l| !l.contains("198.18."))
            );

            // Replace every route with a new gateway: still n routes, all through it.
            let replace: Vec<RouteChange> = (0..n)
                .map(|i| RouteChange::Replace {
                    prefix: host(i),
                    next_hops: via("192.0.2.3", "kv0"),
                })
                .collect();
            assert!(rt.block_on(fib.apply(replace)).failed.is_empty());
            let lines = bgp_routes();
            assert_eq!(lines.len(), n as usize);
            assert!(lines.iter().all(|l| l.contains("via 192.0.2.3 dev kv0")));

            // A foreign route in the same table, which nothing of ours may remove.
            sh(&[
                "ip",
                "route",
                "add",
                "198.19.200.0/24",
                "via",
                "192.0.2.9",
                "dev",
                "kv0",
                "onlink",
                "table",
                "100",
                "proto",
                "static",
            ]);

            // Delete the even half (twice: deleting an absent route is fine), plus failures
            // that must be reported per route while the rest of the batch goes through.
            let mut changes: Vec<RouteChange> = (0..n)
                .step_by(2)
                .chain((0..n).step_by(2))
                .map(|i| RouteChange::Delete { prefix: host(i) })
                .collect();
            changes.push(RouteChange::Replace {
                prefix: host(n + 1),
                next_hops: via("192.0.2.4", "nosuchdev"),
            });
            changes.push(RouteChange::Replace {
                prefix: host(n + 2),
                next_hops: vec![NextHop {
                    via: Some("203.0.113.1".parse().unwrap()),
                    dev: None,
                    onlink: false,
                }],
            });
            changes.push(RouteChange::Delete {
                prefix: "198.19.200.0/24".parse().unwrap(),
            });
            changes.push(RouteChange::Replace {
                prefix: host(n + 3),
                next_hops: via("192.0.2.2", "kv0"),
            });
            let report = rt.block_on(fib.apply(changes));
            assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
            assert!(
                matches!(&report.failed[0], (p, KernelError::NoSuchDevice { name }) if *p == host(n + 1) && name == "nosuchdev")
            );
            assert!(
                matches!(&report.failed[1], (p, KernelError::Refused { errno, .. }) if *p == host(n + 2) && *errno == 101)
            );
            assert_eq!(bgp_routes().len(), n as usize / 2 + 1);
            assert_eq!(
                ip_lines(&["route", "show", "table", "100", "proto", "static"]).len(),
                1
            );

            // A fresh start: flush_stale removes our routes and only ours.
            let restarted = rt.block_on(async { Fib::new(TABLE) }).expect("fib");
            let removed = rt
                .block_on(restarted.flush_stale(TABLE, PROTOCOL_BGP))
                .expect("flush");
            assert_eq!(removed, n as usize / 2 + 1);
            assert!(bgp_routes().is_empty());
            let left = ip_lines(&["route", "show", "table", "100"]);
            assert_eq!(left.len(), 1, "{left:?}");
            assert!(left[0].starts_with("198.19.200.0/24") && left[0].contains("proto static"));
        },
    );
}

#[test]
fn fib_installs_multipath_routes() {
    in_fresh_netns("kmp", "fib_installs_multipath_routes", || {
        underlay();
        sh(&[
            "ip", "link", "add", "kw0", "type", "veth", "peer", "name", "kw1",
        ]);
        sh(&["ip", "link", "set", "kw0", "up"]);
        sh(&["ip", "link", "set", "kw1", "up"]);
        let rt = runtime();
        let fib = rt.block_on(async { Fib::new(TABLE) }).expect("fib");
        let kw0 = rt
            .block_on(async { Links::new()?.link_index("kw0").await })
            .unwrap()
            .unwrap();
        let hops = vec![
            NextHop {
                via: Some("192.0.2.2".parse().unwrap()),
                dev: Some(Device::Name("kv0".into())),
                onlink: true,
            },
            NextHop {
                via: Some("198.51.100.2".parse().unwrap()),
                dev: Some(Device::Index(kw0)),
                onlink: true,
            },
        ];
        let report = rt.block_on(fib.apply(vec![RouteChange::Replace {
            prefix: host(7),
            next_hops: hops.clone(),
        }]));
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let shown = sh(&["ip", "route", "show", "table", "100", "proto", "bgp"]);
        assert!(shown.contains("nexthop via 192.0.2.2 dev kv0"), "{shown}");
        assert!(
            shown.contains("nexthop via 198.51.100.2 dev kw0"),
            "{shown}"
        );
        let routes = rt.block_on(fib.routes(TABLE, PROTOCOL_BGP)).unwrap();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].next_hops.len(), 2);
        assert!(routes[0].next_hops.iter().all(|h| h.onlink));
        assert_eq!(routes[0].next_hops[1].dev, Some(Device::Index(kw0)));
        assert_eq!(routes[0].next_hops[1].via, hops[1].via);
    });
}

#[test]
fn links_and_sysctls_configure_interfaces() {
    in_fresh_netns("klink", "links_and_sysctls_configure_interfaces", || {
        sh(&[
            "ip", "link", "add", "kl0", "type", "veth", "peer", "name", "kl1",
        ]);
        let rt = runtime();
        rt.block_on(async {
            let links = Links::new().unwrap();
            assert!(links.link_index("kl0").await.unwrap().is_some());
            assert_eq!(links.link_index("absent0").await.unwrap(), None);
            links.set_mtu("kl0", 1380).await.unwrap();
            links.link_up("kl0").await.unwrap();
            links
                .address_add("kl0", "203.0.113.5/24".parse().unwrap())
                .await
                .unwrap();
            links
                .address_add("kl0", "203.0.113.5/24".parse().unwrap())
                .await
                .unwrap();
            let shown = sh(&["ip", "-o", "addr", "show", "dev", "kl0"]);
            assert!(shown.contains("inet 203.0.113.5/24"), "{shown}");
            assert_eq!(
                links.addresses("kl0").await.unwrap(),
                vec!["203.0.113.5/24".parse::<IpNet>().unwrap()]
            );
            let shown = sh(&["ip", "link", "show", "kl0"]);
            assert!(
                shown.contains("mtu 1380") && shown.contains(",UP"),
                "{shown}"
            );
            assert!(matches!(
                links.set_mtu("absent0", 1400).await,
                Err(KernelError::NoSuchDevice { .. })
            ));
            links.delete_link("kl0").await.unwrap();
            links.delete_link("kl0").await.unwrap();
            assert!(!sh(&["ip", "link", "show"]).contains("kl1"));
        });
        kernel::sysctl::set_ip_forward(true).unwrap();
        assert!(kernel::sysctl::ip_forward().unwrap());
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );
        kernel::sysctl::set_ip_forward(false).unwrap();
        assert!(!kernel::sysctl::ip_forward().unwrap());
        kernel::sysctl::set_rp_filter("lo", kernel::sysctl::RpFilter::Loose).unwrap();
        assert_eq!(
            kernel::sysctl::rp_filter("lo").unwrap(),
            kernel::sysctl::RpFilter::Loose
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/conf/lo/rp_filter")
                .unwrap()
                .trim(),
            "2"
        );
    });
}

/// Whether this kernel can create a link of `kind`, asked through iproute2 (an oracle
/// independent of our code); the probe link is removed again.
fn kernel_supports(kind: &str) -> bool {
    let ok = Command::new("ip")
        .args(["link", "add", "probe0", "type", kind])
        .output()
        .unwrap()
        .status
        .success();
    if ok {
        let _ = Command::new("ip").args(["link", "del", "probe0"]).status();
    }
    ok
}

#[test]
fn ipip_and_wireguard_report_unsupported_when_the_kernel_lacks_them() {
    in_fresh_netns(
        "kunsup",
        "ipip_and_wireguard_report_unsupported_when_the_kernel_lacks_them",
        || {
            let ipip = kernel_supports("ipip");
            let wg = kernel_supports("wireguard");
            println!("kernel ipip support: {ipip}, wireguard support: {wg}");
            let rt = runtime();
            rt.block_on(async {
                let links = Links::new().unwrap();
                let spec = kernel::TunnelSpec {
                    name: "kt0".into(),
                    local: "192.0.2.1".parse().unwrap(),
                    remote: "192.0.2.2".parse().unwrap(),
                    ttl: 64,
                    mtu: 1480,
                };
                match links.ipip_create(&spec).await {
                    Err(KernelError::Unsupported { what }) => {
                        assert!(!ipip, "ipip refused on a kernel that has it");
                        assert_eq!(what, "ipip link");
                    }
                    Ok(()) => {
                        assert!(ipip);
                        assert!(sh(&["ip", "-d", "link", "show", "kt0"]).contains("ipip"));
                    }
                    Err(e) => panic!("unexpected ipip error: {e}"),
                }
                match links.wireguard_create("kwg0").await {
                    Err(KernelError::Unsupported { what }) => {
                        assert!(!wg);
                        assert_eq!(what, "wireguard link");
                    }
                    Ok(()) => assert!(wg),
                    Err(e) => panic!("unexpected wireguard error: {e}"),
                }
                match WireGuard::new().await {
                    Err(KernelError::Unsupported { what }) => {
                        assert!(!wg);
                        assert_eq!(what, "wireguard generic netlink family");
                    }
                    Ok(_) => assert!(wg),
                    Err(e) => panic!("unexpected genetlink error: {e}"),
                }
            });
        },
    );
}

/// FIB programming rate for the benchmark notes: `cargo test --release -p system-tests
/// --test kernel fib_rate -- --ignored --nocapture`. Installs ROUTERD_FIB_ROUTES
/// (default 1,000,000) /32s from 100.64.0.0/10 in table 100, prints routes/s.
#[test]
#[ignore = "benchmark: run explicitly"]
fn fib_rate() {
    in_fresh_netns("krate", "fib_rate", || {
        underlay();
        let n: u32 = std::env::var("ROUTERD_FIB_ROUTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let rt = runtime();
        let fib = rt.block_on(async { Fib::new(TABLE) }).expect("fib");
        let changes: Vec<RouteChange> = (0..n)
            .map(|i| RouteChange::Replace {
                prefix: IpNet::new(IpAddr::V4(Ipv4Addr::from(0x6440_0000 + i)), 32).unwrap(),
                next_hops: via("192.0.2.2", "kv0"),
            })
            .collect();
        let start = Instant::now();
        let report = rt.block_on(fib.apply(changes));
        let secs = start.elapsed().as_secs_f64();
        assert!(report.failed.is_empty());
        println!(
            "fib_rate: {n} routes in {secs:.3} s = {:.0} routes/s",
            f64::from(n) / secs
        );
        let start = Instant::now();
        let removed = rt.block_on(fib.flush_stale(TABLE, PROTOCOL_BGP)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(removed, n as usize);
        println!(
            "fib_rate: flushed {n} routes in {secs:.3} s = {:.0} routes/s",
            f64::from(n) / secs
        );
    });
}

#[test]
fn fib_programs_ipv6_routes_too() {
    in_fresh_netns("kv6", "fib_programs_ipv6_routes_too", || {
        underlay();
        let rt = runtime();
        let fib = rt.block_on(async { Fib::new(TABLE) }).expect("fib");
        let prefix: IpNet = "2001:db8:77::5/128".parse().unwrap();
        let report = rt.block_on(fib.apply(vec![RouteChange::Replace {
            prefix,
            next_hops: via("2001:db8::2", "kv0"),
        }]));
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let shown = sh(&["ip", "-6", "route", "show", "table", "100", "proto", "bgp"]);
        assert!(
            shown.contains("2001:db8:77::5 via 2001:db8::2 dev kv0"),
            "{shown}"
        );
        let routes = rt.block_on(fib.routes(TABLE, PROTOCOL_BGP)).unwrap();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].prefix, prefix);
        let report = rt.block_on(fib.apply(vec![RouteChange::Delete { prefix }]));
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert!(
            sh(&["ip", "-6", "route", "show", "table", "100"])
                .trim()
                .is_empty()
        );
    });
}
