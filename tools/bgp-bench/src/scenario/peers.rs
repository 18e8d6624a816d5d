//! Many dynamic peers: P leaf sessions from P source addresses in one namespace
//! connect at once (t0 = `go`); each announces one /32.
//!
//! Measured: seconds until every session is Established and until every leaf holds
//! the other P-1 routes (P·(P-1) reflected paths), as seen by the leaves; RSS, peak RSS
//! and CPU of the RR two seconds later; the RR's own count of Established peers and
//! received routes (independent check, one poll); then the RR's CPU over a quiet
//! window in which only keepalives flow, as a percentage of one core.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::reflect::wait_established;
use super::{Common, FIRST_LEAF, RANGE, RR, cidr, progress};
use crate::agent_proc::AgentProc;
use crate::daemon::{self, DaemonKind, RrSetup};
use crate::error::BenchError;
use crate::lab::{Fabric, work_dir};
use crate::procstat;

/// One daemon's result.
#[derive(Debug, Clone, Serialize)]
pub struct PeersResult {
    /// Daemon name.
    pub daemon: String,
    /// Daemon version line.
    pub version: String,
    /// Number of leaf sessions.
    pub peers: usize,
    /// Seconds from t0 until every leaf session was Established.
    pub established_s: f64,
    /// Seconds from t0 until every leaf held every other leaf's /32.
    pub delivered_s: f64,
    /// Reflected paths delivered (P·(P-1)).
    pub paths: u64,
    /// RR resident memory 2 s after delivery, MB.
    pub rss_mb: f64,
    /// RR peak resident memory, MB.
    pub peak_rss_mb: f64,
    /// RR CPU seconds from start until 2 s after delivery.
    pub cpu_s: f64,
    /// RR CPU over the keepalive-only window, percent of one core.
    pub idle_cpu_pct: f64,
    /// Length of that window, seconds.
    pub window_s: f64,
    /// Established peers the RR reports.
    pub rr_established: usize,
    /// Routes the RR reports received, summed over peers.
    pub rr_received: u64,
    /// One-minute load average at t0.
    pub load1: f64,
}

/// Runs the scenario for one daemon.
pub fn run(
    kind: DaemonKind,
    peers: usize,
    window: Duration,
    common: &Common,
) -> Result<PeersResult, BenchError> {
    if !(2..=60_000).contains(&peers) {
        return Err(BenchError::Usage(format!(
            "--peers must be 2..=60000, not {peers}"
        )));
    }
    let dir = work_dir(&common.work_dir, &format!("peers-{}-{peers}", kind.name()))?;
    let mut fabric = Fabric::new()?;
    let rr_ns = fabric.attach("rr", &cidr(RR))?;
    let leaves_ns = fabric.attach("lv", &cidr(FIRST_LEAF))?;
    let mut batch = String::new();
    for i in 1..peers as u32 {
        let addr = std::net::Ipv4Addr::from(FIRST_LEAF.to_bits() + i);
        batch.push_str(&format!("addr add {addr}/16 dev eth0\n"));
    }
    fabric.node(leaves_ns).ip_batch(&batch, &dir)?;
    progress(&format!(
        "{}: starting route reflector for {peers} dynamic peers",
        kind.name()
    ));
    let setup = RrSetup {
        ns: fabric.node(rr_ns),
        dir: &dir,
        rr: RR,
        range: RANGE,
        max_peers: peers,
        routerd: &common.routerd,
    };
    let mut rr = daemon::start(kind, &setup)?;
    let connect_secs = common.timeout.as_secs().max(1).to_string();
    let args = [
        "leaves",
        "--rr",
        &RR.to_string(),
        "--first",
        &FIRST_LEAF.to_string(),
        "--count",
        &peers.to_string(),
        "--connect-secs",
        &connect_secs,
    ]
    .map(String::from);
    let mut leaves = AgentProc::start(fabric.node(leaves_ns), "leaves", &args, &dir)?;
    leaves.expect("ready", Duration::from_secs(30))?;

    let load1 = procstat::load_average();
    let t0 = Instant::now();
    leaves.send("go")?;
    progress(&format!("{}: {peers} leaves connecting", kind.name()));
    let (mut established_s, mut delivered_s, mut paths) = (None, None, 0);
    let mut next_progress = t0 + Duration::from_secs(10);
    while delivered_s.is_none() {
        if t0.elapsed() > common.timeout {
            leaves.send("report")?;
            let last = leaves
                .expect("report", Duration::from_secs(5))
                .map(|e| e.line)
                .unwrap_or_default();
            return Err(BenchError::Timeout {
                what: format!("all leaves to be served ({last})"),
                secs: common.timeout.as_secs_f64(),
            });
        }
        if let Some(ev) = leaves.next(Duration::from_millis(200))? {
            match ev.tag.as_str() {
                "established" => {
                    let s = ev.at.duration_since(t0).as_secs_f64();
                    progress(&format!(
                        "{}: all {peers} Established after {s:.2} s",
                        kind.name()
                    ));
                    established_s = Some(s);
                }
                "delivered" => {
                    delivered_s = Some(ev.at.duration_since(t0).as_secs_f64());
                    paths = ev.num("paths") as u64;
                }
                "report" => progress(&format!("{}: {}", kind.name(), ev.line)),
                _ => {}
            }
        }
        if Instant::now() >= next_progress {
            rr.check_alive()?;
            leaves.send("report")?;
            next_progress += Duration::from_secs(10);
        }
    }
    let delivered_s = delivered_s.unwrap_or_default();
    progress(&format!(
        "{}: all paths delivered after {delivered_s:.2} s",
        kind.name()
    ));
    std::thread::sleep(Duration::from_secs(2));
    let usage = procstat::usage(rr.pid())?;
    wait_established(&mut rr, peers, Duration::from_secs(30))?;
    let status = rr.poll()?;
    progress(&format!(
        "{}: measuring keepalive CPU over {} s",
        kind.name(),
        window.as_secs()
    ));
    let before = procstat::usage(rr.pid())?;
    let w0 = Instant::now();
    std::thread::sleep(window);
    let after = procstat::usage(rr.pid())?;
    let window_s = w0.elapsed().as_secs_f64();
    rr.check_alive()?;
    let result = PeersResult {
        daemon: kind.name().into(),
        version: daemon::version(kind, &common.routerd),
        peers,
        established_s: established_s.unwrap_or(delivered_s),
        delivered_s,
        paths,
        rss_mb: usage.rss_mb,
        peak_rss_mb: usage.peak_rss_mb,
        cpu_s: usage.cpu_s,
        idle_cpu_pct: (after.cpu_s - before.cpu_s) / window_s * 100.0,
        window_s,
        rr_established: status.iter().filter(|p| p.established).count(),
        rr_received: status.iter().map(|p| p.received).sum(),
        load1,
    };
    leaves.stop();
    rr.stop();
    Ok(result)
}
