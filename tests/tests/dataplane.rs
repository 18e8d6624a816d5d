//! System tests of the userspace datapath (`dataplane-peer` processes inside network
//! namespaces): WireGuard + IPIP between a leaf and an RR with ping and TCP both ways, a
//! leaf behind a masquerading NAT whose endpoint the RR learns from the handshake and
//! re-learns after the NAT mapping changes, and plain IPIP over a raw socket.
//!
//! Addresses: underlay 198.51.100.0/24, NAT inside 192.0.2.128/25, WireGuard-side (outer
//! IPIP) addresses 192.0.2.1-.12 (never on an interface), tunnel addresses
//! 203.0.113.0/24 on the TUN devices.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::text::hex::encode as hex;
use system_tests::netns::{Bridge, Netns, Proc, veth, wait_for};
use system_tests::scratch::Scratch;
use system_tests::traffic::masquerade;
use system_tests::{require_root, workspace_binary};

const RR_PORT: u16 = 51820;

/// A deterministic private key per role and its public key, both hex.
fn keypair(seed: u8) -> (String, String) {
    let private = [seed; 32];
    (hex(&private), hex(&dataplane::public_key(&private)))
}

/// One running `dataplane-peer`.
struct Peer {
    proc: Proc,
    log: PathBuf,
    status: PathBuf,
}

impl Peer {
    /// Starts the datapath in `ns` and waits until it reports ready.
    fn start(ns: &Netns, scratch: &Scratch, name: &str, args: &[String]) -> Peer {
        let log = scratch.path(&format!("{name}.log"));
        let status = scratch.path(&format!("{name}.status"));
        let mut all: Vec<String> = vec!["--status".into(), status.display().to_string()];
        all.extend_from_slice(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut proc = ns.spawn(workspace_binary("dataplane-peer"), &refs, &log);
        let ready = wait_for(30, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready") {
                return Some(true);
            }
            (!proc.running()).then_some(false)
        });
        assert_eq!(ready, Some(true), "{name} did not start: {}", read(&log));
        Peer { proc, log, status }
    }

    /// The status fields of `device`, once the status file lists it.
    fn status(&self, device: &str) -> Option<HashMap<String, String>> {
        let text = std::fs::read_to_string(&self.status).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("dev={device} ")))?;
        Some(
            line.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Waits until the status shows more than 100 packets each way (the 200 kB
    /// transfers), and returns it.
    fn status_with_traffic(&self, device: &str) -> HashMap<String, String> {
        let count = |s: &HashMap<String, String>, k: &str| {
            s.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        wait_for(5, || {
            self.status(device)
                .filter(|s| count(s, "rx_packets") > 100 && count(s, "tx_packets") > 100)
        })
        .unwrap_or_else(|| panic!("no traffic in status: {:?}", self.status(device)))
    }

    /// The peer's endpoint as the status file shows it, waiting up to 5 s for the file to
    /// be rewritten with one (it is rewritten every 200 ms, later on a loaded machine).
    fn endpoint(&self, device: &str) -> Option<String> {
        wait_for(5, || {
            self.status(device)
                .and_then(|s| s.get("endpoint").cloned())
                .filter(|e| e != "-")
        })
    }

    fn assert_alive(&mut self) {
        assert!(self.proc.running(), "datapath died: {}", read(&self.log));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A peer argument for `dataplane-peer`.
fn peer_arg(dev: &str, key: &str, local: &str, remote: &str, extra: &str) -> [String; 2] {
    let mut spec = format!("dev={dev},key={key},local={local},remote={remote},mtu=1400");
    if !extra.is_empty() {
        spec.push(',');
        spec.push_str(extra);
    }
    ["--peer".into(), spec]
}

/// Puts `local`/32 on the TUN and routes the peer's tunnel address through it, as
/// kernel mode does for the IPIP device.
fn tunnel_address(ns: &Netns, dev: &str, local: &str, remote: &str) {
    ns.ip(&["addr", "add", &format!("{local}/32"), "dev", dev]);
    ns.ip(&["route", "add", &format!("{remote}/32"), "dev", dev]);
}

fn ping(ns: &Netns, to: &str) -> bool {
    ns.exec("ping", &["-c", "1", "-W", "1", to])
        .status
        .success()
}

fn wait_ping(ns: &Netns, to: &str, secs: u64) {
    println!("ping {} -> {to}", ns.name());
    assert_eq!(
        wait_for(secs, || ping(ns, to).then_some(())),
        Some(()),
        "{} cannot ping {to}",
        ns.name()
    );
}

/// Sends 200 kB over one TCP connection from `client` to `server_ip` in `server` and
/// checks every byte arrived (segments larger than one packet exercise the MTU).
fn tcp_transfer(server: &Netns, server_ip: &str, client: &Netns, scratch: &Scratch, port: u16) {
    const SIZE: usize = 200_000;
    let received = scratch.path(&format!("tcp-{port}.out"));
    let script = format!("exec nc -l -n {server_ip} {port} > {}", received.display());
    let mut listener = server.spawn(
        "sh",
        &["-c", &script],
        &scratch.path(&format!("tcp-{port}.log")),
    );
    let send = format!("head -c {SIZE} /dev/zero | nc -n -N -w 5 {server_ip} {port}");
    let sent = wait_for(20, || {
        client
            .exec("sh", &["-c", &send])
            .status
            .success()
            .then_some(())
    });
    assert_eq!(
        sent,
        Some(()),
        "tcp connect {} -> {server_ip}:{port} failed",
        client.name()
    );
    let got = wait_for(20, || {
        let len = std::fs::metadata(&received)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        (len == SIZE).then_some(len)
    });
    assert_eq!(
        got,
        Some(SIZE),
        "received {} bytes",
        std::fs::metadata(&received).map(|m| m.len()).unwrap_or(0)
    );
    println!("tcp {} -> {server_ip}:{port}: {SIZE} bytes", client.name());
    listener.stop(2);
}

#[test]
fn wireguard_tunnel_carries_ping_and_tcp_both_ways() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("dpwg");
    let leaf = Netns::new("leafA");
    let rr = Netns::new("rr");
    veth(&leaf, "u0", &rr, "u0");
    leaf.addr("u0", "198.51.100.11/24");
    rr.addr("u0", "198.51.100.2/24");
    let (leaf_key, leaf_pub) = keypair(0x11);
    let (rr_key, rr_pub) = keypair(0x22);

    let mut rr_args = vec!["--key".into(), rr_key, "--port".into(), RR_PORT.to_string()];
    rr_args.extend(peer_arg("tleafA", &leaf_pub, "192.0.2.1", "192.0.2.11", ""));
    let mut rr_dp = Peer::start(&rr, &scratch, "rr", &rr_args);
    let mut leaf_args = vec!["--key".into(), leaf_key];
    let endpoint = format!("endpoint=198.51.100.2:{RR_PORT},keepalive=25");
    leaf_args.extend(peer_arg(
        "trr",
        &rr_pub,
        "192.0.2.11",
        "192.0.2.1",
        &endpoint,
    ));
    let mut leaf_dp = Peer::start(&leaf, &scratch, "leafA", &leaf_args);

    tunnel_address(&rr, "tleafA", "203.0.113.1", "203.0.113.11");
    tunnel_address(&leaf, "trr", "203.0.113.11", "203.0.113.1");
    assert!(
        rr.ip(&["link", "show", "tleafA"])
            .stdout
            .windows(8)
            .any(|w| w == b"mtu 1400")
    );

    wait_ping(&leaf, "203.0.113.1", 15);
    wait_ping(&rr, "203.0.113.11", 15);
    tcp_transfer(&rr, "203.0.113.1", &leaf, &scratch, 5001);
    tcp_transfer(&leaf, "203.0.113.11", &rr, &scratch, 5002);

    // The RR had no endpoint for the leaf: it learned it from the handshake.
    let learned = rr_dp.endpoint("tleafA").expect("rr learned an endpoint");
    assert!(learned.starts_with("198.51.100.11:"), "{learned}");
    // The status file is rewritten every 200 ms: wait for it to show the transfers.
    let status = rr_dp.status_with_traffic("tleafA");
    assert_eq!(status["datapath"], "userspace");
    assert_ne!(status["handshake_ms"], "-");
    rr_dp.assert_alive();
    leaf_dp.assert_alive();
}

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[test]
fn rr_learns_a_nated_leaf_from_its_handshake_and_follows_a_nat_rebinding() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("dpnat");
    let sw = Netns::new("sw");
    let rr = Netns::new("rr");
    let nat = Netns::new("nat");
    let leaf = Netns::new("leafB");
    let mut wan = Bridge::new(&sw);
    wan.attach(&rr, "u0", "198.51.100.2/24");
    wan.attach(&nat, "u0", "198.51.100.3/24");
    veth(&nat, "l0", &leaf, "u0");
    nat.addr("l0", "192.0.2.129/25");
    leaf.addr("u0", "192.0.2.130/25");
    leaf.ip(&["route", "add", "default", "via", "192.0.2.129"]);
    nat.forwarding();
    masquerade(&nat, "u0", Some("40000-40099"));

    let (leaf_key, leaf_pub) = keypair(0x33);
    let (rr_key, rr_pub) = keypair(0x44);
    let mut rr_args = vec!["--key".into(), rr_key, "--port".into(), RR_PORT.to_string()];
    rr_args.extend(peer_arg("tleafB", &leaf_pub, "192.0.2.1", "192.0.2.12", ""));
    let mut rr_dp = Peer::start(&rr, &scratch, "rr", &rr_args);
    // A short keepalive keeps the test quick; production uses 25 s.
    let mut leaf_args = vec!["--key".into(), leaf_key];
    let endpoint = format!("endpoint=198.51.100.2:{RR_PORT},keepalive=2");
    leaf_args.extend(peer_arg(
        "trr",
        &rr_pub,
        "192.0.2.12",
        "192.0.2.1",
        &endpoint,
    ));
    let mut leaf_dp = Peer::start(&leaf, &scratch, "leafB", &leaf_args);
    tunnel_address(&rr, "tleafB", "203.0.113.1", "203.0.113.12");
    tunnel_address(&leaf, "trr", "203.0.113.12", "203.0.113.1");

    // The RR has no endpoint configured; the leaf's first handshake teaches it the
    // NAT's public address, so the RR can reach the leaf before the leaf sends data.
    let learned = wait_for(15, || rr_dp.endpoint("tleafB")).expect("rr learns the leaf endpoint");
    assert!(learned.starts_with("198.51.100.3:"), "learned {learned}");
    assert!(
        (40000..=40099).contains(&port_of(&learned)),
        "learned {learned}"
    );
    wait_ping(&rr, "203.0.113.12", 15);
    wait_ping(&leaf, "203.0.113.1", 15);
    tcp_transfer(&rr, "203.0.113.1", &leaf, &scratch, 5003);
    tcp_transfer(&leaf, "203.0.113.12", &rr, &scratch, 5004);

    // The NAT forgets its mappings and now uses other ports: the RR's endpoint is stale
    // until the leaf's keepalive arrives through the new mapping.
    masquerade(&nat, "u0", Some("50000-50099"));
    let flushed = nat.exec("conntrack", &["-F"]);
    assert!(
        flushed.status.success(),
        "conntrack -F: {}",
        String::from_utf8_lossy(&flushed.stderr)
    );
    let relearned = wait_for(30, || {
        rr_dp
            .endpoint("tleafB")
            .filter(|e| (50000..=50099).contains(&port_of(e)))
    });
    let relearned = relearned
        .unwrap_or_else(|| panic!("endpoint not re-learned: {:?}", rr_dp.endpoint("tleafB")));
    assert!(relearned.starts_with("198.51.100.3:"), "{relearned}");
    wait_ping(&rr, "203.0.113.12", 15);
    wait_ping(&leaf, "203.0.113.1", 15);
    tcp_transfer(&rr, "203.0.113.1", &leaf, &scratch, 5005);
    rr_dp.assert_alive();
    leaf_dp.assert_alive();
}

#[test]
fn plain_ipip_over_a_raw_socket_carries_ping_and_tcp_both_ways() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("dpipip");
    let a = Netns::new("ipA");
    let b = Netns::new("ipB");
    veth(&a, "u0", &b, "u0");
    a.addr("u0", "198.51.100.21/24");
    b.addr("u0", "198.51.100.22/24");
    let zero = hex(&[0; 32]);
    let mut a_args = vec!["--ipip".to_string()];
    a_args.extend(peer_arg("tb", &zero, "198.51.100.21", "198.51.100.22", ""));
    let mut b_args = vec!["--ipip".to_string()];
    b_args.extend(peer_arg("ta", &zero, "198.51.100.22", "198.51.100.21", ""));
    let mut a_dp = Peer::start(&a, &scratch, "a", &a_args);
    let mut b_dp = Peer::start(&b, &scratch, "b", &b_args);
    tunnel_address(&a, "tb", "203.0.113.21", "203.0.113.22");
    tunnel_address(&b, "ta", "203.0.113.22", "203.0.113.21");
    wait_ping(&a, "203.0.113.22", 15);
    wait_ping(&b, "203.0.113.21", 15);
    tcp_transfer(&a, "203.0.113.21", &b, &scratch, 5006);
    tcp_transfer(&b, "203.0.113.22", &a, &scratch, 5007);
    let status = a_dp.status_with_traffic("tb");
    assert_eq!(status["endpoint"], "-");
    assert_eq!(status["handshake_ms"], "-");
    a_dp.assert_alive();
    b_dp.assert_alive();
}

/// The library API inside one namespace: devices appear with their MTU and go away on
/// removal, clashing peers are refused, and a removed name can be reused at once.
#[test]
fn peers_are_added_refused_when_clashing_and_removed_with_their_device() {
    system_tests::netns::in_fresh_netns(
        "dpapi",
        "peers_are_added_refused_when_clashing_and_removed_with_their_device",
        || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let config = dataplane::Config {
                    private_key: [5; 32],
                    listen_port: 0,
                    wireguard: true,
                };
                let plane = dataplane::Dataplane::start(config).await.unwrap();
                assert!(plane.local_port().is_some_and(|p| p != 0));
                assert_eq!(plane.public_key(), dataplane::public_key(&[5; 32]));
                let spec = dataplane::PeerSpec {
                    device: "tpeer0".into(),
                    public_key: dataplane::public_key(&[6; 32]),
                    endpoint: None,
                    keepalive: None,
                    outer_local: "192.0.2.1".parse().unwrap(),
                    outer_remote: "192.0.2.2".parse().unwrap(),
                    mtu: 1380,
                };
                plane.add_peer(spec.clone()).await.unwrap();
                let shown = ip_link("tpeer0").expect("device exists");
                assert!(
                    shown.contains("mtu 1380") && shown.contains(",UP"),
                    "{shown}"
                );

                let same_key = dataplane::PeerSpec {
                    device: "tpeer1".into(),
                    outer_remote: "192.0.2.3".parse().unwrap(),
                    ..spec.clone()
                };
                assert!(matches!(
                    plane.add_peer(same_key).await,
                    Err(dataplane::DataplaneError::Duplicate { what: "public key" })
                ));
                assert!(matches!(
                    plane.add_peer(spec.clone()).await,
                    Err(dataplane::DataplaneError::Duplicate { what: "device" })
                ));
                assert!(ip_link("tpeer1").is_none());

                let status = plane.status();
                assert_eq!(status.len(), 1);
                assert_eq!(status[0].device, "tpeer0");
                assert_eq!(status[0].datapath, "userspace");
                assert_eq!(status[0].endpoint, None);
                assert_eq!(status[0].last_handshake_age, None);

                plane.remove_peer("tpeer0").await.unwrap();
                assert!(ip_link("tpeer0").is_none(), "device left behind");
                assert!(plane.status().is_empty());
                assert!(matches!(
                    plane.remove_peer("tpeer0").await,
                    Err(dataplane::DataplaneError::NoSuchPeer { .. })
                ));
                plane.add_peer(spec).await.unwrap();
                assert!(ip_link("tpeer0").is_some());
                drop(plane);
            });
        },
    );
}

/// `ip link show DEV` output, `None` when the device does not exist.
fn ip_link(dev: &str) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["link", "show", dev])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
