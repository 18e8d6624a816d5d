//! The running routers of the netns flavour: starting them from their blobs, observing
//! the fabric and saving what was observed; [`Routers`] for the phases.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Progress;
use super::evidence::RunDir;
use super::lab::Lab;
use super::netns::DemoError;
use super::observe::{Observation, Observer};
use super::persisted::EnrollmentState;
use super::phases::{FabricParts, Routers};
use super::plan::{self, HOLD_TIME_SECS, SITES};
use super::topology::Topology;

/// How long the fabric may take to converge after (re)starts.
const CONVERGE_SECS: u64 = 90;
/// How long a router's API may take to answer after its start.
const API_UP_SECS: u64 = 20;

/// Routers' processes and how to start them.
pub(crate) struct Fabric<'a> {
    /// The namespaces and processes.
    pub(crate) lab: &'a Lab,
    /// The run directory.
    pub(crate) run: &'a RunDir,
    /// Progress output.
    pub(crate) progress: &'a Progress,
    /// Namespace names.
    pub(crate) topo: Topology,
    /// Reads API documents and kernel state.
    pub(crate) observer: Observer<'a>,
    /// The routerd binary.
    pub(crate) routerd: PathBuf,
    /// routerd takes `--state-dir` (else the configs name their state directory).
    pub(crate) state_flag: bool,
    /// The RR's process id.
    pub(crate) rr_pid: u32,
    /// The leaves' process ids, in `SITES` order.
    pub(crate) leaf_pids: Vec<u32>,
}

impl Fabric<'_> {
    /// Starts routerd for `node` in `ns` from its blob and state directory; waits for its API.
    pub(crate) fn start(&self, node: &str, ns: &str) -> Result<u32, DemoError> {
        let blob = self
            .run
            .secret(&format!("{node}.blob"))
            .display()
            .to_string();
        let trust = self.run.key("owner.pub").display().to_string();
        let state = self.run.state(node)?.display().to_string();
        let mut args = vec!["run", "--config-blob", &blob, "--trust", &trust];
        if self.state_flag {
            args.extend(["--state-dir", &state]);
        }
        // Appending keeps the log of an earlier start of the same node.
        let log = self.run.log(node);
        let previous = std::fs::read(&log).unwrap_or_default();
        let pid = self.lab.spawn(ns, &self.routerd, &args, &log)?;
        if !previous.is_empty() {
            let _ = std::fs::write(log.with_extension("log.1"), previous);
        }
        let deadline = Instant::now() + Duration::from_secs(API_UP_SECS);
        loop {
            if !self.lab.running(pid) {
                return Err(DemoError::RouterStart(format!(
                    "routerd of {node} exited at start; last log lines:\n{}",
                    self.run.log_tail(node, 15)
                )));
            }
            if self.observer.fetch(ns, "/v1/status").is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(DemoError::RouterStart(format!(
                    "routerd of {node} does not answer its API on {} after {API_UP_SECS}s; last log lines:\n{}",
                    plan::API_ADDR,
                    self.run.log_tail(node, 15)
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.progress
            .say(&format!("{node}: routerd started (pid {pid}), API answers"));
        Ok(pid)
    }

    /// Everything observable now.
    pub(crate) fn observe(&self) -> Observation {
        Observation {
            rr: self.observer.node("rr", &self.topo.rr),
            rr_kernel: self.observer.rr_kernel(&self.topo.rr),
            leaves: SITES
                .iter()
                .zip(&self.topo.leaves)
                .map(|(s, ns)| self.observer.node(&s.leaf_node(), ns))
                .collect(),
            kernel: SITES
                .iter()
                .zip(&self.topo.leaves)
                .map(|(s, ns)| self.observer.kernel(*s, ns))
                .collect(),
            kernels_read_directly: true,
        }
    }

    /// The RR's and the leaves' state directories.
    pub(crate) fn state_dirs(&self) -> Result<(PathBuf, Vec<(String, PathBuf)>), DemoError> {
        let leaves = SITES
            .iter()
            .map(|s| Ok((s.leaf_node(), self.run.state(&s.leaf_node())?)))
            .collect::<Result<Vec<_>, DemoError>>()?;
        Ok((self.run.state("rr")?, leaves))
    }
}

/// Saves every node's documents of `obs` as `nodes/<node>/<file>` (both flavours).
pub(crate) fn save_observation(
    run: &RunDir,
    obs: &Observation,
    file: &str,
) -> Result<(), DemoError> {
    let kernel_key = if obs.kernels_read_directly {
        "kernel"
    } else {
        "kernel (from /v1/kernel)"
    };
    let rr = json!({ "api": obs.rr.to_json(), kernel_key: obs.rr_kernel.to_json() });
    run.write_json(&run.node_file("rr", file)?, &rr)?;
    for (docs, kernel) in obs.leaves.iter().zip(&obs.kernel) {
        let v = json!({ "api": docs.to_json(), kernel_key: kernel.to_json() });
        run.write_json(&run.node_file(&docs.node, file)?, &v)?;
    }
    Ok(())
}

impl Routers for Fabric<'_> {
    fn parts(&self) -> FabricParts<'_> {
        FabricParts {
            lab: self.lab,
            run: self.run,
            progress: self.progress,
            tool: &self.observer.tool,
            clients: &self.topo.clients,
            processes: std::iter::once(("rr", self.rr_pid))
                .chain(self.leaf_pids.iter().zip(SITES).map(|(p, s)| (s.name, *p)))
                .collect(),
        }
    }

    fn observe(&self) -> Observation {
        Fabric::observe(self)
    }

    fn converge_secs(&self) -> u64 {
        CONVERGE_SECS
    }

    fn enrollment(&self) -> Result<EnrollmentState, DemoError> {
        let (rr_dir, leaf_dirs) = self.state_dirs()?;
        Ok(EnrollmentState::read(&rr_dir, &leaf_dirs))
    }

    fn kill_rr(&mut self) {
        self.progress
            .say(&format!("killing the RR (SIGKILL, pid {})", self.rr_pid));
        self.lab.kill(self.rr_pid);
    }

    fn restart_rr(&mut self) -> Result<(), DemoError> {
        self.rr_pid = self.start("rr", &self.topo.rr.clone())?;
        Ok(())
    }

    fn hold_time_secs(&self) -> u64 {
        HOLD_TIME_SECS
    }

    fn outage_explanation(&self) -> &'static str {
        "on the userspace datapath the RR process is the hub's datapath, so no traffic between sites can flow while it is down"
    }
}
