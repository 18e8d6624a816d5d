//! routerd itself as a leaf or an RR, from a generated TOML development config.
//!
//! What it learned is read where it matters: the kernel routing table of its namespace
//! (`ip route show table N proto bgp`) and its status API through
//! `routerd-tool peers --json`, run inside the namespace because the API listens on the
//! namespace's loopback.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::{BgpDaemon, Role, SeenRoute, Spec, write_config};
use crate::netns::{Netns, Proc};

use crate::DEV_TRUSTED_KEY;
/// Where the status API listens inside the namespace.
const API: &str = "127.0.0.1:7179";

/// A routerd process in a namespace.
#[derive(Debug)]
pub struct Routerd {
    proc: Proc,
    ns: String,
    table: u32,
    tool: PathBuf,
    /// Its log file.
    pub log: PathBuf,
}

impl Routerd {
    /// Writes the config for `spec` (routes into kernel table `table`) into `dir` and
    /// starts `routerd run` in `ns`. Builds routerd and routerd-tool first if needed.
    pub fn start(ns: &Netns, dir: PathBuf, spec: &Spec, table: u32) -> Routerd {
        let (binary, tool) = binaries();
        let conf = dir.join("routerd.toml");
        write_config(&conf, &config(spec, table));
        let log = dir.join("routerd.log");
        let conf_s = conf.to_string_lossy().to_string();
        let bin_s = binary.to_string_lossy().to_string();
        let proc = ns.spawn(
            "env",
            &[
                "RUST_LOG=info,routerd=debug",
                &bin_s,
                "run",
                "--config",
                &conf_s,
                "--api",
                API,
            ],
            &log,
        );
        Routerd {
            proc,
            ns: ns.name().to_string(),
            table,
            tool,
            log,
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// Sends SIGTERM and waits up to `secs` for a clean exit; the exit status is
    /// reported by [`Proc::stop`] semantics (killed after the deadline).
    pub fn stop(&mut self, secs: u64) {
        self.proc.stop(secs);
    }

    /// Routes with protocol `bgp` in its kernel table, as `prefix -> gateway`.
    pub fn kernel_routes(&self) -> Vec<(String, String)> {
        crate::netns::kernel_bgp_routes(&self.ns, self.table)
    }

    /// `routerd-tool peers --json` run in the namespace; `None` when it failed.
    pub fn peers(&self) -> Option<Value> {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(&self.tool)
            .args(["peers", "--router", &format!("http://{API}"), "--json"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// `routerd-tool peers` (the human table) run in the namespace, with its exit code.
    pub fn peers_table(&self) -> (i32, String) {
        self.tool(&["peers", "--router", &format!("http://{API}")])
    }

    /// Runs `routerd-tool ARGS` in the namespace; returns its exit code and stdout.
    pub fn tool(&self, args: &[&str]) -> (i32, String) {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(&self.tool)
            .args(args)
            .output()
            .expect("run routerd-tool");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
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

fn config(spec: &Spec, table: u32) -> String {
    let Spec { addr, asn, role } = spec;
    let node = |mode: &str| {
        format!(
            "trusted_keys = [\"{DEV_TRUSTED_KEY}\"]\n\n[node]\nname = \"{mode}-{}\"\nmode = \"{mode}\"\n\
             router_id = \"{addr}\"\nasn = {asn}\nboard = \"dev\"\n\n",
            addr.octets()[3]
        )
    };
    match role {
        Role::Rr { range } => format!(
            "{}[bgp]\nlisten_addresses = [\"{addr}\"]\nkernel_table = {table}\n\n\
             [[bgp.dynamic]]\nprefix = \"{range}\"\nmax_peers = 64\n\
             template = {{ remote_as = {asn}, rr_client = true }}\n",
            node("rr")
        ),
        Role::Leaf { rr, announce } => {
            let owned: Vec<String> = announce.iter().map(|p| format!("\"{p}\"")).collect();
            format!(
                "{}[bgp]\nkernel_table = {table}\nnetworks = [{}]\n\n\
                 [[bgp.peers]]\naddress = \"{rr}\"\nremote_as = {asn}\n",
                node("leaf"),
                owned.join(", ")
            )
        }
    }
}

impl BgpDaemon for Routerd {
    fn kind(&self) -> &'static str {
        "routerd"
    }

    /// Routes installed in the kernel (ORIGINATOR_ID and CLUSTER_LIST are not visible
    /// there).
    fn routes(&self) -> Vec<SeenRoute> {
        self.kernel_routes()
            .into_iter()
            .map(|(prefix, gw)| SeenRoute {
                prefix,
                next_hop: (!gw.is_empty()).then_some(gw),
                originator_id: None,
                cluster_list: Vec::new(),
            })
            .collect()
    }

    fn established(&self) -> usize {
        self.peers()
            .and_then(|p| {
                p["peers"]
                    .as_array()
                    .map(|a| a.iter().filter(|x| x["state"] == "Established").count())
            })
            .unwrap_or(0)
    }
}
