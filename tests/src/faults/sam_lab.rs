//! A SAM fabric for fault tests: a routerd route reflector and routerd leaves on one
//! bridge, userspace datapath (WireGuard and IPIP on TUN devices), short hold time.
//!
//! - Underlay 203.0.113.0/24 on the bridge: the RR at .10, leaf `n` at `.10 + n`; a
//!   leaf behind NAT ([`Fabric::add_leaf_behind_nat`]) sits on `10.200.n.2/24` behind
//!   a NAT namespace at `203.0.113.(30 + n)` that masquerades it from a port range.
//! - Tunnel addresses 10.99.0.0/24 (RR .1, leaf `n` at `.10 + n`); leaf `n` owns
//!   `10.20.n.10/32` and puts it on its `lo`, so the address answers pings.
//! - Every node serves its status API on 127.0.0.1:7179 inside its namespace, read
//!   with netcat ([`SamNode::api`]); leaves install learned routes in the main table.
//! - [`StateDir::Tmpfs`] runs routerd in a private mount namespace (`unshare -m`) with a
//!   small tmpfs on its state directory, optionally read-only or filled from the
//!   start; [`SamNode::in_mounts`] runs a command in that mount namespace to make the
//!   fault or lift it. Nothing is mounted in the test's own mount namespace.
//!
//! Namespaces, processes and the scratch directory go on drop (processes by PID).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::netns::{Netns, Proc, veth, wait_for};
use crate::peers::Scratch;
use crate::sam_configs;

/// The join token of the fabric.
const TOKEN: &str = "faults-sam-join-token-0001";
/// The RR's underlay address (enrollment and WireGuard).
pub const RR_UNDERLAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The RR's tunnel address (its BGP sessions).
pub const RR_TUNNEL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// BGP hold time of every router: a dead peer is noticed within it.
pub const HOLD: u64 = 9;
/// Where the status API listens inside each namespace.
const API_PORT: u16 = 7179;
/// Kernel main table, where leaves install learned routes.
const MAIN_TABLE: u32 = 254;

/// Where a node keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateDir {
    /// A directory in the scratch space (survives restarts).
    Disk,
    /// A 256 KiB tmpfs in the process's own mount namespace.
    Tmpfs {
        /// Remounted read-only before routerd starts.
        read_only: bool,
        /// Filled with a file before routerd starts (no space left).
        full: bool,
    },
}

/// The file that fills a [`StateDir::Tmpfs`] started full.
pub const FILLER: &str = "filler";

/// One routerd.
#[derive(Debug)]
pub struct SamNode {
    /// `rr` or `leaf-N`.
    pub name: String,
    /// Its namespace.
    pub ns: Netns,
    config: PathBuf,
    /// Its state directory (inside its mount namespace when on tmpfs).
    pub state: PathBuf,
    state_dir: StateDir,
    logs: PathBuf,
    starts: u32,
    /// The log of the current (or last) run.
    pub log: PathBuf,
    proc: Option<Proc>,
}

/// The bridge, the RR and the leaves.
#[derive(Debug)]
pub struct Fabric {
    /// The route reflector.
    pub rr: SamNode,
    leaves: Vec<SamNode>,
    /// NAT namespaces in front of leaves, by leaf number (dropped after the leaves).
    nats: Vec<(u8, Netns)>,
    sw: Netns,
    ports: u32,
    /// Configs, state directories and logs (dropped last, after the processes).
    pub scratch: Scratch,
}

/// The fabric of the fault tests: development configs, the userspace datapath, hold
/// time [`HOLD`]; `rr_underlay` is [`RR_UNDERLAY`] as text.
fn fabric(rr_underlay: &str) -> sam_configs::Fabric<'_> {
    sam_configs::Fabric {
        trusted_key: crate::DEV_TRUSTED_KEY,
        board: "dev",
        join_token: TOKEN,
        datapath: "userspace",
        hold_time: u16::try_from(HOLD).expect("a BGP hold time"),
        rr_underlay,
    }
}

fn rr_config() -> String {
    let underlay = RR_UNDERLAY.to_string();
    sam_configs::Rr {
        fabric: &fabric(&underlay),
        max_leaves: 16,
        wireguard_seed: 1,
        interfaces: String::new(),
        extra: String::new(),
    }
    .toml()
}

/// Leaf `n`'s owned /32 (without the length).
pub fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, n, 10)
}

/// Leaf `n`'s config; `behind_nat` leaves the underlay endpoint out of its claim (the
/// RR learns it from the first packets).
fn leaf_config(n: u8, behind_nat: bool) -> String {
    let host = 10 + n;
    let underlay = RR_UNDERLAY.to_string();
    sam_configs::Leaf {
        fabric: &fabric(&underlay),
        name: format!("leaf-{n}"),
        host,
        owned: vec![client(n)],
        underlay_endpoint: (!behind_nat).then(|| format!("203.0.113.{host}")),
        wireguard_seed: host,
        interfaces: String::new(),
        extra: String::new(),
    }
    .toml()
}

/// One raw HTTP/1.1 GET from inside `ns` (netcat); the JSON body of a `200`.
fn get_json(ns: &Netns, path: &str) -> Option<Value> {
    let mut child = ns
        .command("nc")
        .args(["-N", "-w", "3", "127.0.0.1", &API_PORT.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
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

impl SamNode {
    fn new(scratch: &Scratch, name: &str, ns: Netns, config: &str, state_dir: StateDir) -> SamNode {
        let dir = scratch.dir(name);
        let path = dir.join("routerd.toml");
        std::fs::write(&path, config).expect("write config");
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("create state dir");
        SamNode {
            name: name.to_string(),
            ns,
            config: path,
            state,
            state_dir,
            logs: dir.clone(),
            starts: 0,
            log: dir.join("routerd.log"),
            proc: None,
        }
    }

    /// Starts routerd (again); waits until its status API answers.
    pub fn start(&mut self) {
        let binary = routerd();
        self.starts += 1;
        self.log = self.logs.join(format!("routerd.{}.log", self.starts));
        let state = self.state.display().to_string();
        let run = format!(
            "exec env RUST_LOG=info {} run --config {} --state-dir {state} --api 127.0.0.1:{API_PORT}",
            binary.display(),
            self.config.display(),
        );
        let proc = match self.state_dir {
            StateDir::Disk => self.ns.spawn("sh", &["-c", &run], &self.log),
            StateDir::Tmpfs { read_only, full } => {
                let mut script = format!(
                    "mount -t tmpfs -o size=256k,mode=0755 routerd-state {state} || exit 1\n"
                );
                if full {
                    script.push_str(&format!(
                        "dd if=/dev/zero of={state}/{FILLER} bs=4k 2>/dev/null\n"
                    ));
                }
                if read_only {
                    script.push_str(&format!("mount -o remount,ro {state} || exit 1\n"));
                }
                script.push_str(&run);
                self.ns.spawn(
                    "unshare",
                    &["--mount", "--propagation", "private", "sh", "-c", &script],
                    &self.log,
                )
            }
        };
        self.proc = Some(proc);
        let up = wait_for(30, || {
            if get_json(&self.ns, "/v1/status").is_some() {
                return Some(true);
            }
            (!self.running()).then_some(false)
        });
        assert_eq!(
            up,
            Some(true),
            "{} did not start:\n{}",
            self.name,
            self.logs()
        );
    }

    /// SIGKILL (no NOTIFICATION; the process's tunnels vanish with it).
    pub fn kill(&mut self) {
        self.proc = None;
        let gone = wait_for(10, || self.routerd_pid().is_none().then_some(()));
        assert!(gone.is_some(), "{} still runs after SIGKILL", self.name);
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(Proc::running)
    }

    /// The routerd process inside the namespace (`ip netns pids`, by its command name).
    pub fn routerd_pid(&self) -> Option<u32> {
        let out = Command::new("ip")
            .args(["netns", "pids", self.ns.name()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "routerd")
            })
    }

    /// Runs `sh -c script` in routerd's mount namespace (where its tmpfs is).
    pub fn in_mounts(&self, script: &str) -> Output {
        let pid = self.routerd_pid().expect("routerd runs");
        Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-m", "sh", "-c", script])
            .output()
            .expect("run nsenter")
    }

    /// A status API document; `None` when the API does not answer.
    pub fn api(&self, path: &str) -> Option<Value> {
        get_json(&self.ns, path)
    }

    /// On the RR: the claim of `leaf` as `/v1/enrollment` lists it, if there is one now.
    pub fn claim_of(&self, leaf: &str) -> Option<Value> {
        let doc = self.api("/v1/enrollment")?;
        doc["rr"]["claims"]
            .as_array()?
            .iter()
            .find(|c| c["leaf_id"].as_str() == Some(leaf))
            .cloned()
    }

    /// `/v1/status` (retried for up to 5 s; `Null` when the API does not answer).
    pub fn status(&self) -> Value {
        wait_for(5, || self.api("/v1/status")).unwrap_or(Value::Null)
    }

    /// Routes with protocol `bgp` in the main table, as sorted `(prefix, gateway)`.
    pub fn kernel_routes(&self) -> Vec<(String, String)> {
        crate::netns::kernel_bgp_routes(self.ns.name(), MAIN_TABLE)
    }

    /// True when the kernel holds a `bgp` route for `client(n)`.
    pub fn has_route_to(&self, n: u8) -> bool {
        let want = format!("{}/32", client(n));
        self.kernel_routes().iter().any(|(p, _)| *p == want)
    }

    /// The log of the current run.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// routerd, built once per test process.
fn routerd() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| crate::workspace_binary("routerd"))
        .clone()
}

impl Fabric {
    /// The bridge and the RR (started, with its state directory as given).
    pub fn new(tag: &str, rr_state: StateDir) -> Fabric {
        routerd();
        let sw = Netns::new(&format!("{tag}sw"));
        sw.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        sw.ip(&["link", "set", "br0", "up"]);
        let scratch = Scratch::new(tag);
        let rr_ns = Netns::new(&format!("{tag}rr"));
        let mut fabric = Fabric {
            rr: SamNode::new(&scratch, "rr", rr_ns, &rr_config(), rr_state),
            scratch,
            leaves: Vec::new(),
            nats: Vec::new(),
            sw,
            ports: 0,
        };
        fabric.plug(true, RR_UNDERLAY);
        fabric.rr.start();
        fabric
    }

    fn plug(&mut self, rr: bool, addr: Ipv4Addr) {
        let ns = if rr {
            &self.rr.ns
        } else {
            &self.leaves.last().expect("a leaf").ns
        };
        Self::plug_ns(&self.sw, &mut self.ports, ns, addr);
    }

    /// Cables `ns` (its `wan0`, at `addr`) to a new port of the bridge.
    fn plug_ns(sw: &Netns, ports: &mut u32, ns: &Netns, addr: Ipv4Addr) {
        *ports += 1;
        let port = format!("p{ports}");
        veth(ns, "wan0", sw, &port);
        sw.ip(&["link", "set", &port, "master", "br0"]);
        ns.addr("wan0", &format!("{addr}/24"));
    }

    /// Adds and starts leaf `n` (1..=9).
    pub fn add_leaf(&mut self, n: u8, state: StateDir) {
        let ns = Netns::new(&format!("lf{n}"));
        ns.ip(&["addr", "add", &format!("{}/32", client(n)), "dev", "lo"]);
        let name = format!("leaf-{n}");
        self.leaves.push(SamNode::new(
            &self.scratch,
            &name,
            ns,
            &leaf_config(n, false),
            state,
        ));
        self.plug(false, Ipv4Addr::new(203, 0, 113, 10 + n));
        self.leaf_mut(n).start();
    }

    /// Adds and starts leaf `n` (1..=9) behind a NAT namespace on the bridge at
    /// `203.0.113.(30 + n)`, which masquerades it with UDP and TCP source ports from
    /// `ports` (`"40000-40099"`); its claim names no underlay endpoint.
    pub fn add_leaf_behind_nat(&mut self, n: u8, ports: &str) {
        let nat = Netns::new(&format!("nat{n}"));
        Self::plug_ns(
            &self.sw,
            &mut self.ports,
            &nat,
            Ipv4Addr::new(203, 0, 113, 30 + n),
        );
        let ns = Netns::new(&format!("lf{n}"));
        ns.ip(&["addr", "add", &format!("{}/32", client(n)), "dev", "lo"]);
        veth(&nat, "lan0", &ns, "wan0");
        nat.addr("lan0", &format!("10.200.{n}.1/24"));
        ns.addr("wan0", &format!("10.200.{n}.2/24"));
        ns.ip(&["route", "add", "default", "via", &format!("10.200.{n}.1")]);
        nat.forwarding();
        crate::traffic::masquerade(&nat, "wan0", Some(ports));
        self.nats.push((n, nat));
        let name = format!("leaf-{n}");
        self.leaves.push(SamNode::new(
            &self.scratch,
            &name,
            ns,
            &leaf_config(n, true),
            StateDir::Disk,
        ));
        self.leaf_mut(n).start();
    }

    /// The NAT namespace in front of leaf `n` ([`Fabric::add_leaf_behind_nat`]).
    pub fn nat(&self, n: u8) -> &Netns {
        self.nats
            .iter()
            .find(|(m, _)| *m == n)
            .map(|(_, ns)| ns)
            .expect("leaf behind NAT")
    }

    /// Leaf `n`.
    pub fn leaf(&self, n: u8) -> &SamNode {
        let name = format!("leaf-{n}");
        self.leaves
            .iter()
            .find(|l| l.name == name)
            .expect("leaf exists")
    }

    /// Leaf `n`, mutable.
    pub fn leaf_mut(&mut self, n: u8) -> &mut SamNode {
        let name = format!("leaf-{n}");
        self.leaves
            .iter_mut()
            .find(|l| l.name == name)
            .expect("leaf exists")
    }

    /// Waits until every pair of `leaves` has the other's /32 in its kernel table;
    /// panics with the tables and logs after `secs`.
    pub fn expect_mesh(&self, leaves: &[u8], secs: u64, what: &str) {
        let meshed = || {
            leaves.iter().all(|&a| {
                let node = self.leaf(a);
                leaves
                    .iter()
                    .filter(|&&b| b != a)
                    .all(|&b| node.has_route_to(b))
            })
        };
        if wait_for(secs, || meshed().then_some(())).is_none() {
            let mut report = String::new();
            for &n in leaves {
                let leaf = self.leaf(n);
                report.push_str(&format!(
                    "{} routes {:?}\n{} log:\n{}\n",
                    leaf.name,
                    leaf.kernel_routes(),
                    leaf.name,
                    crate::peers::log_tail(&leaf.log, 25)
                ));
            }
            panic!(
                "{what}: leaves {leaves:?} not meshed within {secs} s\n{report}rr log:\n{}",
                crate::peers::log_tail(&self.rr.log, 40)
            );
        }
    }
}
