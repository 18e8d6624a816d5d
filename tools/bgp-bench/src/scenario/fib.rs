//! Leaf FIB programming: N /32s into a namespace's kernel table 100, via 198.18.0.11.
//!
//! - routerd: the `fib` agent builds the changes, then on `go` times one
//!   `kernel::Fib::apply_blocking` call (batched netlink) and reads the table back.
//! - BIRD: a BIRD leaf takes the N routes over BGP from the feeder and exports them with
//!   its kernel protocol. From t0 = `go` to the feeder, its BGP and kernel protocols are
//!   polled (max(50 ms, 2 % of elapsed)) until `kfib` reports N exported; then the
//!   kernel table is counted. BIRD's time includes its BGP ingest, which overlaps with
//!   the kernel installs (BGP alone takes about a tenth of the time).
//!
//! Each daemon gets a fresh namespace, so both start from an empty table.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Common, FEEDER, RANGE, RR, cidr, poll_interval, progress};
use crate::agent_proc::AgentProc;
use crate::daemon;
use crate::error::BenchError;
use crate::lab::{Fabric, Netns, work_dir};
use crate::procstat;

/// The kernel table both daemons program.
const TABLE: u32 = 100;

/// One daemon's result.
#[derive(Debug, Clone, Serialize)]
pub struct FibResult {
    /// `routerd` or `bird`.
    pub daemon: String,
    /// Daemon version line.
    pub version: String,
    /// Routes installed.
    pub fib_routes: usize,
    /// Seconds until the kernel table held them.
    pub fib_s: f64,
    /// `fib_routes / fib_s`.
    pub routes_per_s: f64,
    /// Routes found in the table afterwards.
    pub installed: usize,
    /// BIRD only: seconds until its BGP protocol held all routes.
    pub bgp_s: Option<f64>,
    /// How it was measured.
    pub method: &'static str,
    /// One-minute load average at t0.
    pub load1: f64,
}

/// Counts IPv4 routes in `table` of `ns`.
fn count_routes(ns: &Netns) -> Result<usize, BenchError> {
    let out = ns.ip(&["-4", "route", "show", "table", &TABLE.to_string()])?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

/// routerd's `kernel::Fib`.
pub fn run_routerd(routes: usize, common: &Common) -> Result<FibResult, BenchError> {
    let dir = work_dir(&common.work_dir, &format!("fib-routerd-{routes}"))?;
    let mut fabric = Fabric::new()?;
    let leaf = fabric.attach("fb", &cidr(RR))?;
    progress(&format!(
        "routerd: installing {routes} /32s through kernel::Fib"
    ));
    let args = [
        "fib",
        "--routes",
        &routes.to_string(),
        "--table",
        &TABLE.to_string(),
        "--via",
        &FEEDER.to_string(),
        "--dev",
        "eth0",
    ]
    .map(String::from);
    let mut agent = AgentProc::start(fabric.node(leaf), "fib", &args, &dir)?;
    agent.expect("ready", Duration::from_secs(120))?;
    let load1 = procstat::load_average();
    agent.send("go")?;
    let done = agent.expect("done", common.timeout)?;
    if done.num("failed") > 0.0 {
        return Err(BenchError::Agent {
            agent: "fib".into(),
            detail: done.line,
        });
    }
    let fib_s = done.num("secs");
    let installed = count_routes(fabric.node(leaf))?;
    agent.stop();
    Ok(FibResult {
        daemon: "routerd".into(),
        version: format!("kernel::Fib in bgp-bench {}", env!("CARGO_PKG_VERSION")),
        fib_routes: routes,
        fib_s,
        routes_per_s: routes as f64 / fib_s,
        installed,
        bgp_s: None,
        method: "kernel::Fib::apply_blocking, one call, timed in-process",
        load1,
    })
}

/// BIRD's kernel protocol, fed over BGP.
pub fn run_bird(routes: usize, common: &Common) -> Result<FibResult, BenchError> {
    let dir = work_dir(&common.work_dir, &format!("fib-bird-{routes}"))?;
    let mut fabric = Fabric::new()?;
    let leaf = fabric.attach("fb", &cidr(RR))?;
    let feed = fabric.attach("fd", &cidr(FEEDER))?;
    progress(&format!(
        "bird: installing {routes} /32s through its kernel protocol"
    ));
    let mut bird = daemon::start_bird_fib_leaf(fabric.node(leaf), &dir, RR, RANGE, TABLE)?;
    let args = [
        "feeder",
        "--rr",
        &RR.to_string(),
        "--local",
        &FEEDER.to_string(),
        "--routes",
        &routes.to_string(),
    ]
    .map(String::from);
    let mut feeder = AgentProc::start(fabric.node(feed), "feeder", &args, &dir)?;
    feeder.expect("ready", Duration::from_secs(60))?;
    let load1 = procstat::load_average();
    let t0 = Instant::now();
    feeder.send("go")?;
    let (mut bgp_s, mut fib_s) = (None, None);
    while fib_s.is_none() {
        if t0.elapsed() > common.timeout {
            return Err(BenchError::Timeout {
                what: "BIRD's kernel protocol to export all routes".into(),
                secs: common.timeout.as_secs_f64(),
            });
        }
        bird.check_alive()?;
        let protocols = bird.bird_protocols()?;
        let at = t0.elapsed();
        let imported: u64 = protocols
            .iter()
            .filter(|p| p.proto == "BGP")
            .map(|p| p.imported)
            .sum();
        let exported: u64 = protocols
            .iter()
            .filter(|p| p.proto == "Kernel")
            .map(|p| p.exported)
            .sum();
        if bgp_s.is_none() && imported >= routes as u64 {
            bgp_s = Some(at.as_secs_f64());
        }
        if exported >= routes as u64 {
            fib_s = Some(at.as_secs_f64());
        } else {
            std::thread::sleep(poll_interval(at));
        }
    }
    let fib_s = fib_s.unwrap_or_default();
    let installed = count_routes(fabric.node(leaf))?;
    feeder.stop();
    bird.stop();
    Ok(FibResult {
        daemon: "bird".into(),
        version: daemon::version(daemon::DaemonKind::Bird, &common.routerd),
        fib_routes: routes,
        fib_s,
        routes_per_s: routes as f64 / fib_s,
        installed,
        bgp_s,
        method: "BGP from the feeder, kernel protocol export; polled birdc until exported = N",
        load1,
    })
}
