//! bgp-bench: side-by-side BGP route-reflector benchmark of routerd, BIRD, FRR and GoBGP.
//!
//! Scenarios (see [`scenario`]): route reflection of N prefixes (`--routes`, `--mixed`),
//! many dynamic peers (`--peers`), and leaf FIB programming (`--fib`). The daemons run
//! one after the other, each on a fresh namespace topology, and every figure of a run
//! is printed as a table (default) or one JSON object per daemon (`--json`). Progress
//! goes to stderr. Must run as root (network namespaces); everything it creates is
//! removed at the end, on failure and on Ctrl-C.
//!
//! The same binary is the in-namespace peer: `bgp-bench agent ...` (see
//! [`bgp_bench::agent`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bgp_bench::daemon::{self, DaemonKind};
use bgp_bench::error::BenchError;
use bgp_bench::report::{self, Failure};
use bgp_bench::scenario::{self, Common, progress};
use bgp_bench::{agent, lab};
use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "bgp-bench",
    version,
    about = "BGP route-reflector benchmark: routerd, BIRD, FRR, GoBGP side by side"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// Route-reflection scenario with this many prefixes (default 100000 when no other
    /// scenario is chosen).
    #[arg(long)]
    routes: Option<usize>,
    /// Use a mixed /24-/32 prefix set instead of /32s.
    #[arg(long)]
    mixed: bool,
    /// Many-peers scenario with this many dynamic leaf sessions.
    #[arg(long)]
    peers: Option<usize>,
    /// Leaf FIB scenario with this many /32s (routerd's kernel::Fib against BIRD).
    #[arg(long)]
    fib: Option<usize>,
    /// Daemons to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "routerd,bird,frr,gobgp")]
    daemons: Vec<DaemonKind>,
    /// Repeat every daemon's run this many times.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Give up on one daemon's run after this many seconds (default: 120 + 1 s per
    /// 2,000 routes and 1 s per peer).
    #[arg(long)]
    timeout: Option<u64>,
    /// Keepalive-only CPU window of the many-peers scenario, seconds.
    #[arg(long, default_value_t = 30)]
    window: u64,
    /// routerd binary (default: `routerd` next to this binary).
    #[arg(long)]
    routerd: Option<PathBuf>,
    /// Directory for configs and logs (default /tmp/bgp-bench-<pid>).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[command(subcommand)]
    agent: Option<Hidden>,
}

#[derive(Debug, clap::Subcommand)]
enum Hidden {
    /// In-namespace peer (used by the benchmark itself).
    #[command(hide = true, subcommand)]
    Agent(agent::Agent),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Hidden::Agent(a)) = cli.agent {
        return ExitCode::from(agent::run(a) as u8);
    }
    install_signal_handler();
    match bench(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bgp-bench: {e}");
            lab::cleanup_all();
            ExitCode::from(2)
        }
    }
}

/// On Ctrl-C or SIGTERM: kill what the benchmark started, delete its namespaces, exit.
fn install_signal_handler() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("[bgp-bench] interrupted: removing namespaces and processes");
            lab::cleanup_all();
            std::process::exit(130);
        });
    });
}

/// Runs the chosen scenarios; `Ok(false)` when some daemon's run failed.
fn bench(cli: Cli) -> Result<bool, BenchError> {
    if !lab::run(std::process::Command::new("id").arg("-u")).is_ok_and(|id| id.trim() == "0") {
        return Err(BenchError::Usage(
            "must run as root (it creates network namespaces)".into(),
        ));
    }
    if cli.runs == 0 || cli.daemons.is_empty() {
        return Err(BenchError::Usage(
            "--runs and --daemons must not be empty".into(),
        ));
    }
    let routerd = match cli.routerd.clone() {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(BenchError::io("find the benchmark's own binary"))?
            .with_file_name("routerd"),
    };
    let routes = match (cli.routes, cli.peers, cli.fib) {
        (None, None, None) => Some(100_000),
        (r, _, _) => r,
    };
    if let Some(r) = routes
        && !(1..=4_000_000).contains(&r)
    {
        return Err(BenchError::Usage(format!(
            "--routes must be 1..=4000000, not {r}"
        )));
    }
    let mut fib_daemons = Vec::new();
    if cli.fib.is_some() {
        for d in [DaemonKind::Routerd, DaemonKind::Bird] {
            if cli.daemons.contains(&d) {
                fib_daemons.push(d);
            }
        }
    }
    // The FIB scenario runs routerd's kernel::Fib inside this binary: only BIRD's
    // binaries are needed there.
    let rr_scenarios = routes.is_some() || cli.peers.is_some();
    let needed = cli.daemons.iter().filter(|_| rr_scenarios);
    for d in needed.chain(fib_daemons.iter().filter(|d| **d == DaemonKind::Bird)) {
        daemon::check_installed(*d, &routerd)?;
    }
    let size = routes.unwrap_or(0).max(cli.fib.unwrap_or(0)) / 2_000 + cli.peers.unwrap_or(0);
    let common = Common {
        work_dir: cli.work_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("bgp-bench-{}", std::process::id()))
        }),
        routerd,
        timeout: Duration::from_secs(cli.timeout.unwrap_or(120 + size as u64)),
    };
    progress(&format!(
        "configs and logs in {}",
        common.work_dir.display()
    ));
    let mut all_ok = true;
    let mut fail = |daemon: &str, scenario: &'static str, e: BenchError, json: bool| {
        all_ok = false;
        progress(&format!("{daemon}: {scenario} failed: {e}"));
        if json {
            report::json_line(&Failure {
                daemon: daemon.into(),
                scenario,
                error: e.to_string(),
            });
        }
    };

    if let Some(n) = routes {
        let mut results = Vec::new();
        for _ in 0..cli.runs {
            for d in &cli.daemons {
                match scenario::reflect::run(*d, n, cli.mixed, &common) {
                    Ok(r) => {
                        if cli.json {
                            report::json_line(&r);
                        }
                        results.push(r);
                    }
                    Err(e) => fail(d.name(), "reflect", e, cli.json),
                }
            }
        }
        if cli.json {
            if let Some(q) = report::reflect_ratios(&results) {
                report::json_line(&q);
            }
        } else {
            report::reflect_table(&results);
        }
    }
    if let Some(p) = cli.peers {
        let mut results = Vec::new();
        for _ in 0..cli.runs {
            for d in &cli.daemons {
                match scenario::peers::run(*d, p, Duration::from_secs(cli.window), &common) {
                    Ok(r) => {
                        if cli.json {
                            report::json_line(&r);
                        }
                        results.push(r);
                    }
                    Err(e) => fail(d.name(), "peers", e, cli.json),
                }
            }
        }
        if !cli.json {
            report::peers_table(&results);
        }
    }
    if let Some(n) = cli.fib {
        let mut results = Vec::new();
        for _ in 0..cli.runs {
            for d in &fib_daemons {
                let r = match d {
                    DaemonKind::Routerd => scenario::fib::run_routerd(n, &common),
                    _ => scenario::fib::run_bird(n, &common),
                };
                match r {
                    Ok(r) => {
                        if cli.json {
                            report::json_line(&r);
                        }
                        results.push(r);
                    }
                    Err(e) => fail(d.name(), "fib", e, cli.json),
                }
            }
        }
        if !cli.json {
            report::fib_table(&results);
        } else if let Some(q) = report::fib_ratio(&results) {
            report::json_line(
                &serde_json::json!({ "ratios": "routerd/bird", "fib_routes_per_s": q }),
            );
        }
    }
    Ok(all_ok)
}
