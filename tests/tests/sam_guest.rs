//! SAM's kernel datapath in QEMU guests of the pve-x86_64 image (Debian cloud kernel,
//! TCG): kernel WireGuard with kernel IPIP inside, which the development machines'
//! kernel cannot run.
//!
//! - `kernel_wireguard_pair_carries_tcp_both_ways`: two guests joined by a QEMU socket
//!   netdev on 127.0.0.1 run the init's `wgpair` self test (routerd's transport with
//!   `datapath = "kernel"`): tunnel built, TCP across it in both directions, WireGuard
//!   counters read from the kernel, allowed IPs = the peer's WireGuard address only, tunnel
//!   and WireGuard peer removed again.
//! - `kernel_ipip_pair_carries_tcp_both_ways`: the same with plain kernel IPIP between
//!   the segment addresses (`ipippair`: `mode = "ipip"` on the kernel datapath).
//!
//! Images are built with the real image builder into `target/sam-guest/` (routerd for
//! the musl target with `--release`; `ROUTERD_IMAGE_TARGET_DIR` points at a cargo target
//! directory that already holds `<target>/release/routerd`). Guests are killed by PID
//! when their `Guest` drops; every wait has a deadline.

#[path = "sam_guest/configs.rs"]
mod configs;
#[path = "sam_guest/images.rs"]
mod images;
#[path = "sam_guest/lab.rs"]
mod lab;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use system_tests::netns::{Netns, wait_for};
use system_tests::qemu::{Arch, Boot, Guest, GuestSpec};
use system_tests::traffic::{pings, tcp_exchange};

use configs::API_TOKEN;

/// Boot, tunnel, TCP and removal under TCG on a loaded 2-core machine.
const SELFTEST_TIMEOUT: Duration = Duration::from_secs(400);
/// Three TCG guests booting at once on a loaded 2-core machine, then enrollment,
/// handshakes, sessions and route exchange.
const CONVERGE_SECS: u64 = 420;
/// RAM of each SAM guest.
const GUEST_MIB: u32 = 224;

fn direct_boot(dir: &Path, append: &str, memory_mib: u32, extra: Vec<String>) -> GuestSpec {
    GuestSpec {
        arch: Arch::X86_64,
        boot: Boot::Direct {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            append: format!("console=ttyS0,115200 quiet panic=-1 {append}"),
        },
        disk: None,
        memory_mib,
        extra,
        netns: None,
    }
}

/// A CPU with RDRAND (see [`lab_guest`]) and a virtio NIC on a QEMU UDP socket netdev
/// between two loopback ports.
fn socket_nic(local: u16, remote: u16, mac: &str) -> Vec<String> {
    [
        "-cpu".to_string(),
        "max".to_string(),
        "-netdev".to_string(),
        format!("socket,id=n0,udp=127.0.0.1:{remote},localaddr=127.0.0.1:{local}"),
        "-device".to_string(),
        format!("virtio-net-pci,netdev=n0,mac={mac}"),
    ]
    .to_vec()
}

/// Waits for `marker` on the guest's console; the other guest's console goes into the
/// failure message too.
fn expect(guest: &mut Guest, other: &Guest, marker: &str, timeout: Duration) -> Duration {
    match guest.wait_for(marker, timeout) {
        Ok(t) => t,
        Err(e) => panic!("{e}\n--- other guest ---\n{}", other.transcript()),
    }
}

#[test]
fn kernel_wireguard_pair_carries_tcp_both_ways() {
    pair_carries_tcp_both_ways("wgpair", "selftest wgpair status datapath=kernel");
}

#[test]
fn kernel_ipip_pair_carries_tcp_both_ways() {
    pair_carries_tcp_both_ways("ipippair", "selftest ipippair status datapath=kernel");
}

/// Two guests of the self-test image run the init's pair self test `test` (side a and
/// side b) on one QEMU socket segment; both must pass, report `status_line` and remove
/// their tunnel again.
fn pair_carries_tcp_both_ways(test: &str, status_line: &str) {
    if !system_tests::require_root() || !system_tests::qemu::available(Arch::X86_64) {
        return;
    }
    let dir = images::selftest_image();
    let base =
        20_000 + (std::process::id() % 10_000) as u16 * 2 + u16::from(test == "ipippair") * 20_000;
    let side = |name: &str, local: u16, remote: u16, mac: &str| {
        Guest::start(&direct_boot(
            dir,
            &format!("routerd.selftest={test}-{name}"),
            192,
            socket_nic(local, remote, mac),
        ))
        .unwrap()
    };
    let mut a = side("a", base, base + 1, "52:54:00:5a:00:01");
    let mut b = side("b", base + 1, base, "52:54:00:5a:00:02");
    let up = expect(
        &mut a,
        &b,
        &format!("selftest {test} tunnel up"),
        SELFTEST_TIMEOUT,
    );
    eprintln!("{test} side a: tunnel up {up:?} after QEMU start");
    // Both outcomes of the self test end in an orderly power-off.
    let done_a = expect(&mut a, &b, "routerd: powering off", SELFTEST_TIMEOUT);
    let done_b = expect(&mut b, &a, "routerd: powering off", SELFTEST_TIMEOUT);
    eprintln!("{test} side a finished {done_a:?}, side b {done_b:?} after QEMU start");
    for (guest, other, side) in [(&a, &b, "a"), (&b, &a, "b")] {
        let log = guest.transcript();
        let context = format!("{log}\n--- other guest ---\n{}", other.transcript());
        assert!(
            log.contains(&format!("selftest {test} passed side={side}")),
            "side {side} did not pass\n{context}"
        );
        assert!(
            log.contains(status_line),
            "side {side}: no kernel status line\n{context}"
        );
        assert!(
            log.contains(&format!("selftest {test} removal ok")),
            "side {side}: no removal\n{context}"
        );
    }
    eprintln!(
        "side a:\n{}",
        a.transcript()
            .lines()
            .filter(|l| l.contains("selftest"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A guest of the SAM lab: direct kernel boot of its image with its disk (config and
/// state partitions), NICs on taps of the lab namespace.
fn lab_guest(dir: &Path, lab: &Netns, nics: &[(&str, &str)]) -> Guest {
    // A CPU with RDRAND: the kernel's random pool is ready at boot. Kernel WireGuard
    // drops handshake initiations until it is, which on TCG without it took minutes.
    let mut extra = vec!["-cpu".to_string(), "max".to_string()];
    for (i, (tap, mac)) in nics.iter().enumerate() {
        extra.push("-netdev".to_string());
        extra.push(format!("tap,id=n{i},ifname={tap},script=no,downscript=no"));
        extra.push("-device".to_string());
        extra.push(format!("virtio-net-pci,netdev=n{i},mac={mac}"));
    }
    // `ROUTERD_GUEST_LOG=routerd=debug` raises the guests' log level (the kernel hands
    // `RUST_LOG=...` on its command line to init as an environment variable).
    let log = std::env::var("ROUTERD_GUEST_LOG")
        .map(|filter| format!("RUST_LOG={filter}"))
        .unwrap_or_default();
    let mut spec = direct_boot(dir, &log, GUEST_MIB, extra);
    spec.disk = Some(images::disk(dir));
    spec.netns = Some(lab.name().to_string());
    Guest::start(&spec).expect("start QEMU")
}

/// Everything the test shows when it fails.
fn context(guests: &mut [(&str, &mut Guest)], lab: &lab::Lab) -> String {
    let mut out = String::new();
    for (name, guest) in guests.iter_mut() {
        let _ = guest.wait_for("\u{0}never", Duration::from_millis(10));
        out.push_str(&format!(
            "\n--- {name} console ---\n{}\n",
            guest.transcript()
        ));
    }
    out.push_str(&format!("\n--- dnsmasq ---\n{}", lab.dhcp_log()));
    out
}

/// Three guests of the image: an RR and two leaves, leaf 2 behind a masquerading NAT
/// (DHCP address, no underlay endpoint, keepalive 25 s), a client namespace behind each
/// leaf. All run `datapath = "kernel"`: kernel WireGuard with kernel IPIP inside.
/// Checks: enrollment Ready on both leaves, `datapath: kernel` in `/v1/status` and
/// `/v1/tunnels` of all three, the RR's endpoint for leaf 2 learned from the handshake
/// (the NAT's public address), pings and a TCP connection between the clients in both
/// directions, WireGuard counters and handshake ages from the kernel.
#[test]
fn sam_over_kernel_ipip_in_wireguard_between_three_guests() {
    if !system_tests::require_root() || !system_tests::qemu::available(Arch::X86_64) {
        return;
    }
    let (key, public) = images::owner_key();
    let rr_blob = configs::sign(&configs::rr(&public), "rr.toml", &key, 1);
    let leaf1_blob = configs::sign(
        &configs::leaf(
            &public,
            1,
            Some("203.0.113.11"),
            (configs::LEAF1_WAN_MAC, configs::LEAF1_LAN_MAC),
        ),
        "leaf1.toml",
        &key,
        1,
    );
    let leaf2_blob = configs::sign(
        &configs::leaf(
            &public,
            2,
            None,
            (configs::LEAF2_WAN_MAC, configs::LEAF2_LAN_MAC),
        ),
        "leaf2.toml",
        &key,
        1,
    );
    let rr_dir = images::build_image("sam-rr", Some(&rr_blob), &public);
    let leaf1_dir = images::build_image("sam-leaf1", Some(&leaf1_blob), &public);
    let leaf2_dir = images::build_image("sam-leaf2", Some(&leaf2_blob), &public);

    let lab = lab::Lab::new();
    let mut rr = lab_guest(&rr_dir, &lab.lab, &[("tu0", configs::RR_WAN_MAC)]);
    let mut leaf1 = lab_guest(
        &leaf1_dir,
        &lab.lab,
        &[
            ("tu1", configs::LEAF1_WAN_MAC),
            ("ts1", configs::LEAF1_LAN_MAC),
        ],
    );
    let mut leaf2 = lab_guest(
        &leaf2_dir,
        &lab.lab,
        &[
            ("tu2", configs::LEAF2_WAN_MAC),
            ("ts2", configs::LEAF2_LAN_MAC),
        ],
    );

    let rr_api = |path: &str| lab::api(&lab.lab, configs::RR_UNDERLAY, API_TOKEN, path);
    let leaf1_api = |path: &str| lab::api(&lab.client1, "10.20.1.1", API_TOKEN, path);
    let leaf2_api = |path: &str| lab::api(&lab.client2, "10.20.2.1", API_TOKEN, path);
    let ready = |doc: Option<Value>| doc.is_some_and(|d| d["leaf"]["state"] == "Ready");
    let converged = wait_for(CONVERGE_SECS, || {
        (ready(leaf1_api("/v1/enrollment")) && ready(leaf2_api("/v1/enrollment"))).then_some(())
    });
    if converged.is_none() {
        panic!(
            "leaves not Ready within {CONVERGE_SECS} s\nleaf1: {:?}\nleaf2: {:?}{}",
            leaf1_api("/v1/enrollment"),
            leaf2_api("/v1/enrollment"),
            context(
                &mut [
                    ("rr", &mut rr),
                    ("leaf1", &mut leaf1),
                    ("leaf2", &mut leaf2)
                ],
                &lab
            )
        );
    }
    eprintln!("both leaves Ready");

    // Traffic between the clients, both ways, through leaf -> RR -> leaf.
    let pinged = wait_for(CONVERGE_SECS, || {
        (pings(&lab.client1, "10.20.2.10") && pings(&lab.client2, "10.20.1.10")).then_some(())
    });
    if pinged.is_none() {
        panic!(
            "no pings between the clients\nrr tunnels: {:?}\nleaf1 tunnels: {:?}\nleaf2 tunnels: {:?}{}",
            rr_api("/v1/tunnels"),
            leaf1_api("/v1/tunnels"),
            leaf2_api("/v1/tunnels"),
            context(
                &mut [
                    ("rr", &mut rr),
                    ("leaf1", &mut leaf1),
                    ("leaf2", &mut leaf2)
                ],
                &lab
            )
        );
    }
    assert!(
        tcp_exchange(
            &lab.client2,
            "10.20.2.10",
            &lab.client1,
            "from client 1",
            20
        ),
        "TCP client 1 -> client 2 failed"
    );
    assert!(
        tcp_exchange(
            &lab.client1,
            "10.20.1.10",
            &lab.client2,
            "from client 2",
            20
        ),
        "TCP client 2 -> client 1 failed"
    );
    eprintln!("pings and TCP both ways between the clients");

    // Kernel datapath everywhere, the same status fields as the userspace path, and every
    // tunnel with a handshake and traffic both ways. The BGP keepalives keep every tunnel
    // busy, so a document that does not show it yet (one API read missed on a loaded
    // machine, or counters that restarted with a rebuilt tunnel) is read again until
    // the deadline; the assertions then judge the last document read.
    let tunnels_ok = |doc: &serde_json::Value, expected: usize| {
        let tunnels = doc["tunnels"].as_array().cloned().unwrap_or_default();
        doc["datapath"] == "kernel"
            && tunnels.len() == expected
            && tunnels.iter().all(|t| {
                t["error"].is_null()
                    && t["handshake_age_secs"].as_u64().is_some()
                    && t["rx_bytes"].as_u64().unwrap_or(0) > 0
                    && t["tx_bytes"].as_u64().unwrap_or(0) > 0
            })
    };
    type ApiGet<'a> = &'a dyn Fn(&str) -> Option<serde_json::Value>;
    let apis: [(&str, ApiGet); 3] = [
        ("rr", &rr_api),
        ("leaf1", &leaf1_api),
        ("leaf2", &leaf2_api),
    ];
    for (name, api) in apis {
        let expected = if name == "rr" { 2 } else { 1 };
        let mut last = None;
        let _ = wait_for(60, || {
            let doc = api("/v1/tunnels")?;
            let ok = tunnels_ok(&doc, expected);
            last = Some(doc);
            ok.then_some(())
        });
        let doc = last.unwrap_or_else(|| panic!("{name}: no /v1/tunnels"));
        assert_eq!(doc["datapath"], "kernel", "{name}: {doc}");
        let tunnels = doc["tunnels"].as_array().cloned().unwrap_or_default();
        assert_eq!(tunnels.len(), expected, "{name}: {doc}");
        for t in &tunnels {
            assert!(t["error"].is_null(), "{name}: {doc}");
            assert!(t["handshake_age_secs"].as_u64().is_some(), "{name}: {doc}");
            assert!(t["rx_bytes"].as_u64().unwrap_or(0) > 0, "{name}: {doc}");
            assert!(t["tx_bytes"].as_u64().unwrap_or(0) > 0, "{name}: {doc}");
            // IPIP runs between WireGuard addresses, learned from the claim / RR set.
            let outer = t["peer_wireguard_address"].as_str().unwrap_or("");
            assert!(outer.starts_with("10.98.0."), "{name}: {doc}");
            if name != "rr" {
                assert_eq!(outer, "10.98.0.1", "{name}: {doc}");
            }
        }
        eprintln!("{name} tunnels: {doc}");
    }
    // The RR learned leaf 2's endpoint from its handshake: the NAT's public address.
    let claims =
        wait_for(30, || rr_api("/v1/enrollment")).expect("rr enrollment")["rr"]["claims"].clone();
    let claim2 = claims
        .as_array()
        .and_then(|c| c.iter().find(|c| c["leaf_id"] == "leaf2").cloned())
        .unwrap_or_else(|| panic!("no claim of leaf2: {claims}"));
    assert!(claim2["underlay_endpoint"].is_null(), "{claims}");
    let learned = claim2["endpoint_learned"].as_str().unwrap_or("");
    assert!(learned.starts_with("203.0.113.20:"), "{claims}");
}
