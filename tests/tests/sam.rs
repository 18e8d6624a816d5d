//! System test of SAM on the userspace datapath: routerd processes in network namespaces.
//!
//! Topology (underlay on a bridge, documentation range 203.0.113.0/24):
//! - `rr`: the route reflector, underlay 203.0.113.10, tunnel address 10.99.0.1;
//! - `leaf-a`: underlay 203.0.113.11, tunnel 10.99.0.11, owns 10.20.1.10/32 (client A);
//! - `leaf-b`: behind a NAT namespace that masquerades 10.200.0.0/24 to 203.0.113.20;
//!   tunnel 10.99.0.12, owns 10.20.2.10/32 (client B), WireGuard keepalive 25 s;
//! - `rogue`: underlay 203.0.113.13, tunnel 10.99.0.13, enrolled for 10.20.3.10/32, then
//!   restarted with a claim the RR refuses (it names client A's /32 and the unowned
//!   10.20.9.9/32): fail-static, it keeps its RR set and session and announces both;
//! - the bridge itself (203.0.113.1) replays a join request recorded by leaf A;
//! - the RR restarts: its registry comes back from the state directory, sessions
//!   and traffic return without re-enrollment, and the replay is still refused;
//! - finally the operator revokes leaf B and reinstates it ([`revocation`]).
//!
//! The RR runs from a signed blob (`routerd run --config-blob BLOB --trust owner.pub
//! --state-dir DIR`), the leaves from development configs (`--config FILE --state-dir
//! DIR`), all with `transport.datapath = "auto"`; this kernel has neither IPIP nor WireGuard, so each
//! must fall back to the userspace datapath and say so in `/v1/status`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use system_tests::netns::{Bridge, Netns, Proc, veth, wait_for};
use system_tests::sam_configs::{self, Fabric};
use system_tests::scratch::Scratch;
use system_tests::traffic::{masquerade, pings, tcp_exchange};
use system_tests::{DEV_TRUSTED_KEY, require_root, workspace_binary};

#[path = "sam/revocation.rs"]
mod revocation;

const TOKEN: &str = "sam-system-test-join-token-0001";
const RR_UNDERLAY: &str = "203.0.113.10";
const CLIENT_A: &str = "10.20.1.10";
const CLIENT_B: &str = "10.20.2.10";
const UNOWNED: &str = "10.20.9.9";
/// Seconds allowed for enrollment, tunnels, sessions and route exchange.
const CONVERGE_SECS: u64 = 60;

/// A workspace binary, built once per test run (a build in the middle of the scenario
/// would wait for other cargo runs while the routers' timers go on).
fn binary(name: &str) -> PathBuf {
    static PATHS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut paths = PATHS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, path)) = paths.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let path = workspace_binary(name);
    paths.push((name.to_string(), path.clone()));
    path
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One raw HTTP/1.1 exchange from inside `ns` (netcat); returns (status, body).
fn http(ns: &Netns, addr: &str, port: u16, request: &str) -> Option<(u16, String)> {
    let mut child = ns
        .command("nc")
        .args(["-N", "-w", "5", addr, &port.to_string()])
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
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A GET of routerd's status API (127.0.0.1:7179 inside `ns`) as JSON.
fn api(ns: &Netns, path: &str) -> Option<Value> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let (status, body) = http(ns, "127.0.0.1", 7179, &request)?;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// One routerd process.
struct Router<'a> {
    name: &'static str,
    ns: &'a Netns,
    config: PathBuf,
    state: PathBuf,
    log: PathBuf,
    starts: u32,
    /// `--config-blob` and `--trust` instead of `--config`, when signed.
    signed: Option<(PathBuf, PathBuf)>,
    proc: Option<Proc>,
}

impl<'a> Router<'a> {
    fn new(scratch: &Scratch, name: &'static str, ns: &'a Netns, config: &str) -> Router<'a> {
        let path = scratch.path(&format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        Router {
            name,
            ns,
            config: path,
            state: scratch.path(&format!("{name}-state")),
            log: scratch.path(&format!("{name}.log")),
            starts: 0,
            signed: None,
            proc: None,
        }
    }

    /// A router booted from a signed blob: an owner key pair is made, its public key
    /// trusted by `config`, and the config signed with `routerd-tool provision`.
    fn signed(scratch: &Scratch, name: &'static str, ns: &'a Netns, config: &str) -> Router<'a> {
        let tool = binary("routerd-tool");
        let keys = scratch.path(&format!("{name}-keys"));
        let keygen = std::process::Command::new(&tool)
            .args(["keygen", "--out", &keys.display().to_string()])
            .output()
            .unwrap();
        assert!(
            keygen.status.success(),
            "{}",
            String::from_utf8_lossy(&keygen.stderr)
        );
        let public = read(&keys.join("owner.pub")).trim().to_string();
        let config = config.replace(DEV_TRUSTED_KEY, &public);
        let mut router = Router::new(scratch, name, ns, &config);
        let blob = scratch.path(&format!("{name}.blob"));
        let provision = std::process::Command::new(&tool)
            .args(["provision", "--config"])
            .arg(&router.config)
            .arg("--key")
            .arg(keys.join("owner.key"))
            .arg("--out")
            .arg(&blob)
            .output()
            .unwrap();
        assert!(
            provision.status.success(),
            "provision: {}",
            String::from_utf8_lossy(&provision.stderr)
        );
        router.signed = Some((blob, keys.join("owner.pub")));
        router
    }

    fn start(&mut self) {
        let mut args: Vec<String> = vec!["run".into()];
        match &self.signed {
            None => args.extend(["--config".into(), self.config.display().to_string()]),
            Some((blob, trust)) => args.extend([
                "--config-blob".into(),
                blob.display().to_string(),
                "--trust".into(),
                trust.display().to_string(),
                "--api".into(),
                "127.0.0.1:7179".into(),
            ]),
        }
        args.extend(["--state-dir".into(), self.state.display().to_string()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        // One log per start: `<name>.log`, `<name>.log.1`, ...
        if self.starts > 0 {
            self.log = self.log.with_extension(format!("log.{}", self.starts));
        }
        self.starts += 1;
        self.proc = Some(self.ns.spawn(binary("routerd"), &refs, &self.log));
        let up = wait_for(30, || {
            if api(self.ns, "/v1/status").is_some() {
                return Some(true);
            }
            (!self.proc.as_mut().is_some_and(|p| p.running())).then_some(false)
        });
        assert_eq!(
            up,
            Some(true),
            "{} did not start:\n{}",
            self.name,
            read(&self.log)
        );
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop(5);
        }
    }

    /// A status document (retried for up to 5 s; `Null` when the API does not answer).
    fn doc(&self, path: &str) -> Value {
        wait_for(5, || api(self.ns, path)).unwrap_or(Value::Null)
    }

    fn assert_alive(&mut self) {
        assert!(
            self.proc.as_mut().is_some_and(|p| p.running()),
            "{} died:\n{}",
            self.name,
            read(&self.log)
        );
    }

    fn logs(&self) -> String {
        read(&self.log)
    }
}

/// The fabric of this test: development configs, the `auto` datapath (userspace here).
const FABRIC: Fabric<'static> = Fabric {
    trusted_key: DEV_TRUSTED_KEY,
    board: "dev",
    join_token: TOKEN,
    datapath: "auto",
    hold_time: 30,
    rr_underlay: RR_UNDERLAY,
};

fn rr_config() -> String {
    sam_configs::Rr {
        fabric: &FABRIC,
        max_leaves: 8,
        wireguard_seed: 1,
        interfaces: String::new(),
        extra: String::new(),
    }
    .toml()
}

/// Leaf `name` with tunnel address 10.99.0.HOST; `underlay` `None` behind the NAT.
fn leaf_config(name: &str, host: u8, owned: &[&str], underlay: Option<&str>) -> String {
    sam_configs::Leaf {
        fabric: &FABRIC,
        name: name.to_string(),
        host,
        owned: owned
            .iter()
            .map(|o| o.parse().expect("an address"))
            .collect(),
        underlay_endpoint: underlay.map(str::to_string),
        wireguard_seed: host,
        interfaces: String::new(),
        extra: String::new(),
    }
    .toml()
}

/// A site LAN: `router` gets `gateway/24` on `lan0`, the client namespace `address/24`
/// on `eth0` with a default route to the gateway.
fn site(router: &Netns, client: &Netns, gateway: &str, address: &str) {
    veth(router, "lan0", client, "eth0");
    router.addr("lan0", &format!("{gateway}/24"));
    client.addr("eth0", &format!("{address}/24"));
    client.ip(&["route", "add", "default", "via", gateway]);
}

/// Routes the kernel holds for `prefix` in `ns` (main table), one per line.
fn routes(ns: &Netns, prefix: &str) -> String {
    String::from_utf8_lossy(&ns.exec("ip", &["-4", "route", "show", prefix]).stdout).to_string()
}

/// The RR's peer entry for `address` in `/v1/peers`.
fn rr_peer(rr: &Router<'_>, address: &str) -> Value {
    rr.doc("/v1/peers")["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["address"] == address).cloned())
        .unwrap_or(Value::Null)
}

fn rejected(peer: &Value, reason: &str) -> u64 {
    peer["rejected"]
        .as_array()
        .and_then(|r| r.iter().find(|c| c["reason"] == reason))
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

fn refusals(rr: &Router<'_>, reason: &str) -> u64 {
    rr.doc("/v1/enrollment")["rr"]["refusals"]
        .as_array()
        .and_then(|r| r.iter().find(|c| c["reason"] == reason))
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

fn established(peer: &Value) -> bool {
    peer["state"] == "Established"
}

#[test]
fn sam_enrollment_tunnels_admission_and_replay() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("sam");
    let ul = Netns::new("samul");
    let rr_ns = Netns::new("samrr");
    let a_ns = Netns::new("sama");
    let b_ns = Netns::new("samb");
    let nat_ns = Netns::new("samnat");
    let rogue_ns = Netns::new("samx");
    let client_a = Netns::new("samca");
    let client_b = Netns::new("samcb");

    let mut bridge = Bridge::new(&ul);
    ul.ip(&["addr", "add", "203.0.113.1/24", "dev", "br0"]);
    bridge.attach(&rr_ns, "wan0", &format!("{RR_UNDERLAY}/24"));
    bridge.attach(&a_ns, "wan0", "203.0.113.11/24");
    bridge.attach(&nat_ns, "wan0", "203.0.113.20/24");
    bridge.attach(&rogue_ns, "wan0", "203.0.113.13/24");
    veth(&nat_ns, "lan0", &b_ns, "wan0");
    nat_ns.addr("lan0", "10.200.0.1/24");
    b_ns.addr("wan0", "10.200.0.2/24");
    b_ns.ip(&["route", "add", "default", "via", "10.200.0.1"]);
    nat_ns.forwarding();
    masquerade(&nat_ns, "wan0", None);
    site(&a_ns, &client_a, "10.20.1.1", CLIENT_A);
    site(&b_ns, &client_b, "10.20.2.1", CLIENT_B);

    let mut rr = Router::signed(&scratch, "rr", &rr_ns, &rr_config());
    let mut leaf_a = Router::new(
        &scratch,
        "leaf-a",
        &a_ns,
        &leaf_config("leaf-a", 11, &[CLIENT_A], Some("203.0.113.11")),
    );
    let mut leaf_b = Router::new(
        &scratch,
        "leaf-b",
        &b_ns,
        &leaf_config("leaf-b", 12, &[CLIENT_B], None),
    );
    rr.start();
    leaf_a.start();
    leaf_b.start();

    // Enrollment: both leaves Ready, both claims on the RR, the NAT-ed leaf's endpoint
    // learned from its handshake (the NAT's public address).
    let ready = |leaf: &Router<'_>| leaf.doc("/v1/enrollment")["leaf"]["state"] == "Ready";
    let enrolled = wait_for(CONVERGE_SECS, || {
        (ready(&leaf_a) && ready(&leaf_b)).then_some(())
    });
    assert!(
        enrolled.is_some(),
        "leaves not Ready: a={} b={}\nrr log:\n{}\nleaf-b log:\n{}",
        leaf_a.doc("/v1/enrollment"),
        leaf_b.doc("/v1/enrollment"),
        rr.logs(),
        leaf_b.logs()
    );
    for router in [&rr, &leaf_a, &leaf_b] {
        assert_eq!(
            router.doc("/v1/status")["datapath"],
            "userspace",
            "{}",
            router.name
        );
        let tunnels = router.doc("/v1/tunnels");
        assert_eq!(
            tunnels["datapath"], "userspace",
            "{}: {tunnels}",
            router.name
        );
    }

    // Sessions: the RR shows both leaves as dynamic peers, Established.
    let sessions = wait_for(CONVERGE_SECS, || {
        let a = rr_peer(&rr, "10.99.0.11");
        let b = rr_peer(&rr, "10.99.0.12");
        (established(&a) && established(&b) && !a["dynamic"].is_null()).then_some(())
    });
    assert!(
        sessions.is_some(),
        "sessions not up: {}\nrr log:\n{}\nleaf-a log:\n{}",
        rr.doc("/v1/peers"),
        rr.logs(),
        leaf_a.logs()
    );
    let claims = rr.doc("/v1/enrollment")["rr"]["claims"].clone();
    let claim_b = claims
        .as_array()
        .and_then(|c| c.iter().find(|c| c["leaf_id"] == "leaf-b").cloned())
        .unwrap_or(Value::Null);
    assert!(claim_b["underlay_endpoint"].is_null(), "{claims}");
    let learned = claim_b["endpoint_learned"].as_str().unwrap_or("");
    assert!(
        learned.starts_with("203.0.113.20:"),
        "NAT endpoint not learned: {claims}"
    );

    // Routes: each leaf installs the other client's /32 through its RR tunnel, never its
    // own; the RR installs both through the leaves' tunnels.
    let installed = wait_for(CONVERGE_SECS, || {
        (routes(&a_ns, CLIENT_B).contains("via 10.99.0.1")
            && routes(&b_ns, CLIENT_A).contains("via 10.99.0.1")
            && routes(&rr_ns, CLIENT_A).contains("via 10.99.0.11")
            && routes(&rr_ns, CLIENT_B).contains("via 10.99.0.12"))
        .then_some(())
    });
    assert!(
        installed.is_some(),
        "routes missing: a: {} b: {} rr: {} / {}",
        routes(&a_ns, CLIENT_B),
        routes(&b_ns, CLIENT_A),
        routes(&rr_ns, CLIENT_A),
        routes(&rr_ns, CLIENT_B)
    );
    assert!(
        !routes(&a_ns, CLIENT_A).contains("via"),
        "leaf A installed its own /32"
    );
    assert!(
        !routes(&b_ns, CLIENT_B).contains("via"),
        "leaf B installed its own /32"
    );

    // Traffic between the clients, both ways, through leaf, RR (hub) and leaf.
    assert!(
        wait_for(CONVERGE_SECS, || pings(&client_a, CLIENT_B).then_some(())).is_some(),
        "client A cannot ping client B; tunnels: rr {} a {} b {}",
        rr.doc("/v1/tunnels"),
        leaf_a.doc("/v1/tunnels"),
        leaf_b.doc("/v1/tunnels")
    );
    assert!(pings(&client_b, CLIENT_A), "client B cannot ping client A");
    assert!(
        tcp_exchange(&client_b, CLIENT_B, &client_a, "hello from A", 10),
        "TCP A -> B"
    );
    assert!(
        tcp_exchange(&client_a, CLIENT_A, &client_b, "hello from B", 10),
        "TCP B -> A"
    );
    // The status shows the traffic on every RR tunnel (refreshed every second).
    let moved = wait_for(5, || {
        rr.doc("/v1/tunnels")["tunnels"]
            .as_array()
            .filter(|t| t.len() == 2)
            .map(|t| t.iter().all(|t| t["rx_bytes"].as_u64().unwrap_or(0) > 0))
            .unwrap_or(false)
            .then_some(())
    });
    assert!(
        moved.is_some(),
        "RR tunnels carried nothing: {}\nleaf-a: {}\n{}",
        rr.doc("/v1/tunnels"),
        leaf_a.doc("/v1/tunnels"),
        String::from_utf8_lossy(&rr_ns.exec("ip", &["-s", "link"]).stdout)
    );

    // Replay: the request leaf A stored (claim, nonce, MAC) re-posted verbatim by an
    // on-path observer is refused, and counted.
    let stored: Value = serde_json::from_str(&read(&leaf_a.state.join("sam-leaf.json"))).unwrap();
    let request = serde_json::to_string(&stored["endpoints"][0]["answer"]["request"]).unwrap();
    assert!(request.contains("\"mac\""), "no recorded request: {stored}");
    let before = refusals(&rr, "replayed-nonce");
    let raw = format!(
        "POST /v1/enroll HTTP/1.1\r\nHost: {RR_UNDERLAY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{request}",
        request.len()
    );
    let (status, body) = http(&ul, RR_UNDERLAY, 4179, &raw).expect("an answer to the replay");
    assert_eq!(
        (status, body.as_str()),
        (409, r#"{"refused":"replayed-nonce"}"#)
    );
    let counted = wait_for(5, || {
        (refusals(&rr, "replayed-nonce") > before).then_some(())
    });
    assert!(counted.is_some(), "{}", rr.doc("/v1/enrollment"));

    // Rogue: enrolls honestly for 10.20.3.10/32, then restarts with a claim naming client
    // A's /32 and an unowned one. The RR refuses that claim; the rogue keeps its RR set
    // (fail-static) and session, announces both, and the RR rejects both as not-owned.
    let rogue_config = |owned: &[&str]| leaf_config("rogue", 13, owned, Some("203.0.113.13"));
    let mut rogue = Router::new(&scratch, "rogue", &rogue_ns, &rogue_config(&["10.20.3.10"]));
    rogue.start();
    let honest = wait_for(CONVERGE_SECS, || {
        let p = rr_peer(&rr, "10.99.0.13");
        (established(&p) && p["accepted"] == 1).then_some(())
    });
    assert!(
        honest.is_some(),
        "rogue's first claim: {}\n{}",
        rr.doc("/v1/peers"),
        rogue.logs()
    );
    rogue.stop();
    std::fs::write(&rogue.config, rogue_config(&[CLIENT_A, UNOWNED])).unwrap();
    let refused_before = refusals(&rr, "owned-route-in-use");
    rogue.start();
    let rejected_both = wait_for(CONVERGE_SECS, || {
        let p = rr_peer(&rr, "10.99.0.13");
        (established(&p) && rejected(&p, "not-owned") >= 2).then_some(())
    });
    assert!(
        rejected_both.is_some(),
        "rogue routes not rejected: {}\nrogue log:\n{}",
        rr_peer(&rr, "10.99.0.13"),
        rogue.logs()
    );
    assert!(refusals(&rr, "owned-route-in-use") > refused_before);
    assert_eq!(rr_peer(&rr, "10.99.0.13")["accepted"], 0);
    // Nobody installs the unowned /32, and client A's /32 still points at leaf A.
    for (name, ns) in [("rr", &rr_ns), ("leaf-a", &a_ns), ("leaf-b", &b_ns)] {
        assert!(
            !routes(ns, UNOWNED).contains("via"),
            "{name} installed {UNOWNED}"
        );
    }
    assert!(
        routes(&rr_ns, CLIENT_A).contains("via 10.99.0.11"),
        "{}",
        routes(&rr_ns, CLIENT_A)
    );
    assert!(
        pings(&client_b, CLIENT_A),
        "client A unreachable after the rogue announced it"
    );

    // RR restart: the registry comes back from its state directory, so the leaves'
    // sessions and the traffic return without anyone enrolling again, and the recorded
    // request is still refused.
    let accepted_at = |rr: &Router<'_>| -> Vec<(String, u64)> {
        rr.doc("/v1/enrollment")["rr"]["claims"]
            .as_array()
            .map(|claims| {
                claims
                    .iter()
                    .map(|c| {
                        let id = c["leaf_id"].as_str().unwrap_or("?").to_string();
                        (id, c["accepted_at"].as_u64().unwrap_or(0))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let claims_before = accepted_at(&rr);
    assert_eq!(claims_before.len(), 3, "{claims_before:?}");
    rr.stop();
    rr.start();
    assert_eq!(
        accepted_at(&rr),
        claims_before,
        "claims changed across the restart"
    );
    let back = wait_for(3 * CONVERGE_SECS, || {
        (established(&rr_peer(&rr, "10.99.0.11")) && established(&rr_peer(&rr, "10.99.0.12")))
            .then_some(())
    });
    assert!(
        back.is_some(),
        "sessions did not return: {}\n{}",
        rr.doc("/v1/peers"),
        rr.logs()
    );
    assert!(
        wait_for(CONVERGE_SECS, || pings(&client_a, CLIENT_B).then_some(())).is_some(),
        "no traffic after the RR restart: {}",
        rr.doc("/v1/tunnels")
    );
    assert_eq!(accepted_at(&rr), claims_before, "a leaf enrolled again");
    let (status, body) = http(&ul, RR_UNDERLAY, 4179, &raw).expect("an answer to the replay");
    assert_eq!(
        (status, body.as_str()),
        (409, r#"{"refused":"replayed-nonce"}"#)
    );

    revocation::revoke_and_reinstate(&ul, &mut rr, &leaf_a, &mut leaf_b, &a_ns);

    for router in [&mut rr, &mut leaf_a, &mut leaf_b, &mut rogue] {
        router.assert_alive();
    }
    for router in [&mut rogue, &mut leaf_a, &mut leaf_b, &mut rr] {
        router.stop();
    }
}
