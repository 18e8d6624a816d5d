//! `routerd-tool peers`: per-peer state and prefix counts.

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {}

/// Runs the command; returns the exit code.
pub(crate) fn run(_args: Args) -> i32 {
    eprintln!("peers: not implemented yet");
    2
}
