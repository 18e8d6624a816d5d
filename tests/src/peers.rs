//! BGP daemons as test fixtures: BIRD, FRR, GoBGP, ExaBGP and routerd itself, each
//! started inside a [`Netns`] from a generated config, queried for what it learned, and
//! killed by PID when dropped.
//!
//! Every fixture takes a [`Spec`]: its address (also its router id), AS and [`Role`]
//! (a leaf with one RR and the /32s it announces, or an RR admitting a dynamic range).
//! Configs and logs go to a [`Scratch`] directory removed on drop (kept when
//! `ROUTERD_KEEP_TEST_DIRS` is set, to read the logs of a failed run).
//!
//! Queries return [`SeenRoute`]s: what a daemon holds from BGP, with ORIGINATOR_ID and
//! CLUSTER_LIST, read through the daemon's own CLI (`birdc`, `vtysh`, `gobgp`) or, for
//! routerd, from its kernel routing table and `routerd-tool peers`.

mod bird;
mod exabgp;
mod frr;
mod gobgp;
mod routerd;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use bird::Bird;
pub use exabgp::ExaBgp;
pub use frr::Frr;
pub use gobgp::GoBgp;
pub use routerd::Routerd;

/// A route a daemon learned over BGP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRoute {
    /// Destination, e.g. `198.18.11.1/32`.
    pub prefix: String,
    /// BGP next hop, if shown.
    pub next_hop: Option<String>,
    /// ORIGINATOR_ID (RFC 4456), if set.
    pub originator_id: Option<String>,
    /// CLUSTER_LIST (RFC 4456), in order.
    pub cluster_list: Vec<String>,
}

/// What a fixture does in the topology.
#[derive(Debug, Clone)]
pub enum Role {
    /// A client of one route reflector, announcing these prefixes (e.g. `198.18.11.1/32`).
    Leaf {
        /// The RR's address.
        rr: Ipv4Addr,
        /// Prefixes to announce.
        announce: Vec<String>,
    },
    /// A route reflector admitting iBGP clients from `range` (e.g. `10.77.0.0/24`).
    Rr {
        /// Source range of the dynamic peers.
        range: String,
    },
}

/// A fixture's identity.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Address on the shared segment, also the router id (and cluster id of an RR).
    pub addr: Ipv4Addr,
    /// AS number (all fixtures here are iBGP).
    pub asn: u32,
    /// Leaf or RR.
    pub role: Role,
}

/// Queries every fixture answers.
pub trait BgpDaemon {
    /// Short name for messages (`bird`, `frr`, ...).
    fn kind(&self) -> &'static str;
    /// Routes learned over BGP (not the ones it originates).
    fn routes(&self) -> Vec<SeenRoute>;
    /// Number of sessions in Established.
    fn established(&self) -> usize;
}

/// A directory for configs and logs, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Creates `<tmp>/routerd-test-<unique>` (mode 0755 so FRR's user can read it).
    pub fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("routerd-test-{}", crate::netns::unique(tag)));
        std::fs::create_dir_all(&path).expect("create scratch dir");
        set_mode(&path, 0o755);
        Scratch { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory for one daemon (created, mode 0755).
    pub fn dir(&self, name: &str) -> PathBuf {
        let dir = self.path.join(name);
        std::fs::create_dir_all(&dir).expect("create daemon dir");
        set_mode(&dir, 0o755);
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("ROUTERD_KEEP_TEST_DIRS").is_some() {
            eprintln!("kept test files in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes `text` to `path` readable by every user (FRR drops privileges).
pub(crate) fn write_config(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    set_mode(path, 0o644);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// The last lines of a log file, for failure messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Routes of `daemon` whose prefix is in `prefixes`, sorted by prefix.
pub fn routes_for(daemon: &dyn BgpDaemon, prefixes: &[String]) -> Vec<SeenRoute> {
    let mut routes: Vec<SeenRoute> = daemon
        .routes()
        .into_iter()
        .filter(|r| prefixes.contains(&r.prefix))
        .collect();
    routes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    routes.dedup_by(|a, b| a.prefix == b.prefix);
    routes
}
