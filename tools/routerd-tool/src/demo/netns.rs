//! The `netns` flavour from start to end: keys, configs and blobs, namespaces, routers,
//! convergence, assertions, the RR kill and restart, evidence.
//!
//! Call order inside [`run`]: prepare (keygen, provision, inspect; assertion 1) → build
//! the topology → start clients' echo listeners, the RR, the leaves → wait for
//! convergence → observe (2-5), probe the matrix (6) → save status → kill the RR, watch
//! the leaves (fail-static) → restart the RR from the same blob and state → wait, observe,
//! probe again, compare stored enrollment → evidence check (7). Everything created is
//! owned by the [`Lab`] inside the returned [`Outcome`] and removed when it drops.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Progress;
use super::checks::{self, Assertion};
use super::evidence::RunDir;
use super::fabric::Fabric;
use super::lab::{Lab, LabError, run as run_cmd};
use super::matrix::{ECHO_PORT, Matrix};
use super::observe::Observer;
use super::phases::{Phases, evidence_saved, phases};
use super::plan::{self, Common, Placement, SITES, Secrets};
use super::topology;

/// Settings of one run.
pub(crate) struct Settings {
    /// The run directory.
    pub(crate) run_dir: PathBuf,
    /// Keep the topology and the secrets after the checks.
    pub(crate) keep: bool,
    /// The routerd binary, if given.
    pub(crate) routerd: Option<PathBuf>,
}

/// Why the demo could not run at all (as opposed to an assertion failing).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DemoError {
    /// Building or driving the topology failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// A router did not start or did not answer its API: the gate fails (exit 1) with
    /// this message (which includes the router's last log lines) as evidence.
    #[error("{0}")]
    RouterStart(String),
    /// A precondition is missing; the message says how to fix it.
    #[error("{0}")]
    Precondition(String),
}

/// Everything a run produced; dropping it removes the topology.
pub(crate) struct Outcome {
    /// Assertions in the order checked.
    pub(crate) assertions: Vec<Assertion>,
    /// Matrices by phase (`initial`, `rr down`, `after restart`).
    pub(crate) matrices: Vec<(String, Matrix)>,
    /// Observations that are reported but do not decide the result.
    pub(crate) notes: Vec<String>,
    /// The run directory.
    pub(crate) run: RunDir,
    /// The namespaces and processes (removed on drop).
    pub(crate) lab: Lab,
    /// Keep the secrets directory.
    pub(crate) keep: bool,
}

impl Outcome {
    /// True when every gating assertion holds.
    pub(crate) fn all_pass(&self) -> bool {
        !self.assertions.is_empty() && self.assertions.iter().all(Assertion::holds_or_reported)
    }

    /// With `--keep`: shows the namespaces and waits for Ctrl-C (which removes them).
    pub(crate) fn keep_running(&self, progress: &Progress) {
        progress.say(&format!(
            "kept: namespaces {}; routers' API tokens and configs in {}; press Ctrl-C to remove everything",
            self.lab.namespaces().join(" "),
            self.run.root.join("secret").display()
        ));
        self.lab.wait_for_interrupt();
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if !self.keep {
            self.run.remove_secrets();
        }
    }
}

/// Runs the netns flavour.
pub(crate) fn run(settings: &Settings, progress: &Progress) -> Result<Outcome, DemoError> {
    let tool = std::env::current_exe()
        .map_err(|e| DemoError::Precondition(format!("cannot find this program's path: {e}")))?;
    let routerd = settings
        .routerd
        .clone()
        .unwrap_or_else(|| tool.with_file_name("routerd"));
    preflight(&routerd)?;
    let run = RunDir::create(&settings.run_dir)?;
    progress.say(&format!("run directory {}", run.root.display()));
    let lab = Lab::new();
    let mut outcome = Outcome {
        assertions: Vec::new(),
        matrices: Vec::new(),
        notes: Vec::new(),
        run: run.clone(),
        lab,
        keep: settings.keep,
    };
    let secrets = Secrets::generate().map_err(|e| {
        DemoError::Precondition(format!("no randomness for the run's secrets: {e}"))
    })?;
    let state_flag = run_cmd(std::process::Command::new(&routerd).args(["run", "--help"]))
        .map(|help| help.contains("--state-dir"))
        .unwrap_or(false);
    let inspected = prepare(
        &run,
        &tool,
        &secrets,
        !state_flag,
        Placement::Namespace,
        progress,
    )?;
    outcome.assertions.push(checks::rr_blob_shape(&inspected));

    progress.say("building namespaces: underlay bridge, RR, NAT router, 4 leaves, 4 clients");
    let topo = topology::build(&outcome.lab)?;
    let token_file = run.secret("api.token");
    let mut fabric = Fabric {
        lab: &outcome.lab,
        run: &run,
        progress,
        topo,
        observer: Observer {
            lab: &outcome.lab,
            tool: tool.clone(),
            token_file,
        },
        routerd,
        state_flag,
        rr_pid: 0,
        leaf_pids: Vec::new(),
    };
    start_echo_listeners(&outcome.lab, &run, &tool, &fabric.topo.clients)?;
    let result = start_all(&mut fabric).and_then(|()| phases(&mut fabric));
    outcome.record(result)?;
    outcome
        .assertions
        .push(evidence_saved(&run, &secrets, &outcome.assertions, "netns"));
    Ok(outcome)
}

impl Outcome {
    /// Takes the phases' result: assertions, matrices and notes, or a router that did not
    /// start as the failed assertion `S`; other errors end the run.
    pub(crate) fn record(&mut self, result: Result<Phases, DemoError>) -> Result<(), DemoError> {
        match result {
            Ok((assertions, matrix, notes, phases)) => {
                self.assertions.extend(assertions);
                self.matrices = phases.into_iter().zip(matrix).collect();
                self.notes = notes;
            }
            Err(DemoError::RouterStart(why)) => self.assertions.push(Assertion::new(
                "S",
                "every router starts from its signed blob and answers its API",
                false,
                vec![why],
            )),
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Starts the TCP echo listener in every client namespace (`clients` in [`SITES`] order).
pub(crate) fn start_echo_listeners(
    lab: &Lab,
    run: &RunDir,
    tool: &Path,
    clients: &[String],
) -> Result<(), DemoError> {
    for (site, ns) in SITES.iter().zip(clients) {
        let listen = format!("{}:{ECHO_PORT}", site.client());
        let log = run.log(&format!("echo-{}", site.name));
        lab.spawn(ns, tool, &["demo", "internal", "echo-serve", &listen], &log)?;
    }
    Ok(())
}

/// Starts the RR, then the leaves.
fn start_all(f: &mut Fabric<'_>) -> Result<(), DemoError> {
    f.rr_pid = f.start("rr", &f.topo.rr.clone())?;
    for (site, ns) in SITES.iter().zip(f.topo.leaves.clone()) {
        let pid = f.start(&site.leaf_node(), &ns)?;
        f.leaf_pids.push(pid);
    }
    Ok(())
}

/// Checks root and the programs the flavour needs.
pub(crate) fn preflight(routerd: &Path) -> Result<(), DemoError> {
    let uid = run_cmd(std::process::Command::new("id").arg("-u")).unwrap_or_default();
    if uid.trim() != "0" {
        return Err(DemoError::Precondition(
            "the netns flavour needs root (it creates network namespaces); run it as root".into(),
        ));
    }
    if !routerd.is_file() {
        return Err(DemoError::Precondition(format!(
            "routerd not found at {}; build it (cargo build --bin routerd) or pass --routerd PATH",
            routerd.display()
        )));
    }
    for (program, probe) in [("ip", "-V"), ("nft", "--version"), ("ping", "-V")] {
        if run_cmd(std::process::Command::new(program).arg(probe)).is_err() {
            return Err(DemoError::Precondition(format!(
                "`{program}` is missing; install it (tools/setup.sh installs everything the demo needs)"
            )));
        }
    }
    Ok(())
}

/// Keygen, configs, provision and inspect; returns the RR blob's `inspect --json`.
/// `state_dir_in_config`: write each router's state directory into its config (a routerd
/// without `--state-dir`).
pub(crate) fn prepare(
    run: &RunDir,
    tool: &Path,
    secrets: &Secrets,
    state_dir_in_config: bool,
    placement: Placement,
    progress: &Progress,
) -> Result<Value, DemoError> {
    let keys = run.root.join("keys");
    let mut keygen = std::process::Command::new(tool);
    keygen.args(["keygen", "--force", "--out"]).arg(&keys);
    run_cmd(&mut keygen)?;
    let owner_pub = std::fs::read_to_string(run.key("owner.pub"))
        .map_err(|e| DemoError::Precondition(format!("keygen wrote no owner.pub: {e}")))?;
    run.write_secret(&run.secret("api.token"), &secrets.api_token)?;
    let mut nodes = vec![("rr".to_string(), None)];
    nodes.extend(
        SITES
            .iter()
            .enumerate()
            .map(|(i, s)| (s.leaf_node(), Some((i, *s)))),
    );
    let mut rr_inspect = Value::Null;
    for (node, site) in nodes {
        let state = run.state(&node)?;
        let common = Common {
            owner_pub: owner_pub.trim(),
            secrets,
            state_dir_in_config: state_dir_in_config.then_some(state.as_path()),
            board: "pve-x86_64",
            placement,
        };
        let text = match site {
            None => plan::rr_toml(&common),
            Some((i, s)) => plan::leaf_toml(&common, &s, i + 1),
        };
        let toml = run.secret(&format!("{node}.toml"));
        let blob = run.secret(&format!("{node}.blob"));
        run.write_secret(&toml, &text)?;
        let mut provision = std::process::Command::new(tool);
        provision
            .args(["provision", "--config"])
            .arg(&toml)
            .arg("--key")
            .arg(run.key("owner.key"))
            .arg("--out")
            .arg(&blob);
        run_cmd(&mut provision)?;
        let mut inspect = std::process::Command::new(tool);
        inspect
            .arg("inspect")
            .arg(&blob)
            .arg("--trust")
            .arg(run.key("owner.pub"))
            .arg("--json");
        let out = run_cmd(&mut inspect)?;
        let doc: Value = serde_json::from_str(&out)
            .map_err(|e| DemoError::Precondition(format!("inspect --json of {node}: {e}")))?;
        run.write_json(&run.node_file(&node, "config.json")?, &doc)?;
        if node == "rr" {
            rr_inspect = doc;
        }
    }
    progress.say("owner key made; 5 configs validated, signed and inspected (secrets redacted)");
    Ok(rr_inspect)
}
