//! `faults`: routerd under faults on the userspace path, in network namespaces.
//!
//! Each test builds its own topology on a bridge (10.78.0.0/24; announced /32s from
//! 198.51.100.0/24 and 203.0.113.0/24): a routerd route reflector at 10.78.0.1 whose
//! static peers are a scripted peer (`raw`, 10.78.0.11), BIRD (10.78.0.12) or a peer that
//! accepts and drops every connection (`flap`, 10.78.0.13). It injects one kind of fault
//! and checks what routerd did about it and that routing carries on: routes are read
//! from the RR's kernel table, sessions from its status API. Every wait has a deadline;
//! namespaces and processes are removed on drop, also when a test fails.
//!
//! A last test needs no namespace: a `routerd-tool provision --target IMAGE` cut short
//! at every byte of its slot write still leaves an image whose previous config verifies.
//!
//! The peers are static peers outside the RR's dynamic range and SAM tunnel prefix, so
//! the speaker and FIB are what is under test, with or without SAM enrollment running.
//!
//! SAM faults (`sam_faults`, `nat_roaming`) run an RR and enrolled leaves instead: a
//! state directory that turns read-only or full, a leaf rebooted, the RR rebooted, the
//! NAT-ed leaf's public port changing.

#[path = "faults/nat_roaming.rs"]
mod nat_roaming;
#[path = "faults/sam_faults.rs"]
mod sam_faults;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use system_tests::faults::node::{Node, StaticPeer, rr_config};
use system_tests::faults::raw_peer::{RawPeer, Received, good_attrs, nlri32, update_bytes};
use system_tests::netns::{Bridge, Netns, wait_for};
use system_tests::peers::{Bird, Role, Scratch, Spec, log_tail};
use system_tests::require_root;

use bgp::wire::Message;

const ASN: u32 = 65000;
const RR: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
/// The RR's dynamic range and SAM tunnel prefix: no peer here lives in it.
const TUNNELS: &str = "10.78.128.0/24";
/// Hold time of every session here: a lost peer is noticed within it.
const HOLD: u16 = 9;
/// Deadline for sessions to come up and routes to propagate.
const CONVERGE_SECS: u64 = 45;

fn host(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, 0, last)
}

/// A bridge, one namespace per node, and a scratch directory.
struct Lab {
    nodes: Vec<(String, Netns)>,
    sw: Netns,
    scratch: Scratch,
}

impl Lab {
    fn new(tag: &str, nodes: &[(&str, Ipv4Addr)]) -> Lab {
        let sw = Netns::new(&format!("{tag}sw"));
        let mut owned = Vec::new();
        {
            let mut bridge = Bridge::new(&sw);
            for (name, addr) in nodes {
                let ns = Netns::new(&format!("{tag}{name}"));
                bridge.attach(&ns, "eth0", &format!("{addr}/24"));
                owned.push((name.to_string(), ns));
            }
        }
        Lab {
            nodes: owned,
            sw,
            scratch: Scratch::new(tag),
        }
    }

    fn ns(&self, name: &str) -> &Netns {
        &self
            .nodes
            .iter()
            .find(|(n, _)| n == name)
            .expect("node exists")
            .1
    }

    /// Sets the bridge port of node `name` (its cable, seen from the switch) down or up.
    fn cable(&self, name: &str, up: bool) {
        let index = self
            .nodes
            .iter()
            .position(|(n, _)| n == name)
            .expect("node exists");
        let port = format!("p{}", index + 1);
        let state = if up { "up" } else { "down" };
        self.sw.ip(&["link", "set", &port, state]);
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.scratch.dir(name)
    }

    /// Starts the routerd RR in namespace `rr` with these static peers.
    fn rr(&self, peers: &[StaticPeer]) -> Node {
        let dir = self.dir("rr");
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("create state dir");
        let text = rr_config(RR, ASN, HOLD, &state, TUNNELS, peers);
        Node::start(self.ns("rr"), &dir, &text)
    }

    /// Starts BIRD in namespace `name` at 10.78.0.`last`, announcing `announce`.
    fn bird(&self, name: &str, last: u8, announce: &[String]) -> Bird {
        let spec = Spec {
            addr: host(last),
            asn: ASN,
            role: Role::Leaf {
                rr: RR,
                announce: announce.to_vec(),
            },
        };
        Bird::start(self.ns(name), self.dir(name), &spec)
    }
}

fn p32(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn route(prefix: Ipv4Addr, via: Ipv4Addr) -> (String, String) {
    (format!("{prefix}/32"), via.to_string())
}

/// Waits until `node`'s kernel table holds exactly `expected` (sorted); panics with the
/// table and the logs otherwise.
fn expect_kernel(node: &Node, expected: &[(String, String)], what: &str, logs: &[&Node]) {
    let mut expected = expected.to_vec();
    expected.sort();
    if wait_for(CONVERGE_SECS, || {
        (node.kernel_routes() == expected).then_some(())
    })
    .is_none()
    {
        let tails: Vec<String> = logs
            .iter()
            .map(|n| format!("{}:\n{}", n.log.display(), log_tail(&n.log, 30)))
            .collect();
        panic!(
            "{what}: expected {expected:?}, kernel table holds {:?}\n{}",
            node.kernel_routes(),
            tails.join("\n")
        );
    }
}

fn connect_raw(lab: &Lab, name: &str, last: u8, rr: &Node) -> RawPeer {
    let ns = lab.ns(name);
    let mut last_error = String::new();
    wait_for(CONVERGE_SECS, || {
        RawPeer::connect(ns, RR, host(last), ASN, HOLD, 10)
            .map_err(|e| last_error = e)
            .ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "scripted peer {} never reached Established: {last_error}\nRR log:\n{}",
            host(last),
            log_tail(&rr.log, 30)
        )
    })
}

/// True when no NOTIFICATION or close arrives on `peer` within `secs`.
fn stays_up(peer: &RawPeer, secs: u64) -> Result<(), String> {
    match peer.recv_until(secs, |m| {
        matches!(
            m,
            Received::Message(Message::Notification(_)) | Received::Garbage(_)
        )
    }) {
        None => Ok(()),
        Some(bad) => Err(format!("{bad:?}")),
    }
}

#[test]
fn malformed_updates_get_their_rfc7606_outcome() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("fm", &[("rr", RR), ("raw", host(11))]);
    let rr = lab.rr(&[StaticPeer {
        address: host(11),
        passive: true,
    }]);
    let logs = [&rr];
    let raw = connect_raw(&lab, "raw", 11, &rr);
    let nh = host(11);
    let a = p32(198, 51, 100, 11);
    let b = p32(203, 0, 113, 11);

    // A well-formed route is installed.
    raw.send_raw(&update_bytes(&good_attrs(nh), &nlri32(a)));
    expect_kernel(&rr, &[route(a, nh)], "well-formed route", &logs);

    // ORIGIN 3 is treat-as-withdraw: the route leaves the table, the session stays.
    let mut attrs = good_attrs(nh);
    attrs[3] = 3;
    raw.send_raw(&update_bytes(&attrs, &nlri32(a)));
    expect_kernel(&rr, &[], "treat-as-withdraw (ORIGIN 3)", &logs);
    stays_up(&raw, 2).expect("treat-as-withdraw must not end the session");

    // A malformed AGGREGATOR (length 5) is discarded: the route is installed anyway.
    let mut attrs = good_attrs(nh);
    attrs.extend_from_slice(&[0xc0, 7, 5, 0, 1, 2, 3, 4]);
    raw.send_raw(&update_bytes(&attrs, &nlri32(b)));
    raw.send_raw(&update_bytes(&good_attrs(nh), &nlri32(a)));
    expect_kernel(
        &rr,
        &[route(a, nh), route(b, nh)],
        "attribute discard (AGGREGATOR length 5)",
        &logs,
    );
    stays_up(&raw, 2).expect("attribute discard must not end the session");

    // An NLRI of length 33 ends the session: UPDATE Message Error / Invalid Network
    // Field (3/10), the connection closes and the peer's routes are withdrawn.
    raw.send_raw(&update_bytes(&good_attrs(nh), &[33, 198, 51, 100, 11, 0]));
    match raw.recv_until(10, |m| {
        matches!(m, Received::Message(Message::Notification(_)))
    }) {
        Some(Received::Message(Message::Notification(n))) => {
            assert_eq!((n.code, n.subcode), (3, 10), "NOTIFICATION {n:?}");
        }
        other => panic!("expected NOTIFICATION 3/10, got {other:?}"),
    }
    assert_eq!(
        raw.recv_until(10, |_| false),
        Some(Received::Closed),
        "routerd closes the connection after its NOTIFICATION"
    );
    expect_kernel(&rr, &[], "routes of the reset session", &logs);
    drop(raw);

    // After its idle-hold time the peer is accepted again and its routes come back.
    let raw = connect_raw(&lab, "raw", 11, &rr);
    raw.send_raw(&update_bytes(&good_attrs(nh), &nlri32(a)));
    expect_kernel(&rr, &[route(a, nh)], "after reconnecting", &logs);
    stays_up(&raw, 1).expect("the new session stays up");
    let log = std::fs::read_to_string(&rr.log).unwrap_or_default();
    assert!(
        log.contains("NOTIFICATION"),
        "the reset is logged:\n{}",
        log_tail(&rr.log, 30)
    );
}

/// SYNs from the RR to port 179 seen in `ns` so far (an nftables counter).
fn syn_count(ns: &Netns) -> u64 {
    let out = ns.exec("nft", &["list", "chain", "inet", "faults", "syns"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flapping_peer_is_held_off_by_backoff_and_routing_carries_on() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("ff", &[("rr", RR), ("bird", host(12)), ("flap", host(13))]);
    let flap = lab.ns("flap");
    flap.exec("nft", &["add", "table", "inet", "faults"]);
    let out = flap.exec(
        "nft",
        &["add chain inet faults syns { type filter hook input priority 0; }"],
    );
    assert!(out.status.success(), "nft chain: {out:?}");
    let out = flap.exec(
        "nft",
        &["add rule inet faults syns tcp dport 179 tcp flags & (syn | ack) == syn counter"],
    );
    assert!(out.status.success(), "nft rule: {out:?}");

    let rr = lab.rr(&[
        StaticPeer {
            address: host(12),
            passive: false,
        },
        StaticPeer {
            address: host(13),
            passive: false,
        },
    ]);
    let bird = lab.bird("bird", 12, &["198.51.100.12/32".into()]);
    let logs = [&rr];
    let bird_route = vec![route(p32(198, 51, 100, 12), host(12))];
    expect_kernel(&rr, &bird_route, "BIRD's route before the flapping", &logs);

    // The flapping peer accepts every connection and closes it at once.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let stop = std::sync::Arc::clone(&stop);
        let name = flap.name().to_string();
        std::thread::spawn(move || {
            let mut accepted = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = std::process::Command::new("timeout")
                    .args(["1", "ip", "netns", "exec", &name, "nc", "-l", "-q", "0"])
                    .args(["10.78.0.13", "179"])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
                if status.is_ok_and(|s| s.success()) {
                    accepted += 1;
                }
            }
            accepted
        })
    };

    // Over a 40 s window the idle-hold time doubles from 2 s (2, 4, 8, 16 ...): a
    // handful of attempts, where a fixed 1 s retry would make about 40.
    let window = Duration::from_secs(40);
    let start = syn_count(flap);
    let began = Instant::now();
    let mut bird_lost = None;
    while began.elapsed() < window {
        if rr.kernel_routes() != bird_route && bird_lost.is_none() {
            bird_lost = Some(began.elapsed());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let attempts = syn_count(flap) - start;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let accepted = listener.join().expect("listener thread");
    eprintln!("flapping peer: {attempts} connection attempts, {accepted} accepted in {window:?}");
    assert!(
        accepted >= 2,
        "routerd keeps trying the flapping peer ({accepted} accepted)\n{}",
        log_tail(&rr.log, 30)
    );
    assert!(
        attempts <= 10,
        "{attempts} connection attempts in {window:?}: the backoff does not hold\n{}",
        log_tail(&rr.log, 40)
    );
    assert_eq!(
        bird_lost, None,
        "BIRD's route disappeared while the other peer flapped"
    );
    assert!(
        rr.established().contains(&host(12).to_string()),
        "the BIRD session stays Established: {:?}",
        rr.peers()
    );
    drop(bird);
}

/// Seconds from now until `gone` holds, polled every 100 ms, or `None` after `secs`.
fn time_until(secs: u64, mut gone: impl FnMut() -> bool) -> Option<Duration> {
    let began = Instant::now();
    wait_for(secs, || gone().then(|| began.elapsed()))
}

#[test]
fn a_killed_peer_is_withdrawn_within_the_hold_time_and_returns() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("fk", &[("rr", RR), ("bird", host(12))]);
    let rr = lab.rr(&[StaticPeer {
        address: host(12),
        passive: false,
    }]);
    let logs = [&rr];
    let routes = vec![route(p32(198, 51, 100, 12), host(12))];
    let mut bird = lab.bird("bird", 12, &["198.51.100.12/32".into()]);
    expect_kernel(&rr, &routes, "BIRD's route", &logs);

    // SIGKILL: the kernel closes BIRD's socket, no NOTIFICATION.
    bird.kill();
    let took = time_until(u64::from(HOLD) + 5, || rr.kernel_routes().is_empty());
    let took = took.unwrap_or_else(|| {
        panic!(
            "BIRD's route still installed {} s after it died: {:?}\n{}",
            HOLD + 5,
            rr.kernel_routes(),
            log_tail(&rr.log, 30)
        )
    });
    eprintln!("route of the killed peer withdrawn after {took:?}");
    assert!(
        took <= Duration::from_secs(u64::from(HOLD)),
        "withdrawn after {took:?}, beyond the {HOLD} s hold time"
    );

    // Restarted: the session comes back (through routerd's backoff) and so does the route.
    let bird = lab.bird("bird", 12, &["198.51.100.12/32".into()]);
    expect_kernel(&rr, &routes, "BIRD's route after its restart", &logs);
    assert!(rr.established().contains(&host(12).to_string()));
    drop(bird);
}

#[test]
fn an_underlay_link_flap_loses_nothing_when_short_and_recovers_when_long() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("fl", &[("rr", RR), ("bird", host(12))]);
    let rr = lab.rr(&[StaticPeer {
        address: host(12),
        passive: false,
    }]);
    let logs = [&rr];
    let routes = vec![route(p32(198, 51, 100, 12), host(12))];
    let _bird = lab.bird("bird", 12, &["198.51.100.12/32".into()]);
    expect_kernel(&rr, &routes, "BIRD's route", &logs);

    // The RR's cable goes down for 2 s, shorter than the hold time: TCP retransmits,
    // the session and the route stay, checked every 100 ms through the flap and 5 s
    // after it. (BIRD's own interface stays up: its `direct` sessions would otherwise
    // drop with the interface, which is BIRD's choice, not routerd's.)
    lab.cable("rr", false);
    let began = Instant::now();
    let mut missing = Vec::new();
    let mut up = false;
    while began.elapsed() < Duration::from_secs(7) {
        if !up && began.elapsed() >= Duration::from_secs(2) {
            lab.cable("rr", true);
            up = true;
        }
        if rr.kernel_routes() != routes {
            missing.push(began.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        missing.is_empty(),
        "the route went missing during a 2 s flap at {missing:?}\n{}",
        log_tail(&rr.log, 30)
    );

    // An outage longer than the hold time: the RR's hold timer withdraws the route, and
    // once the cable is back the session and the route recover.
    lab.cable("rr", false);
    let took = time_until(u64::from(HOLD) + 5, || rr.kernel_routes().is_empty());
    lab.cable("rr", true);
    let took = took.unwrap_or_else(|| {
        panic!(
            "route still installed {} s into a link outage\n{}",
            HOLD + 5,
            log_tail(&rr.log, 30)
        )
    });
    eprintln!("route withdrawn {took:?} into the outage");
    expect_kernel(&rr, &routes, "BIRD's route after the link came back", &logs);
    assert!(rr.established().contains(&host(12).to_string()));
}

#[test]
fn a_killed_rr_restarts_with_a_clean_table_and_relearns() {
    if !require_root() {
        return;
    }
    let lab = Lab::new("fr", &[("rr", RR), ("bird", host(12))]);
    let mut rr = lab.rr(&[StaticPeer {
        address: host(12),
        passive: false,
    }]);
    let routes = vec![route(p32(198, 51, 100, 12), host(12))];
    let _bird = lab.bird("bird", 12, &["198.51.100.12/32".into()]);
    expect_kernel(&rr, &routes, "BIRD's route", &[&rr]);

    // SIGKILL: no chance to clean up; the kernel route stays behind (fail-static).
    rr.kill();
    assert_eq!(rr.kernel_routes(), routes, "the FIB outlives the process");
    // The restarted routerd removes what it cannot vouch for and relearns the route.
    rr.restart(lab.ns("rr"));
    expect_kernel(&rr, &routes, "BIRD's route after routerd restarted", &[&rr]);
    let log = std::fs::read_to_string(&rr.log).unwrap_or_default();
    assert!(
        log.contains("removed stale routes"),
        "the restart reports the stale routes it found:\n{}",
        log_tail(&rr.log, 30)
    );
    assert!(rr.running());
}

/// Runs `routerd-tool ARGS`; returns the exit code and stdout.
fn tool(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, String, String) {
    static TOOL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let binary = TOOL.get_or_init(|| system_tests::workspace_binary("routerd-tool"));
    let out = std::process::Command::new(binary)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("run routerd-tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The key the example configs trust, replaced by the test's own key.
const EXAMPLE_KEY: &str = "a44f7370a8216e2b623e3e165439f862b3b56985657ddc5bbeb4ee8fc3203b79";

/// Reads `len` bytes at `offset` of `path`.
fn read_at(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).expect("open image");
    let mut buf = vec![0; len];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut buf))
        .expect("read image");
    buf
}

/// Writes `bytes` at `offset` of `path`.
fn write_at(path: &std::path::Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open image for writing");
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(bytes))
        .expect("write image");
}

/// The serial `routerd-tool inspect` verifies in the image, or the failure.
fn inspected_serial(image: &std::path::Path, trust: &std::path::Path) -> Result<u64, String> {
    let (code, out, err) = tool(&[&"inspect", &image, &"--trust", &trust, &"--json"]);
    if code != 0 {
        return Err(format!("inspect exited {code}: {err}"));
    }
    let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    v["serial"]
        .as_u64()
        .ok_or_else(|| format!("no serial: {out}"))
}

#[test]
fn a_provision_cut_at_any_byte_leaves_the_last_good_config() {
    use image_builder::{gpt, layout};
    let scratch = Scratch::new("fp");
    let dir = scratch.path();
    let keys = dir.join("keys");
    assert_eq!(tool(&[&"keygen", &"--out", &keys]).0, 0);
    let public = std::fs::read_to_string(keys.join("owner.pub")).expect("public key");
    let (key, trust) = (keys.join("owner.key"), keys.join("owner.pub"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("examples/leaf.toml")).expect("example");
    let first = dir.join("first.toml");
    std::fs::write(&first, text.replace(EXAMPLE_KEY, public.trim())).expect("write");
    let second = dir.join("second.toml");
    let changed = text
        .replace(EXAMPLE_KEY, public.trim())
        .replace("hold_time = 30", "hold_time = 45");
    std::fs::write(&second, changed).expect("write");

    // A disk with the product layout, the first config provisioned (serial 100).
    let image = dir.join("disk.img");
    {
        let disk_bytes = layout::MIN_DISK_BYTES;
        let mut file = std::fs::File::create(&image).expect("create image");
        file.set_len(disk_bytes).expect("size image");
        let plan = layout::plan(disk_bytes).expect("layout");
        let entries = layout::entries(&plan, [7; 16]);
        gpt::write(&mut file, disk_bytes, gpt::Guid::derived([9; 16]), &entries)
            .expect("write GPT");
    }
    let provision = |config: &std::path::Path, serial: &str| {
        tool(&[
            &"provision",
            &"--config",
            &config,
            &"--key",
            &key,
            &"--target",
            &image,
            &"--serial",
            &serial,
        ])
    };
    assert_eq!(provision(&first, "100").0, 0);
    assert_eq!(inspected_serial(&image, &trust), Ok(100));

    // The second provision, whole: find the bytes it wrote.
    let (offset, len) = layout::find_partition(&image, layout::CONFIG_NAME)
        .expect("read GPT")
        .expect("config partition");
    let len = usize::try_from(len).expect("partition fits memory");
    let before = read_at(&image, offset, len);
    assert_eq!(provision(&second, "200").0, 0);
    let after = read_at(&image, offset, len);
    assert_eq!(inspected_serial(&image, &trust), Ok(200));
    let lo = before
        .iter()
        .zip(&after)
        .position(|(a, b)| a != b)
        .expect("the write changed something");
    let hi = len
        - before
            .iter()
            .rev()
            .zip(after.iter().rev())
            .position(|(a, b)| a != b)
            .expect("the write changed something");
    eprintln!("the second provision wrote bytes {lo}..{hi} of the config partition");

    // Power cut after k of those bytes reached the disk, for every k: the rest is still
    // the old contents (a clean cut) or garbage (a torn sector). The first config must
    // verify for every k < all; all of them verifies the second.
    let written = hi - lo;
    let mut checked = 0;
    for k in 0..written {
        for tail in [&before[lo + k..hi], &vec![0xa5; written - k][..]] {
            let mut torn = after[lo..lo + k].to_vec();
            torn.extend_from_slice(tail);
            write_at(&image, offset + lo as u64, &torn);
            let serial = inspected_serial(&image, &trust);
            assert_eq!(
                serial,
                Ok(100),
                "cut after {k} of {written} bytes: the last good config must verify"
            );
            checked += 1;
        }
    }
    write_at(&image, offset + lo as u64, &after[lo..hi]);
    assert_eq!(inspected_serial(&image, &trust), Ok(200));
    eprintln!("{checked} interrupted images checked");
}
