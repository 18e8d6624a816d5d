//! `routerd-tool`: the operator's command line for routerd.
//!
//! Each subcommand lives in its own module; this file only parses arguments and maps
//! results to exit codes (0 success, 1 failure of the checked condition, 2 usage or
//! input error).

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "routerd-tool",
    version,
    about = "Provision, inspect and operate routerd routers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an owner key pair for signing configs.
    Keygen(keygen::Args),
    /// Validate, sign and write a router config.
    Provision(provision::Args),
    /// Verify a signed config blob or image and print it.
    Inspect(inspect::Args),
    /// Show per-peer BGP state and prefix counts of a running router.
    Peers(peers::Args),
    /// Show mode, uptime, route count and peer summary of a running router.
    Status(status::Args),
    /// Show every path a running router holds for one prefix, and why the others lost.
    Routes(routes::Args),
    /// Build bootable firmware images (`image build --board NAME --out DIR`).
    Image(image::Args),
    /// Run the four-site SAM gate and check it (`demo [--flavour qemu|netns]`).
    Demo(demo::Args),
}

mod demo;
mod image;
mod inspect;
mod keygen;
mod peers;
mod provision;
mod routes;
mod status;

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Provision(a) => provision::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Peers(a) => peers::run(a),
        Command::Status(a) => status::run(a),
        Command::Routes(a) => routes::run(a),
        Command::Image(a) => image::run(a),
        Command::Demo(a) => demo::run(a),
    };
    std::process::exit(code);
}
