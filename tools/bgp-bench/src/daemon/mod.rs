//! The route-reflector daemons under test: how to configure, start and ask each one.
//!
//! Every daemon runs as an iBGP route reflector with a dynamic-peer range, in the
//! namespace it is given, as one foreground process whose PID is the one measured.
//! [`RunningRr::poll`] asks the daemon for its per-peer state through its own
//! control interface (`birdc`, `vtysh`, `gobgp`, routerd's `/v1/peers`): one answer per
//! peer, so a poll costs O(peers), never O(routes).

mod bird;
mod frr;
mod gobgp;
mod routerd;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::lab::{Netns, Proc};

pub use bird::{BirdProtocol, start_fib_leaf as start_bird_fib_leaf};

/// A daemon that can be benchmarked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DaemonKind {
    /// routerd (this project), release build.
    Routerd,
    /// BIRD 2.
    Bird,
    /// FRR bgpd (without zebra, no kernel).
    Frr,
    /// GoBGP.
    Gobgp,
}

impl DaemonKind {
    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            DaemonKind::Routerd => "routerd",
            DaemonKind::Bird => "bird",
            DaemonKind::Frr => "frr",
            DaemonKind::Gobgp => "gobgp",
        }
    }
}

/// What every daemon start needs.
#[derive(Debug)]
pub struct RrSetup<'a> {
    /// Namespace to run in.
    pub ns: &'a Netns,
    /// Directory for its config, socket and log.
    pub dir: &'a Path,
    /// The reflector's address (router id, cluster id, listen address).
    pub rr: Ipv4Addr,
    /// The dynamic-peer range, e.g. `198.18.0.0/16`.
    pub range: &'a str,
    /// Largest number of dynamic peers expected.
    pub max_peers: usize,
    /// routerd's binary.
    pub routerd: &'a Path,
}

/// How to reach a running daemon's control interface.
#[derive(Debug)]
enum Control {
    Bird {
        socket: PathBuf,
    },
    Frr {
        pathspace: String,
    },
    Gobgp {
        ns: String,
    },
    Routerd {
        ns: String,
        api: std::net::SocketAddr,
    },
}

/// One peer as the route reflector reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's address, when the daemon names it.
    pub addr: Option<Ipv4Addr>,
    /// In state Established.
    pub established: bool,
    /// Prefixes received from it (Adj-RIB-In).
    pub received: u64,
}

/// A started route reflector.
#[derive(Debug)]
pub struct RunningRr {
    kind: DaemonKind,
    proc: Proc,
    control: Control,
    log: PathBuf,
    cleanup_dir: Option<PathBuf>,
}

impl RunningRr {
    /// Which daemon.
    pub fn kind(&self) -> DaemonKind {
        self.kind
    }

    /// PID of the measured process.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// An error unless the process still runs.
    pub fn check_alive(&mut self) -> Result<(), BenchError> {
        if self.proc.running() {
            Ok(())
        } else {
            Err(BenchError::DaemonDied {
                daemon: self.kind.name().into(),
                log: self.log.display().to_string(),
            })
        }
    }

    /// Per-peer state, from the daemon's own control interface.
    pub fn poll(&self) -> Result<Vec<PeerStatus>, BenchError> {
        match &self.control {
            Control::Bird { socket } => bird::poll(socket),
            Control::Frr { pathspace } => frr::poll(pathspace),
            Control::Gobgp { ns } => gobgp::poll(ns),
            Control::Routerd { ns, api } => routerd::poll(ns, *api),
        }
    }

    /// Waits until the control interface answers.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), BenchError> {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            match self.poll() {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() >= timeout => {
                    return Err(BenchError::Timeout {
                        what: format!(
                            "{} to answer on its control interface ({e})",
                            self.kind.name()
                        ),
                        secs: timeout.as_secs_f64(),
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self) {
        self.proc.stop(Duration::from_secs(5));
        if let Some(dir) = self.cleanup_dir.take() {
            crate::lab::remove_dir(&dir);
        }
    }
}

impl Drop for RunningRr {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fails with a clear message when a daemon's binaries are missing.
pub fn check_installed(kind: DaemonKind, routerd: &Path) -> Result<(), BenchError> {
    let missing = |binary: &str, hint: &str| BenchError::MissingBinary {
        daemon: kind.name().into(),
        binary: binary.into(),
        hint: hint.into(),
    };
    let apt = "install it with tools/setup.sh (Debian package {pkg})";
    let need = |bins: &[&str], pkg: &str| -> Result<(), BenchError> {
        for b in bins {
            if find_binary(b).is_none() {
                return Err(missing(b, &apt.replace("{pkg}", pkg)));
            }
        }
        Ok(())
    };
    match kind {
        DaemonKind::Routerd if routerd.is_file() => Ok(()),
        DaemonKind::Routerd => Err(missing(
            &routerd.display().to_string(),
            "build it with `cargo build --release -p routerd` or pass --routerd PATH",
        )),
        DaemonKind::Bird => need(&["bird", "birdc"], "bird2"),
        DaemonKind::Frr => need(&[frr::BGPD, "vtysh"], "frr"),
        DaemonKind::Gobgp => need(&["gobgpd", "gobgp"], "gobgpd"),
    }
}

/// `name` as an absolute path, or searched in `PATH` (plus the sbin directories).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|c| c.is_file())
}

/// The daemon's version line, for the results.
pub fn version(kind: DaemonKind, routerd: &Path) -> String {
    let (prog, arg): (PathBuf, &str) = match kind {
        DaemonKind::Routerd => (routerd.to_path_buf(), "--version"),
        DaemonKind::Bird => (PathBuf::from("bird"), "--version"),
        DaemonKind::Frr => (PathBuf::from(frr::BGPD), "--version"),
        DaemonKind::Gobgp => (PathBuf::from("gobgpd"), "--version"),
    };
    let Ok(out) = Command::new(&prog).arg(arg).output() else {
        return "unknown".into();
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.chars().any(|c| c.is_ascii_digit()))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Starts `kind` as route reflector and waits until its control interface answers.
pub fn start(kind: DaemonKind, setup: &RrSetup<'_>) -> Result<RunningRr, BenchError> {
    let mut rr = match kind {
        DaemonKind::Bird => bird::start(setup)?,
        DaemonKind::Frr => frr::start(setup)?,
        DaemonKind::Gobgp => gobgp::start(setup)?,
        DaemonKind::Routerd => routerd::start(setup)?,
    };
    rr.wait_ready(Duration::from_secs(30))?;
    Ok(rr)
}

/// Runs a status command; its stdout, or a status error naming the daemon.
fn status_output(daemon: &str, cmd: &mut Command) -> Result<String, BenchError> {
    crate::lab::run(cmd).map_err(|e| BenchError::Status {
        daemon: daemon.into(),
        detail: e.to_string(),
    })
}

/// Writes a config file readable by unprivileged daemons (0644).
fn write_config(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(BenchError::io(format!("write {}", path.display())))
}
