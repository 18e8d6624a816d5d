//! Network namespaces, a bridge between them, and processes inside them, all removed
//! on drop and on Ctrl-C.
//!
//! Names are `bb<role><pid%100000>n<k>`, unique per benchmark process. Every namespace
//! and process registers itself in a process-wide list while it lives; [`cleanup_all`]
//! (called by the signal handler) kills the registered PIDs and deletes the registered
//! namespaces, so an interrupted run leaves nothing behind. Processes are only ever
//! killed by PID: the ones the benchmark started, and the ones still inside a namespace
//! it created (`ip netns pids`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::BenchError;

static COUNTER: AtomicU32 = AtomicU32::new(0);
static LIVE: Mutex<Live> = Mutex::new(Live {
    namespaces: Vec::new(),
    pids: Vec::new(),
    dirs: Vec::new(),
});

struct Live {
    namespaces: Vec<String>,
    pids: Vec<u32>,
    dirs: Vec<PathBuf>,
}

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn delete_namespace(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse() {
                kill(pid);
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", name])
        .stderr(Stdio::null())
        .status();
}

/// Kills every registered process, deletes every registered namespace and removes
/// every registered directory.
pub fn cleanup_all() {
    let (pids, namespaces, dirs) = {
        let mut l = live();
        (
            std::mem::take(&mut l.pids),
            std::mem::take(&mut l.namespaces),
            std::mem::take(&mut l.dirs),
        )
    };
    for pid in pids {
        kill(pid);
    }
    for ns in namespaces {
        delete_namespace(&ns);
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Creates `dir` outside the work directory (e.g. a daemon's run directory) and
/// registers it for removal by [`remove_dir`] or [`cleanup_all`].
pub fn create_dir(dir: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    live().dirs.push(dir.to_path_buf());
    Ok(())
}

/// Removes a directory made by [`create_dir`].
pub fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    live().dirs.retain(|d| d != dir);
}

/// Runs a command to completion; its stdout on success, a [`BenchError::Command`]
/// with its output otherwise.
pub fn run(cmd: &mut Command) -> Result<String, BenchError> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BenchError::Command {
            command: line.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(BenchError::Command {
            command: line,
            detail: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A network namespace with `lo` up; deleted (after killing what runs inside) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named uniquely from `tag`.
    pub fn new(tag: &str) -> Result<Netns, BenchError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("bb{tag}{}n{n}", std::process::id() % 100_000);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        live().namespaces.push(name.clone());
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it, so
    /// the child's PID is the program's own).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<String, BenchError> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs many `ip` commands (one per line, without the leading `ip`) in one process.
    pub fn ip_batch(&self, lines: &str, dir: &Path) -> Result<(), BenchError> {
        let file = dir.join(format!("{}.ipbatch", self.name));
        std::fs::write(&file, lines).map_err(BenchError::io("write ip batch file"))?;
        let path = file.to_string_lossy().into_owned();
        run(Command::new("ip").args(["-n", &self.name, "-batch", &path]))?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_namespace(&self.name);
        live().namespaces.retain(|n| n != &self.name);
    }
}

/// A started process, killed by PID on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    /// Starts `cmd`; stdout and stderr go to `log` unless the command set them already.
    pub fn spawn_logged(mut cmd: Command, what: &str, log: &Path) -> Result<Proc, BenchError> {
        let file = std::fs::File::create(log).map_err(BenchError::io("create log file"))?;
        let err = file
            .try_clone()
            .map_err(BenchError::io("create log file"))?;
        cmd.stdin(Stdio::null()).stdout(file).stderr(err);
        Proc::spawn(cmd, what)
    }

    /// Starts `cmd` as configured by the caller.
    pub fn spawn(mut cmd: Command, what: &str) -> Result<Proc, BenchError> {
        let child = cmd.spawn().map_err(|e| BenchError::Command {
            command: format!("{cmd:?}").replace('"', ""),
            detail: e.to_string(),
        })?;
        live().pids.push(child.id());
        Ok(Proc {
            child,
            what: what.to_string(),
        })
    }

    /// The process id (the daemon's own: `ip netns exec` execs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child, for its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// What this process is, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits up to `grace` before SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let pid = self.child.id();
        live().pids.retain(|p| *p != pid);
    }
}

/// A switch namespace with bridge `br0`, and the namespaces plugged into it.
/// Drop order: nodes first, then the switch.
#[derive(Debug)]
pub struct Fabric {
    nodes: Vec<Netns>,
    switch: Netns,
}

impl Fabric {
    /// Creates the switch and its bridge (STP off).
    pub fn new() -> Result<Fabric, BenchError> {
        let switch = Netns::new("sw")?;
        switch.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        switch.ip(&["link", "set", "br0", "up"])?;
        Ok(Fabric {
            nodes: Vec::new(),
            switch,
        })
    }

    /// Creates a namespace `tag` plugged into the bridge through its `eth0` with `cidr`;
    /// returns its index for [`Fabric::node`].
    pub fn attach(&mut self, tag: &str, cidr: &str) -> Result<usize, BenchError> {
        let ns = Netns::new(tag)?;
        let port = format!("p{}", self.nodes.len() + 1);
        run(Command::new("ip").args([
            "link",
            "add",
            "eth0",
            "netns",
            ns.name(),
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            self.switch.name(),
        ]))?;
        self.switch.ip(&["link", "set", &port, "master", "br0"])?;
        self.switch.ip(&["link", "set", &port, "up"])?;
        ns.ip(&["addr", "add", cidr, "dev", "eth0"])?;
        ns.ip(&["link", "set", "eth0", "up"])?;
        self.nodes.push(ns);
        Ok(self.nodes.len() - 1)
    }

    /// The namespace at `index`.
    pub fn node(&self, index: usize) -> &Netns {
        &self.nodes[index]
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        while let Some(ns) = self.nodes.pop() {
            drop(ns);
        }
    }
}

/// A scratch directory for configs and logs, kept after the run for inspection.
pub fn work_dir(base: &Path, label: &str) -> Result<std::path::PathBuf, BenchError> {
    let dir = base.join(label);
    std::fs::create_dir_all(&dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    Ok(dir)
}
