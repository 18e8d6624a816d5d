//! Route reflection of N prefixes: feeder → route reflector → sink.
//!
//! Sequence per daemon: fresh fabric; start the RR; start the sink and the feeder (the
//! feeder encodes every UPDATE first), wait until both sessions are Established on
//! both sides, then 3 s more; t0 = `go` to the feeder. `rr_s` is the end of the first status poll that
//! shows the feeder's Adj-RIB-In holding N (polled every max(50 ms, 2 % of elapsed));
//! `reflect_s` is when the sink says it holds N distinct prefixes. Two seconds after
//! both, the RR's RSS, peak RSS and CPU seconds are read from /proc, and the RR's own
//! count and the sink's count are recorded as an independent check.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Common, FEEDER, RANGE, RR, SINK, cidr, poll_interval, progress};
use crate::agent_proc::AgentProc;
use crate::daemon::{self, DaemonKind, PeerStatus, RrSetup};
use crate::error::BenchError;
use crate::lab::{Fabric, work_dir};
use crate::procstat;

/// One daemon's result.
#[derive(Debug, Clone, Serialize)]
pub struct ReflectResult {
    /// Daemon name.
    pub daemon: String,
    /// Daemon version line.
    pub version: String,
    /// Number of prefixes.
    pub routes: usize,
    /// `/32` or `mixed` (/24-/32).
    pub set: &'static str,
    /// Seconds from t0 until the RR reported holding all routes from the feeder.
    pub rr_s: f64,
    /// Seconds from t0 until the sink held all routes.
    pub reflect_s: f64,
    /// RR resident memory 2 s after convergence, MB.
    pub rss_mb: f64,
    /// RR peak resident memory (VmHWM), MB.
    pub peak_rss_mb: f64,
    /// RR CPU seconds (user + system) from start until 2 s after convergence.
    pub cpu_s: f64,
    /// Seconds the feeder took to write all UPDATEs into its socket.
    pub feed_s: f64,
    /// Routes the RR reports from the feeder at the end.
    pub rr_count: u64,
    /// Distinct prefixes the sink holds at the end.
    pub sink_count: u64,
    /// UPDATE messages the sink received.
    pub sink_updates: u64,
    /// Status polls made before the RR held all routes.
    pub polls: u32,
    /// One-minute load average at t0.
    pub load1: f64,
}

/// Pause between "all sessions Established" and t0.
const SETTLE: Duration = Duration::from_secs(3);

fn feeder_received(peers: &[PeerStatus]) -> u64 {
    peers
        .iter()
        .filter(|p| p.addr == Some(FEEDER) || p.addr.is_none())
        .map(|p| p.received)
        .max()
        .unwrap_or(0)
}

/// Runs the scenario for one daemon.
pub fn run(
    kind: DaemonKind,
    routes: usize,
    mixed: bool,
    common: &Common,
) -> Result<ReflectResult, BenchError> {
    let set = if mixed { "mixed" } else { "/32" };
    let label = format!(
        "reflect-{}-{routes}{}",
        kind.name(),
        if mixed { "-mixed" } else { "" }
    );
    let dir = work_dir(&common.work_dir, &label)?;
    let mut fabric = Fabric::new()?;
    let rr_ns = fabric.attach("rr", &cidr(RR))?;
    let feed_ns = fabric.attach("fd", &cidr(FEEDER))?;
    let sink_ns = fabric.attach("sk", &cidr(SINK))?;
    progress(&format!(
        "{}: starting route reflector ({routes} {set} routes)",
        kind.name()
    ));
    let setup = RrSetup {
        ns: fabric.node(rr_ns),
        dir: &dir,
        rr: RR,
        range: RANGE,
        max_peers: 2,
        routerd: &common.routerd,
    };
    let mut rr = daemon::start(kind, &setup)?;
    let n = routes.to_string();
    let mut sink = AgentProc::start(
        fabric.node(sink_ns),
        "sink",
        &[
            "sink",
            "--rr",
            &RR.to_string(),
            "--local",
            &SINK.to_string(),
            "--routes",
            &n,
        ]
        .map(String::from),
        &dir,
    )?;
    let mut feeder_args = [
        "feeder",
        "--rr",
        &RR.to_string(),
        "--local",
        &FEEDER.to_string(),
        "--routes",
        &n,
    ]
    .map(String::from)
    .to_vec();
    if mixed {
        feeder_args.push("--mixed".into());
    }
    let mut feeder = AgentProc::start(fabric.node(feed_ns), "feeder", &feeder_args, &dir)?;
    let setup_time = Duration::from_secs(60);
    feeder.expect("ready", setup_time)?;
    sink.expect("ready", setup_time)?;
    wait_established(&mut rr, 2, setup_time)?;
    // Let start-up work settle (FRR holds a new peer's first advertisements for its
    // 1 s subgroup coalesce time), so t0 measures steady-state reflection.
    std::thread::sleep(SETTLE);
    progress(&format!("{}: sessions up, sending", kind.name()));

    let load1 = procstat::load_average();
    let t0 = Instant::now();
    feeder.send("go")?;
    let (mut rr_s, mut reflect_s, mut feed_s) = (None, None, 0.0);
    let mut next_poll = t0;
    let mut polls = 0;
    while rr_s.is_none() || reflect_s.is_none() {
        let now = Instant::now();
        if now.duration_since(t0) > common.timeout {
            let what = if rr_s.is_none() {
                "the RR to hold all routes"
            } else {
                "the sink to hold all routes"
            };
            return Err(BenchError::Timeout {
                what: what.into(),
                secs: common.timeout.as_secs_f64(),
            });
        }
        if rr_s.is_none() && now >= next_poll {
            rr.check_alive()?;
            let peers = rr.poll()?;
            polls += 1;
            let answered = Instant::now();
            if feeder_received(&peers) >= routes as u64 {
                rr_s = Some(answered.duration_since(t0).as_secs_f64());
            }
            next_poll = answered + poll_interval(answered.duration_since(t0));
        }
        let wait = if rr_s.is_none() {
            next_poll.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(200)
        };
        if let Some(ev) = sink.next(wait)?
            && ev.tag == "done"
        {
            reflect_s = Some(ev.at.duration_since(t0).as_secs_f64());
        }
        if let Some(ev) = feeder.next(Duration::ZERO)?
            && ev.tag == "sent"
        {
            feed_s = ev.at.duration_since(t0).as_secs_f64();
        }
    }
    let (rr_s, reflect_s) = (rr_s.unwrap_or_default(), reflect_s.unwrap_or_default());
    progress(&format!(
        "{}: RR {rr_s:.3} s, sink {reflect_s:.3} s; settling 2 s",
        kind.name()
    ));
    std::thread::sleep(Duration::from_secs(2));
    let usage = procstat::usage(rr.pid())?;
    let rr_count = feeder_received(&rr.poll()?);
    sink.send("report")?;
    let report = sink.expect("report", Duration::from_secs(10))?;
    let result = ReflectResult {
        daemon: kind.name().into(),
        version: daemon::version(kind, &common.routerd),
        routes,
        set,
        rr_s,
        reflect_s,
        rss_mb: usage.rss_mb,
        peak_rss_mb: usage.peak_rss_mb,
        cpu_s: usage.cpu_s,
        feed_s,
        rr_count,
        sink_count: report.num("count") as u64,
        sink_updates: report.num("updates") as u64,
        polls,
        load1,
    };
    feeder.stop();
    sink.stop();
    rr.stop();
    Ok(result)
}

/// Polls until the RR reports `want` Established peers.
pub fn wait_established(
    rr: &mut daemon::RunningRr,
    want: usize,
    timeout: Duration,
) -> Result<(), BenchError> {
    let start = Instant::now();
    loop {
        rr.check_alive()?;
        let up = rr.poll()?.iter().filter(|p| p.established).count();
        if up >= want {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(BenchError::Timeout {
                what: format!(
                    "{} to report {want} Established peers (has {up})",
                    rr.kind().name()
                ),
                secs: timeout.as_secs_f64(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
