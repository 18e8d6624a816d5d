//! The lab of the three-guest SAM test: namespaces, bridges and taps, the NAT box with
//! its DHCP server, the client namespaces, and the HTTP, ping and TCP probes.
//!
//! Layout, all inside the lab namespace `L` where QEMU runs (so the taps are `L`'s):
//! - bridge `bru`, the "public" underlay 203.0.113.0/24: the RR's and leaf 1's WAN taps,
//!   the NAT box's public side (203.0.113.20) and `L` itself (203.0.113.100, to reach
//!   the RR's API);
//! - bridge `brn`, the NAT box's private side 10.200.0.0/24: leaf 2's WAN tap; the NAT
//!   namespace masquerades to 203.0.113.20 and hands out addresses with dnsmasq;
//! - bridges `brs1`/`brs2`, the site LANs: a leaf's LAN tap and a client namespace
//!   (10.20.N.10/24, default route via the leaf's 10.20.N.1), which also reaches that
//!   leaf's API.
//!
//! Everything is removed on drop: processes by PID, then the namespaces.

use std::path::PathBuf;

use serde_json::Value;
use system_tests::netns::{Netns, Proc, unique, veth};
use system_tests::traffic::masquerade;

/// The lab namespaces and processes.
pub(crate) struct Lab {
    /// Where QEMU runs and the bridges live.
    pub(crate) lab: Netns,
    /// The NAT box in front of leaf 2.
    _nat: Netns,
    /// Client behind leaf 1 (10.20.1.10).
    pub(crate) client1: Netns,
    /// Client behind leaf 2 (10.20.2.10).
    pub(crate) client2: Netns,
    _dhcp: Proc,
    scratch: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn bridge(ns: &Netns, name: &str) {
    ns.ip(&["link", "add", name, "type", "bridge", "stp_state", "0"]);
    ns.ip(&["link", "set", name, "up"]);
}

fn tap(ns: &Netns, name: &str, bridge: &str) {
    ns.ip(&["tuntap", "add", "dev", name, "mode", "tap"]);
    ns.ip(&["link", "set", name, "master", bridge, "up"]);
}

fn client(lab: &Netns, tag: &str, port: &str, bridge: &str, site: u8) -> Netns {
    let ns = Netns::new(tag);
    veth(&ns, "eth0", lab, port);
    lab.ip(&["link", "set", port, "master", bridge]);
    ns.addr("eth0", &format!("10.20.{site}.10/24"));
    ns.ip(&["route", "add", "default", "via", &format!("10.20.{site}.1")]);
    ns
}

impl Lab {
    /// Builds the namespaces, bridges, taps, NAT and DHCP server.
    pub(crate) fn new() -> Lab {
        let scratch = std::env::temp_dir().join(unique("samguest"));
        std::fs::create_dir_all(&scratch).unwrap();
        let lab = Netns::new("sgl");
        for name in ["bru", "brn", "brs1", "brs2"] {
            bridge(&lab, name);
        }
        lab.ip(&["addr", "add", "203.0.113.100/24", "dev", "bru"]);
        for (name, br) in [
            ("tu0", "bru"),
            ("tu1", "bru"),
            ("tu2", "brn"),
            ("ts1", "brs1"),
            ("ts2", "brs2"),
        ] {
            tap(&lab, name, br);
        }
        let nat = Netns::new("sgn");
        veth(&nat, "wan0", &lab, "nw");
        lab.ip(&["link", "set", "nw", "master", "bru"]);
        nat.addr("wan0", "203.0.113.20/24");
        veth(&nat, "lan0", &lab, "nl");
        lab.ip(&["link", "set", "nl", "master", "brn"]);
        nat.addr("lan0", "10.200.0.1/24");
        nat.forwarding();
        masquerade(&nat, "wan0", None);
        let leases = scratch.join("dnsmasq.leases");
        let leases_arg = format!("--dhcp-leasefile={}", leases.display());
        let dhcp = nat.spawn(
            "dnsmasq",
            &[
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--port=0",
                "--interface=lan0",
                "--bind-interfaces",
                "--dhcp-range=10.200.0.50,10.200.0.60,255.255.255.0,1h",
                "--dhcp-option=option:router,10.200.0.1",
                &leases_arg,
                "--log-dhcp",
                // Log to stderr, i.e. the log file the failure context shows.
                "--log-facility=-",
            ],
            &scratch.join("dnsmasq.log"),
        );
        let client1 = client(&lab, "sgc1", "c1", "brs1", 1);
        let client2 = client(&lab, "sgc2", "c2", "brs2", 2);
        Lab {
            lab,
            _nat: nat,
            client1,
            client2,
            _dhcp: dhcp,
            scratch,
        }
    }

    /// The DHCP server's log (for failure messages).
    pub(crate) fn dhcp_log(&self) -> String {
        std::fs::read_to_string(self.scratch.join("dnsmasq.log")).unwrap_or_default()
    }
}

/// A GET of a routerd API at `addr:7179` from inside `ns`, with the bearer token, as
/// JSON; `None` when it does not answer 200 with JSON.
pub(crate) fn api(ns: &Netns, addr: &str, token: &str, path: &str) -> Option<Value> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let mut child = ns
        .command("nc")
        .args(["-N", "-w", "5", addr, "7179"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::io::Write::write_all(child.stdin.as_mut()?, request.as_bytes()).ok()?;
    drop(child.stdin.take());
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    (status == 200)
        .then(|| serde_json::from_str(body).ok())
        .flatten()
}
