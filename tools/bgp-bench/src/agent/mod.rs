//! In-namespace peers: the benchmark re-executes itself inside a namespace
//! (`ip netns exec NS bgp-bench agent ...`) to run them.
//!
//! Control protocol, one line each way:
//! - parent → agent on stdin: `go` (start the timed part), `report` (print counters);
//!   end of input means stop, and the agent exits.
//! - agent → parent on stdout: `ready ...` once set up, then `sent`, `done ...`,
//!   `established ...`, `delivered ...`, `report ...`, or `error ...` (then it exits
//!   non-zero). Fields are `key=value` separated by spaces.
//!
//! The parent stamps each line when it arrives, so all timings share its clock.

mod feeder;
mod fib;
mod http;
mod leaves;
mod session;
mod sink;

use std::net::Ipv4Addr;

use clap::Subcommand;
use tokio::sync::mpsc;

/// The agents and their arguments.
#[derive(Debug, Clone, Subcommand)]
pub enum Agent {
    /// Holds a session and, on `go`, writes N prefixes encoded beforehand.
    Feeder {
        /// Route reflector address.
        #[arg(long)]
        rr: Ipv4Addr,
        /// Our address (router id and next hop).
        #[arg(long)]
        local: Ipv4Addr,
        /// Number of prefixes.
        #[arg(long)]
        routes: usize,
        /// Mixed /24-/32 set instead of /32s.
        #[arg(long)]
        mixed: bool,
    },
    /// Holds a session and counts distinct received prefixes; says `done` at N.
    Sink {
        /// Route reflector address.
        #[arg(long)]
        rr: Ipv4Addr,
        /// Our address (router id).
        #[arg(long)]
        local: Ipv4Addr,
        /// Number of prefixes to wait for.
        #[arg(long)]
        routes: usize,
    },
    /// On `go`, opens `count` sessions from consecutive addresses at once; each
    /// announces one /32 and counts the others' reflected /32s.
    Leaves {
        /// Route reflector address.
        #[arg(long)]
        rr: Ipv4Addr,
        /// First source address.
        #[arg(long)]
        first: Ipv4Addr,
        /// Number of sessions.
        #[arg(long)]
        count: usize,
        /// Seconds to keep retrying connections.
        #[arg(long, default_value_t = 600)]
        connect_secs: u64,
    },
    /// On `go`, installs N /32s through routerd's `kernel::Fib` in one batch.
    Fib {
        /// Number of routes.
        #[arg(long)]
        routes: usize,
        /// Routing table.
        #[arg(long)]
        table: u32,
        /// Gateway.
        #[arg(long)]
        via: Ipv4Addr,
        /// Output interface.
        #[arg(long)]
        dev: String,
    },
    /// Prints the body of one HTTP GET (routerd's status API inside a namespace).
    HttpGet {
        /// `host:port`.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Request path.
        #[arg(long)]
        path: String,
    },
}

/// Why an agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The BGP session failed.
    #[error(transparent)]
    Session(#[from] session::SessionError),
    /// The parent closed stdin before `go`.
    #[error("the benchmark stopped before the timed part began")]
    Stopped,
    /// Opening routerd's FIB failed.
    #[error("cannot open the kernel routing table: {0}")]
    Kernel(#[from] kernel::KernelError),
    /// The HTTP request failed.
    #[error("http request failed: {0}")]
    Http(String),
}

/// AS of the benchmark's iBGP cluster.
pub const ASN: u32 = 65000;
/// Hold time the peers propose (keepalive every 30 s).
pub const HOLD_SECS: u16 = 90;

/// A command from the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start the timed part.
    Go,
    /// Print counters.
    Report,
}

/// Reads stdin on a thread; `None` from the receiver means the parent closed it.
pub fn control() -> mpsc::UnboundedReceiver<Command> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin()
            .read_line(&mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            let cmd = match line.trim() {
                "go" => Some(Command::Go),
                "report" => Some(Command::Report),
                _ => None,
            };
            if let Some(cmd) = cmd
                && tx.send(cmd).is_err()
            {
                return;
            }
            line.clear();
        }
    });
    rx
}

/// Prints one event line for the parent.
pub fn say(line: &str) {
    println!("{line}");
}

/// Runs an agent to completion; the process exit code.
pub fn run(agent: Agent) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("error cannot start runtime: {e}"));
            return 1;
        }
    };
    let result = rt.block_on(async move {
        match agent {
            Agent::Feeder {
                rr,
                local,
                routes,
                mixed,
            } => feeder::run(rr, local, routes, mixed).await,
            Agent::Sink { rr, local, routes } => sink::run(rr, local, routes).await,
            Agent::Leaves {
                rr,
                first,
                count,
                connect_secs,
            } => leaves::run(rr, first, count, connect_secs).await,
            Agent::Fib {
                routes,
                table,
                via,
                dev,
            } => fib::run(routes, table, via, &dev).await,
            Agent::HttpGet { addr, path } => http::get(addr, &path),
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            say(&format!("error {e}"));
            1
        }
    }
}
