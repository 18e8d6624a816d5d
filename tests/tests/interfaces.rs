//! `routerd run --manage-interfaces` against real links in network namespaces: a veth
//! found by MAC is renamed, sized and addressed; a missing underlay stops routerd with a
//! message naming it; `dhcp4 = true` leases an address and a default route from
//! Debian's dnsmasq and gives it back (RELEASE) when routerd stops.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use system_tests::netns::{Netns, Proc, veth, wait_for};
use system_tests::scratch::Scratch;
use system_tests::{require_root, workspace_binary};

use system_tests::DEV_TRUSTED_KEY;

/// A locally administered MAC unique to this test process and `n`.
fn test_mac(n: u8) -> String {
    let pid = std::process::id();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{n:02x}",
        (pid >> 24) as u8,
        (pid >> 16) as u8,
        (pid >> 8) as u8,
        pid as u8
    )
}

/// A plain leaf config (no peers, its own kernel table) with `interfaces` appended.
fn config(interfaces: &str) -> String {
    format!(
        "trusted_keys = [\"{DEV_TRUSTED_KEY}\"]\n\n[node]\nname = \"if-test\"\nmode = \"leaf\"\n\
         router_id = \"192.0.2.200\"\nasn = 65000\nboard = \"dev\"\n\n\
         [bgp]\nkernel_table = 201\n\n{interfaces}"
    )
}

/// Starts `routerd run --config … --manage-interfaces` in `ns`; log in `dir`.
fn start_routerd(ns: &Netns, dir: &Path, config_text: &str) -> (Proc, PathBuf) {
    let binary = workspace_binary("routerd");
    let conf = dir.join("routerd.toml");
    std::fs::write(&conf, config_text).expect("write config");
    let log = dir.join("routerd.log");
    let proc = ns.spawn(
        "env",
        &[
            "RUST_LOG=info,routerd=debug",
            &binary.to_string_lossy(),
            "run",
            "--config",
            &conf.to_string_lossy(),
            "--manage-interfaces",
        ],
        &log,
    );
    (proc, log)
}

fn log_text(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// `ip -j <args>` in `ns` as JSON (`Null` when it fails, e.g. the link is gone).
fn ip_json(ns: &Netns, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .args(["-n", ns.name(), "-j"])
        .args(args)
        .output()
        .expect("run ip");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// IPv4 addresses with prefix of `dev` in `ns`, e.g. `["192.0.2.2/24"]`.
fn ipv4_addresses(ns: &Netns, dev: &str) -> Vec<String> {
    let doc = ip_json(ns, &["-4", "addr", "show", "dev", dev]);
    doc.as_array()
        .into_iter()
        .flatten()
        .flat_map(|link| link["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| {
            Some(format!(
                "{}/{}",
                a["local"].as_str()?,
                a["prefixlen"].as_u64()?
            ))
        })
        .collect()
}

#[test]
fn a_link_found_by_mac_is_renamed_sized_addressed_and_up() {
    if !require_root() {
        return;
    }
    let router = Netns::new("ifr");
    let peer = Netns::new("ifp");
    let scratch = Scratch::new("static");
    veth(&router, "tmplink", &peer, "p0");
    let mac = test_mac(1);
    router.ip(&["link", "set", "tmplink", "address", &mac]);
    peer.addr("p0", "192.0.2.1/24");

    let interfaces = format!(
        "[[interfaces]]\nname = \"uplink0\"\nmac = \"{mac}\"\nrole = \"underlay\"\n\
         addresses = [\"192.0.2.2/24\"]\nmtu = 1400\n\n\
         [[interfaces]]\nname = \"lan0\"\nmac = \"{}\"\nrole = \"site\"\n\
         addresses = [\"203.0.113.1/24\"]\n",
        test_mac(2)
    );
    let (mut routerd, log) = start_routerd(&router, scratch.dir(), &config(&interfaces));

    let link = wait_for(20, || {
        let doc = ip_json(&router, &["link", "show", "dev", "uplink0"]);
        let link = doc.get(0)?.clone();
        let up = link["flags"].as_array()?.iter().any(|f| f == "UP");
        (up && ipv4_addresses(&router, "uplink0") == ["192.0.2.2/24"]).then_some(link)
    })
    .unwrap_or_else(|| panic!("uplink0 never came up addressed:\n{}", log_text(&log)));
    assert_eq!(link["address"], mac.as_str());
    assert_eq!(link["mtu"], 1400);
    assert!(
        ip_json(&router, &["link", "show", "dev", "tmplink"]).is_null(),
        "the old name is gone"
    );
    // The configuration is real: the peer answers on the configured subnet.
    let ping = router.exec("ping", &["-c", "1", "-W", "3", "192.0.2.1"]);
    assert!(ping.status.success(), "ping over uplink0 failed");
    // A missing site interface is reported and routing goes on.
    assert!(routerd.running(), "routerd stopped:\n{}", log_text(&log));
    let text = log_text(&log);
    assert!(
        text.contains("interface not found") && text.contains("lan0"),
        "{text}"
    );
    routerd.stop(10);
    // Static configuration stays after routerd stops.
    assert_eq!(ipv4_addresses(&router, "uplink0"), ["192.0.2.2/24"]);
}

#[test]
fn a_missing_underlay_stops_routerd_with_its_name() {
    if !require_root() {
        return;
    }
    let router = Netns::new("ifm");
    let scratch = Scratch::new("missing");
    let interfaces = format!(
        "[[interfaces]]\nname = \"wan9\"\nmac = \"{}\"\nrole = \"underlay\"\n\
         addresses = [\"192.0.2.2/24\"]\n",
        test_mac(3)
    );
    let (mut routerd, log) = start_routerd(&router, scratch.dir(), &config(&interfaces));
    let stopped = wait_for(20, || (!routerd.running()).then_some(()));
    assert!(
        stopped.is_some(),
        "routerd kept running:\n{}",
        log_text(&log)
    );
    let text = log_text(&log);
    assert!(
        text.contains("underlay interface wan9 not found") && text.contains("interfaces.mac"),
        "{text}"
    );
}

/// dnsmasq serving 198.51.100.50-60/24 with router 198.51.100.1 on `dev` in `ns`.
fn start_dnsmasq(ns: &Netns, dev: &str, dir: &Path) -> (Proc, PathBuf) {
    let leases = dir.join("dnsmasq.leases");
    std::fs::write(&leases, "").expect("create lease file");
    let args = [
        "--keep-in-foreground".to_string(),
        "--conf-file=/dev/null".to_string(),
        "--port=0".to_string(),
        "--user=root".to_string(),
        format!("--interface={dev}"),
        "--bind-interfaces".to_string(),
        "--dhcp-range=198.51.100.50,198.51.100.60,255.255.255.0,2m".to_string(),
        "--dhcp-option=option:router,198.51.100.1".to_string(),
        // T1 of 4 s: the client renews (unicast) while the test watches.
        "--dhcp-option=option:T1,4".to_string(),
        "--dhcp-option=option:T2,100".to_string(),
        "--dhcp-authoritative".to_string(),
        "--no-ping".to_string(),
        "--log-dhcp".to_string(),
        "--log-facility=-".to_string(),
        format!("--dhcp-leasefile={}", leases.display()),
        format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = ns.spawn("dnsmasq", &args, &dir.join("dnsmasq.log"));
    (proc, leases)
}

#[test]
fn dhcp4_leases_an_address_and_default_route_and_releases_them_at_stop() {
    if !require_root() {
        return;
    }
    let router = Netns::new("ifd");
    let server = Netns::new("ifs");
    let scratch = Scratch::new("dhcp");
    veth(&router, "eth7", &server, "d0");
    let mac = test_mac(4);
    router.ip(&["link", "set", "eth7", "address", &mac]);
    server.addr("d0", "198.51.100.1/24");
    let (mut dnsmasq, leases) = start_dnsmasq(&server, "d0", scratch.dir());
    let dnsmasq_log = scratch.path("dnsmasq.log");

    let interfaces = format!(
        "[[interfaces]]\nname = \"wan0\"\nmac = \"{mac}\"\nrole = \"underlay\"\ndhcp4 = true\n"
    );
    let (mut routerd, log) = start_routerd(&router, scratch.dir(), &config(&interfaces));

    let leased = wait_for(30, || {
        let addresses = ipv4_addresses(&router, "wan0");
        let address = addresses.first()?.clone();
        let routes = ip_json(&router, &["-4", "route", "show", "default"]);
        let route = routes
            .as_array()?
            .iter()
            .find(|r| r["dev"] == "wan0")?
            .clone();
        Some((address, route))
    })
    .unwrap_or_else(|| {
        panic!(
            "no dhcp lease on wan0:\nrouterd:\n{}\ndnsmasq:\n{}",
            log_text(&log),
            log_text(&dnsmasq_log)
        )
    });
    let (address, route) = leased;
    let host: u8 = address
        .strip_prefix("198.51.100.")
        .and_then(|rest| rest.strip_suffix("/24"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected address {address}"));
    assert!((50..=60).contains(&host), "{address} outside the pool");
    assert_eq!(route["gateway"], "198.51.100.1");
    assert_eq!(route["protocol"], "dhcp");
    let leased_ip = address.trim_end_matches("/24").to_string();
    let lease_file = std::fs::read_to_string(&leases).unwrap_or_default();
    assert!(
        lease_file.contains(&mac) && lease_file.contains(&leased_ip),
        "lease file: {lease_file}"
    );
    assert!(log_text(&log).contains("dhcp lease acquired"));
    // At T1 the client renews by unicast to the server and keeps its address.
    let renewed = wait_for(20, || {
        let text = log_text(&log);
        (text.contains("dhcp lease extended")
            && log_text(&dnsmasq_log).matches("DHCPACK").count() >= 2)
            .then_some(())
    });
    assert!(
        renewed.is_some(),
        "no renewal at T1:\nrouterd:\n{}\ndnsmasq:\n{}",
        log_text(&log),
        log_text(&dnsmasq_log)
    );
    assert_eq!(ipv4_addresses(&router, "wan0"), vec![address.clone()]);

    routerd.stop(10);
    assert!(
        ipv4_addresses(&router, "wan0").is_empty(),
        "address left after stop:\n{}",
        log_text(&log)
    );
    let routes = ip_json(&router, &["-4", "route", "show", "default"]);
    assert!(
        routes.as_array().is_none_or(|r| r.is_empty()),
        "default route left: {routes}"
    );
    // dnsmasq drops a released lease from its file.
    let released = wait_for(10, || {
        let file = std::fs::read_to_string(&leases).unwrap_or_default();
        (!file.contains(&mac)).then_some(())
    });
    assert!(
        released.is_some(),
        "lease not released:\n{}\ndnsmasq:\n{}",
        std::fs::read_to_string(&leases).unwrap_or_default(),
        log_text(&dnsmasq_log)
    );
    assert!(log_text(&dnsmasq_log).contains("DHCPRELEASE"));
    dnsmasq.stop(5);
}
