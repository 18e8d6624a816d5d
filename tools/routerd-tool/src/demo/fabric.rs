//! The running routers of the netns flavour: starting them from their blobs, observing
//! the fabric, waiting for convergence and saving what was observed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Progress;
use super::checks;
use super::evidence::RunDir;
use super::lab::Lab;
use super::netns::DemoError;
use super::observe::{Observation, Observer};
use super::plan::{self, SITES};
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
        }
    }

    /// Polls until assertions 2-5 hold or the time is up; returns the last observation.
    pub(crate) fn converge(&self, phase: &str) -> Observation {
        let start = Instant::now();
        let mut last_failing = String::new();
        loop {
            let obs = self.observe();
            let failing: Vec<String> = checks::fabric(&obs)
                .iter()
                .filter(|a| !a.pass)
                .map(|a| a.id.clone())
                .collect();
            if failing.is_empty() {
                self.progress.say(&format!(
                    "{phase}: converged after {:.1}s (assertions 2-5 hold)",
                    start.elapsed().as_secs_f64()
                ));
                return obs;
            }
            let crashed: Vec<&str> = std::iter::once(("rr", self.rr_pid))
                .chain(self.leaf_pids.iter().zip(SITES).map(|(p, s)| (s.name, *p)))
                .filter(|(_, pid)| !self.lab.running(*pid))
                .map(|(n, _)| n)
                .collect();
            let summary = format!("still failing: {}", failing.join(", "));
            if summary != last_failing {
                self.progress.say(&format!("{phase}: waiting, {summary}"));
                last_failing = summary;
            }
            if !crashed.is_empty() || start.elapsed() > Duration::from_secs(CONVERGE_SECS) {
                self.progress.say(&format!(
                    "{phase}: not converged after {:.0}s{}",
                    start.elapsed().as_secs_f64(),
                    if crashed.is_empty() {
                        String::new()
                    } else {
                        format!("; routerd exited on {}", crashed.join(", "))
                    }
                ));
                return obs;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Saves every node's documents as `nodes/<node>/<file>`.
    pub(crate) fn save(&self, obs: &Observation, file: &str) -> Result<(), DemoError> {
        let rr = json!({ "api": obs.rr.to_json(), "kernel": obs.rr_kernel.to_json() });
        self.run.write_json(&self.run.node_file("rr", file)?, &rr)?;
        for (docs, kernel) in obs.leaves.iter().zip(&obs.kernel) {
            let v = json!({ "api": docs.to_json(), "kernel": kernel.to_json() });
            self.run
                .write_json(&self.run.node_file(&docs.node, file)?, &v)?;
        }
        Ok(())
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
