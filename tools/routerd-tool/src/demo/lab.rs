//! The demo's network namespaces and processes, and their removal.
//!
//! Contract: everything the demo creates goes through a [`Lab`]: namespaces
//! ([`Lab::netns`]), links inside them, and long-running processes ([`Lab::spawn`]). The
//! lab removes all of it exactly once: when it is dropped, or when SIGINT/SIGTERM arrives
//! (a watcher thread started by [`Lab::new`] cleans up and exits with status 130).
//! Processes are killed by PID (SIGKILL), then every PID still inside a namespace of ours
//! (`ip netns pids`) is killed by PID before the namespace is deleted. Names carry the
//! demo's process id, so two runs never collide and nothing outside is touched.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Why a step of building or driving the topology failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LabError {
    /// A command the demo runs failed; everything created so far is removed on exit.
    #[error("`{command}` failed: {detail}; the demo stops and removes what it created")]
    Command {
        /// The command line.
        command: String,
        /// Its error output, or why it could not start.
        detail: String,
    },
    /// A file of the run directory could not be written or read.
    #[error("{path}: {source}; check the run directory")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What the lab owns and must remove.
#[derive(Debug, Default)]
struct Owned {
    namespaces: Vec<String>,
    processes: Vec<Child>,
    /// Set by [`Owned::remove_all`]: nothing new may be created afterwards.
    closed: bool,
}

impl Owned {
    /// Kills every process by PID, then deletes every namespace. Idempotent.
    fn remove_all(&mut self) {
        self.closed = true;
        for mut child in self.processes.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.namespaces.drain(..).rev() {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// Set by the cleanup watcher when SIGINT or SIGTERM arrived: steps that fail because
/// the watcher is removing the lab are not errors of the run, and the exit status is 130.
pub(crate) static INTERRUPTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Blocks the calling thread for good when the run was interrupted, so the watcher
/// thread finishes its cleanup and exits with status 130.
pub(crate) fn yield_to_interrupt() {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// The namespaces and processes of one demo run.
#[derive(Debug)]
pub(crate) struct Lab {
    tag: String,
    owned: Arc<Mutex<Owned>>,
}

fn lock(owned: &Mutex<Owned>) -> MutexGuard<'_, Owned> {
    owned.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lab {
    /// An empty lab whose names start with `rd<pid>`; installs the Ctrl-C/SIGTERM cleanup.
    pub(crate) fn new() -> Lab {
        let tag = format!("rd{}", std::process::id());
        let owned = Arc::new(Mutex::new(Owned::default()));
        let watched = Arc::clone(&owned);
        std::thread::spawn(move || {
            if wait_for_signal() {
                INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
                eprintln!("interrupted: removing the demo's namespaces and processes");
                lock(&watched).remove_all();
                std::process::exit(130);
            }
        });
        Lab { tag, owned }
    }

    /// The full name of the namespace called `short` in this run.
    pub(crate) fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.tag)
    }

    /// Creates the namespace `short` (loopback up) and returns its full name.
    pub(crate) fn netns(&self, short: &str) -> Result<String, LabError> {
        let name = self.name(short);
        {
            // Created and registered under the lock, so a concurrent cleanup sees it.
            let mut owned = lock(&self.owned);
            if owned.closed {
                return Err(closed());
            }
            run(Command::new("ip").args(["netns", "add", &name]))?;
            owned.namespaces.push(name.clone());
        }
        self.ip(&name, &["link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Runs `ip -n NS ARGS`.
    pub(crate) fn ip(&self, ns: &str, args: &[&str]) -> Result<String, LabError> {
        run(Command::new("ip").args(["-n", ns]).args(args))
    }

    /// Runs a program inside `ns`; fails when it exits non-zero.
    pub(crate) fn exec(&self, ns: &str, program: &str, args: &[&str]) -> Result<String, LabError> {
        run(Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args))
    }

    /// Runs a program inside `ns` and returns its output whatever its status.
    pub(crate) fn probe(&self, ns: &str, program: &Path, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| Output {
                status: failed_status(),
                stdout: Vec::new(),
                stderr: e.to_string().into_bytes(),
            })
    }

    /// A veth pair: `a_if` in namespace `a`, `b_if` in namespace `b`, both up.
    pub(crate) fn veth(&self, a: &str, a_if: &str, b: &str, b_if: &str) -> Result<(), LabError> {
        run(Command::new("ip").args([
            "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b,
        ]))?;
        self.ip(a, &["link", "set", a_if, "up"])?;
        self.ip(b, &["link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Adds `cidr` to `dev` in `ns`.
    pub(crate) fn addr(&self, ns: &str, dev: &str, cidr: &str) -> Result<(), LabError> {
        self.ip(ns, &["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// Sets IPv4 sysctls in `ns` (`key=value` pairs).
    pub(crate) fn sysctl(&self, ns: &str, settings: &[&str]) -> Result<(), LabError> {
        let mut args = vec!["-qw"];
        args.extend_from_slice(settings);
        self.exec(ns, "sysctl", &args).map(drop)
    }

    /// Starts `program ARGS` inside `ns`, output to `log`; returns its PID.
    pub(crate) fn spawn(
        &self,
        ns: &str,
        program: &Path,
        args: &[&str],
        log: &Path,
    ) -> Result<u32, LabError> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program).args(args).env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or("info".into()),
        );
        self.spawn_command(cmd, log)
    }

    /// Starts `cmd` (which enters its namespace itself, e.g. `ip netns exec NS ...`, so
    /// that its PID is the program's), output to `log`; returns its PID. The lab owns the
    /// process from here on.
    pub(crate) fn spawn_command(&self, mut cmd: Command, log: &Path) -> Result<u32, LabError> {
        let io = |source| LabError::Io {
            path: log.display().to_string(),
            source,
        };
        let file = std::fs::File::create(log).map_err(io)?;
        let err = file.try_clone().map_err(io)?;
        let mut owned = lock(&self.owned);
        if owned.closed {
            return Err(closed());
        }
        let line = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .take(5)
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| LabError::Command {
                command: line,
                detail: e.to_string(),
            })?;
        let pid = child.id();
        owned.processes.push(child);
        Ok(pid)
    }

    /// Kills the process `pid` (one of ours) with SIGKILL and reaps it.
    pub(crate) fn kill(&self, pid: u32) {
        let mut owned = lock(&self.owned);
        if let Some(i) = owned.processes.iter().position(|c| c.id() == pid) {
            let mut child = owned.processes.swap_remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the process `pid` (one of ours) runs.
    pub(crate) fn running(&self, pid: u32) -> bool {
        let mut owned = lock(&self.owned);
        owned
            .processes
            .iter_mut()
            .find(|c| c.id() == pid)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Every namespace created so far (full names).
    pub(crate) fn namespaces(&self) -> Vec<String> {
        lock(&self.owned).namespaces.clone()
    }

    /// Blocks until SIGINT or SIGTERM (the watcher thread then removes everything).
    pub(crate) fn wait_for_interrupt(&self) {
        loop {
            std::thread::park();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        lock(&self.owned).remove_all();
    }
}

/// Waits for SIGINT or SIGTERM; false when signals cannot be watched.
fn wait_for_signal() -> bool {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return false;
    };
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return false;
        };
        tokio::select! {
            _ = int.recv() => true,
            _ = term.recv() => true,
        }
    })
}

/// Runs a command; its stdout on success, a [`LabError::Command`] otherwise.
pub(crate) fn run(cmd: &mut Command) -> Result<String, LabError> {
    let line = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: line.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: line,
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn closed() -> LabError {
    LabError::Command {
        command: "create".into(),
        detail: "the demo is being removed (interrupted)".into(),
    }
}

fn failed_status() -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(1 << 8)
}
