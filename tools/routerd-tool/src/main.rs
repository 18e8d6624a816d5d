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
    about = "Provision, inspect and operate routerd routers",
    after_help = "Commands that talk to a running router (status, peers, routes, enrollment, \
tunnels, kernel, config push|confirm) take --router http://ADDR:PORT and --token-file FILE (the bearer token on its first \
line), print tables by default and the API's JSON with --json.\n\
Exit codes: 0 ok; 1 router refused, unreachable, or the checked condition is not met; 2 usage.\n\
Example: routerd-tool peers --router http://192.0.2.1:7179 --token-file ~/.routerd-token"
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
    /// List a running router's best paths page by page (`--within P`, `--all`), or
    /// explain one prefix: every path and why the others lost (`--prefix P`).
    Routes(routes::Args),
    /// Show SAM enrollment: a leaf's state, expiry and RR set, or an RR's claims.
    Enrollment(enrollment::Args),
    /// Show SAM tunnels: endpoints, WireGuard handshake age, bytes.
    Tunnels(tunnels::Args),
    /// Show the routes a running router's kernel holds from BGP, its connected routes
    /// and links (read back from the kernel).
    Kernel(kernel::Args),
    /// Push a signed config to a running router in try mode, and confirm it.
    Config(config_push::Args),
    /// Build bootable firmware images (`image build --board NAME --out DIR`).
    Image(image::Args),
    /// Run the four-site SAM gate and check it (`demo [--flavour qemu|netns]`).
    Demo(demo::Args),
}

mod config_push;
mod demo;
mod enrollment;
mod image;
mod inspect;
mod kernel;
mod keygen;
mod peers;
mod provision;
mod routes;
mod status;
mod table;
mod tunnels;

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Keygen(a) => keygen::run(a),
        Command::Provision(a) => provision::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Peers(a) => peers::run(a),
        Command::Status(a) => status::run(a),
        Command::Routes(a) => routes::run(a),
        Command::Enrollment(a) => enrollment::run(a),
        Command::Tunnels(a) => tunnels::run(a),
        Command::Kernel(a) => kernel::run(a),
        Command::Config(a) => config_push::run(a),
        Command::Image(a) => image::run(a),
        Command::Demo(a) => demo::run(a),
    };
    std::process::exit(code);
}
