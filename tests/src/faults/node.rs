//! routerd in a namespace from a development config written here, with the hold time
//! chosen by the test (the shared fixture keeps the 90 s default).
//!
//! Learned routes are read from the kernel table (`proto bgp`), sessions from
//! `routerd-tool peers --json` run inside the namespace (the status API listens on the
//! namespace's loopback).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::DEV_TRUSTED_KEY;
use crate::netns::{Netns, Proc};

/// Where the status API listens inside the namespace.
pub const API: &str = "127.0.0.1:7179";
/// Kernel table learned routes go to.
pub const TABLE: u32 = 100;
/// The join token every config here carries.
const TOKEN: &str = "faults-test-token-000001";

/// A static peer of the RR under test.
#[derive(Debug, Clone)]
pub struct StaticPeer {
    /// Its address (outside the dynamic range and the SAM tunnel prefix).
    pub address: Ipv4Addr,
    /// Only accept its connection, never connect.
    pub passive: bool,
}

/// The TOML development config of a route reflector at `addr` in AS `asn` with hold
/// time `hold`, state in `state_dir`, and these static peers. Its dynamic range and SAM
/// tunnel prefix (`tunnel_prefix`) hold none of them, so SAM admission never applies to
/// the sessions under test: what the tests see is the BGP speaker and the FIB.
pub fn rr_config(
    addr: Ipv4Addr,
    asn: u32,
    hold: u16,
    state_dir: &Path,
    tunnel_prefix: &str,
    peers: &[StaticPeer],
) -> String {
    let tunnel_address = tunnel_prefix
        .split('/')
        .next()
        .and_then(|a| a.parse::<Ipv4Addr>().ok())
        .map(|a| Ipv4Addr::from(u32::from(a) + 1))
        .expect("tunnel prefix is an IPv4 prefix");
    let statics: String = peers
        .iter()
        .map(|p| {
            format!(
                "[[bgp.peers]]\naddress = \"{}\"\nremote_as = {asn}\nrr_client = true\npassive = {}\n\n",
                p.address, p.passive
            )
        })
        .collect();
    format!(
        "trusted_keys = [\"{DEV_TRUSTED_KEY}\"]\nstate_dir = \"{}\"\n\n[node]\nname = \"rr-{}\"\n\
         mode = \"rr\"\nrouter_id = \"{addr}\"\nasn = {asn}\nboard = \"dev\"\n\n\
         [bgp]\nlisten_addresses = [\"{addr}\"]\nkernel_table = {TABLE}\nhold_time = {hold}\n\n\
         {statics}[[bgp.dynamic]]\nprefix = \"{tunnel_prefix}\"\nmax_peers = 64\n\
         template = {{ remote_as = {asn}, rr_client = true }}\n\n\
         [sam.rr]\nlisten_address = \"{addr}\"\ntunnel_address = \"{tunnel_address}\"\n\n\
         [[sam.rr.policies]]\nname = \"default\"\ntunnel_prefix = \"{tunnel_prefix}\"\n\
         client_prefixes = [\"198.18.0.0/15\"]\njoin_tokens = [\"{TOKEN}\"]\n\
         claim_ttl_secs = 3600\nmax_leaves = 64\n",
        state_dir.display(),
        addr.octets()[3]
    )
}

/// A running routerd.
#[derive(Debug)]
pub struct Node {
    proc: Option<Proc>,
    ns: String,
    conf: PathBuf,
    /// Its log file (appended to across restarts).
    pub log: PathBuf,
}

impl Node {
    /// Writes `config` into `dir` and starts routerd in `ns`.
    pub fn start(ns: &Netns, dir: &Path, config: &str) -> Node {
        let conf = dir.join("routerd.toml");
        std::fs::write(&conf, config).expect("write routerd config");
        let mut node = Node {
            proc: None,
            ns: ns.name().to_string(),
            conf,
            log: dir.join("routerd.log"),
        };
        node.restart(ns);
        node
    }

    /// Starts routerd again (after [`Node::kill`] or [`Node::stop`]); the log continues.
    pub fn restart(&mut self, ns: &Netns) {
        let (binary, _) = binaries();
        let run = format!(
            "exec env RUST_LOG=info,routerd=debug {} run --config {} --api {API} >> {} 2>&1",
            binary.display(),
            self.conf.display(),
            self.log.display()
        );
        let sink = self.log.with_extension("spawn");
        self.proc = Some(ns.spawn("sh", &["-c", &run], &sink));
    }

    /// SIGKILL: no NOTIFICATION, the kernel closes its sockets.
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// SIGTERM with up to `secs` for a clean exit.
    pub fn stop(&mut self, secs: u64) {
        if let Some(mut p) = self.proc.take() {
            p.stop(secs);
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(Proc::running)
    }

    /// Routes with protocol `bgp` in its kernel table, as sorted `(prefix, gateway)`.
    pub fn kernel_routes(&self) -> Vec<(String, String)> {
        crate::netns::kernel_bgp_routes(&self.ns, TABLE)
    }

    /// `routerd-tool peers --json` in the namespace; `None` when the API did not answer.
    pub fn peers(&self) -> Option<Value> {
        let (_, tool) = binaries();
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(tool)
            .args(["peers", "--router", &format!("http://{API}"), "--json"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Addresses of the peers in Established, sorted.
    pub fn established(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .peers()
            .and_then(|p| {
                p["peers"].as_array().map(|a| {
                    a.iter()
                        .filter(|x| x["state"] == "Established")
                        .filter_map(|x| x["address"].as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// routerd and routerd-tool, built once per test process.
fn binaries() -> (PathBuf, PathBuf) {
    static BINARIES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINARIES
        .get_or_init(|| {
            (
                crate::workspace_binary("routerd"),
                crate::workspace_binary("routerd-tool"),
            )
        })
        .clone()
}
