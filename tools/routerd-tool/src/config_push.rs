//! `routerd-tool config push BLOB` and `routerd-tool config confirm`: signed config push
//! in try mode.
//!
//! `push` sends a signed blob (`routerd-tool provision --out`) to the router, which
//! verifies it exactly as at boot and runs it; unless `confirm` follows within the
//! config's `try_revert_secs`, the router returns to the previous config by itself. Only
//! a confirmed config is written to the router's storage. Exit codes: 0 accepted,
//! 1 the router refused (the message says why and what to do) or is unreachable,
//! 2 usage (unreadable blob or token file, bad URL).

use crate::status::{ApiArgs, connect, exit_code};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Send a signed config blob; it runs in try mode until confirmed or reverted.
    #[command(after_help = "Example:\n  \
routerd-tool provision --config rr.toml --key owner.key --out rr.blob\n  \
routerd-tool config push rr.blob --router http://198.51.100.10:8080 --token-file token\n  \
routerd-tool status --router http://198.51.100.10:8080 --token-file token   (check it)\n  \
routerd-tool config confirm --router http://198.51.100.10:8080 --token-file token")]
    Push(PushArgs),
    /// Keep the config being tried and write it to the router's storage.
    Confirm(ConfirmArgs),
}

/// Arguments of `config push`.
#[derive(clap::Args)]
struct PushArgs {
    /// The signed blob (`routerd-tool provision --out BLOB`).
    #[arg(value_name = "BLOB")]
    blob: std::path::PathBuf,
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `config confirm`.
#[derive(clap::Args)]
struct ConfirmArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    match args.command {
        Command::Push(a) => push(a),
        Command::Confirm(a) => confirm(a),
    }
}

fn push(args: PushArgs) -> i32 {
    let blob = match std::fs::read(&args.blob) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read blob {}: {e}", args.blob.display());
            return 2;
        }
    };
    let client = match connect(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.push_config(&blob) {
        Ok(a) if args.json => {
            println!("{}", serde_json::to_string_pretty(&a).unwrap_or_default());
            0
        }
        Ok(a) => {
            println!(
                "trying serial {} (was {}): reverts in {}s unless confirmed",
                a.serial, a.previous_serial, a.reverts_in_secs
            );
            for line in &a.not_applied_live {
                println!("at next start: {line}");
            }
            println!("confirm with: routerd-tool config confirm --router URL --token-file F");
            0
        }
        Err(e) => exit_code(&e),
    }
}

fn confirm(args: ConfirmArgs) -> i32 {
    let client = match connect(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.confirm_config() {
        Ok(c) if args.json => {
            println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
            0
        }
        Ok(c) => {
            println!("confirmed serial {}", c.serial);
            for path in &c.written_to {
                println!("written to {path}");
            }
            0
        }
        Err(e) => exit_code(&e),
    }
}
