//! routerd: the router daemon (and, in images, init).
//!
//! `routerd run --config FILE.toml` loads the configuration through
//! [`router_config::load_config`], then runs the event loop of [`daemon`] until SIGTERM or
//! SIGINT, when it sends Cease to every peer, flushes and exits 0. Exit codes: 0 clean
//! shutdown, 1 the configuration or a start step failed (the message says which), 2 usage.

mod config_push;
mod connections;
mod daemon;
mod explain;
mod fib;
mod heap_trim;
mod init;
mod interfaces;
mod kernel_view;
#[cfg(test)]
mod loopback_tests;
mod router_config;
mod sam;
mod status;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::router_config::{ApiSettings, ConfigSource, load_config};

#[derive(Parser)]
#[command(
    name = "routerd",
    version,
    about = "routerd: BGP leaf or route reflector with dynamic peers, programming the kernel FIB",
    long_about = "routerd runs the BGP speaker of a router appliance: it accepts and opens BGP sessions, \
reflects routes when it is a route reflector, installs the best path of every received prefix in a \
kernel routing table (protocol bgp) and serves its status over HTTP JSON.\n\n\
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=routerd=debug) for more detail."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the router with a configuration until SIGTERM or SIGINT.
    #[command(after_help = "Examples:\n  \
routerd run --config examples/rr.toml   (schema: docs/config.md)\n  \
routerd run --config leaf.toml --api 127.0.0.1:7180\n  \
routerd run --config-blob leaf.blob --trust owner.pub\n\n\
Then: routerd-tool peers --router http://127.0.0.1:7179")]
    Run(RunArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["config", "config_blob"])))]
struct RunArgs {
    /// TOML development configuration (validated exactly like a signed config; the
    /// status API defaults to 127.0.0.1:7179 without a token).
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Signed config blob (`routerd-tool provision --out`); needs --trust.
    #[arg(long, value_name = "BLOB", requires = "trust")]
    config_blob: Option<PathBuf>,
    /// Public keys allowed to sign the blob, one hex key per line (`owner.pub`).
    #[arg(long, value_name = "PUBKEYS", requires = "config_blob")]
    trust: Option<PathBuf>,
    /// This device's board string: a blob signed for another board is refused
    /// (default: the blob's own board, i.e. no board check on a plain host).
    #[arg(long, value_name = "NAME", requires = "config_blob")]
    board: Option<String>,
    /// Serve the status API on this address instead of the configured one (a TOML
    /// development config without [api] serves it on 127.0.0.1:7179 without a token; a
    /// signed config serves it only where its [api] section says).
    #[arg(long, value_name = "ADDR:PORT")]
    api: Option<SocketAddr>,
    /// State directory for SAM enrollment (the RR's registry, the leaf's RR set);
    /// default: the config's `state_dir`.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Configure the config's interfaces before routing starts: find links by MAC and
    /// rename them, set MTU and static addresses, run DHCPv4 where `dhcp4 = true`
    /// (docs/interfaces.md). The firmware image always does; on a plain host the
    /// interfaces are left alone unless this is given.
    #[arg(long)]
    manage_interfaces: bool,
}

fn main() -> ExitCode {
    if std::process::id() == 1 {
        // On the firmware image routerd is init: boot, then run (never returns).
        init::main(init::router::entry);
    }
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run(args) => run(args),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // PID 1 logs to a serial console read by people and by test harnesses: plain text.
        .with_ansi(std::process::id() != 1 && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(args: RunArgs) -> ExitCode {
    let source = match (args.config, args.config_blob, args.trust) {
        (Some(path), _, _) => ConfigSource::TomlFile(path),
        (None, Some(blob), Some(trust)) => ConfigSource::SignedBlob {
            blob,
            trust,
            board: args.board,
        },
        // clap's argument groups make these unreachable; say so instead of panicking.
        _ => {
            eprintln!("error: give --config FILE.toml or --config-blob BLOB --trust PUBKEYS");
            return ExitCode::from(2);
        }
    };
    let mut config = match load_config(&source) {
        Ok(c) => {
            tracing::info!(config = %c.provenance, "configuration loaded");
            c
        }
        Err(e) => {
            tracing::error!("{e}; not starting");
            return ExitCode::FAILURE;
        }
    };
    config.manage_interfaces = args.manage_interfaces;
    if let (Some(dir), Some(sam)) = (args.state_dir, config.sam.as_mut()) {
        sam.state_dir = Some(dir);
    }
    if let Some(bind) = args.api {
        // The address changes; who may call (token, source allowlist) stays as configured.
        let access = config
            .api
            .take()
            .map(|a| a.access)
            .unwrap_or_else(api::server::Access::open);
        config.api = Some(ApiSettings {
            binds: vec![bind],
            access,
        });
    }
    run_router(config)
}

/// Runs the router with a loaded configuration on a current-thread runtime until
/// SIGTERM or SIGINT. Exit code: success after a clean shutdown, failure when a start
/// step failed (logged). Any entry point that holds a `RouterConfig` runs it this way.
fn run_router(config: router_config::RouterConfig) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config, shutdown_signal())) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}; stopping");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop routerd with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}
