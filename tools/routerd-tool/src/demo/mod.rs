//! `routerd-tool demo`: the four-site SAM gate. One RR and four leaves (one behind NAT),
//! a client behind each leaf; every router runs from a blob signed with a fresh owner
//! key; the demo checks enrollment, dynamic peers, route admission, installed routes and
//! all 12 directed client pairs, kills and restarts the RR, checks again, saves the
//! evidence in a run directory and removes everything else it created.
//!
//! Modules: [`plan`] (addresses, secrets, configs), [`lab`] (namespaces and processes,
//! removed on exit or Ctrl-C), [`topology`], [`observe`] (API documents, kernel routes),
//! [`checks`], [`kernel_agreement`] and [`persisted`] (the assertions, pure), [`matrix`] (client probes),
//! [`evidence`] (run directory), [`netns`] (the network-namespace flavour, start to end:
//! [`fabric`] runs the routers, [`phases`] drives the checks),
//! [`report`] (what is printed), [`internal`] (helpers run inside namespaces).
//!
//! Exit codes: 0 every assertion holds, 1 an assertion failed, 2 the demo could not run
//! (not root, a binary or tool missing, a setup step failed; the message says which).

mod checks;
mod evidence;
mod fabric;
mod internal;
mod kernel_agreement;
mod lab;
mod matrix;
mod netns;
mod observe;
mod persisted;
mod phases;
mod plan;
mod report;
mod topology;

use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `routerd-tool demo`.
#[derive(clap::Args)]
#[command(
    about = "Run the four-site SAM gate (RR + four leaves, one behind NAT) and check it",
    after_help = "Builds one RR and four leaf routers (aws, azure, oci, and pve behind a NAT \
router) with a client behind each leaf, signs every config with a fresh owner key, starts \
the routers from their blobs, and checks: the RR blob holds no claims and no per-leaf peers; \
all leaves enrolled; four dynamic peers Established; exactly the four client /32s accepted; \
every leaf has every /32; all 12 directed client pairs pass ping and TCP. Then it kills the \
RR, reports what the leaves kept, restarts the RR from the same blob and state, and checks \
again without re-enrollment. Evidence goes to the run directory.\n\n\
Flavours: `netns` runs routerd processes in network namespaces on the userspace datapath \
(needs root, ip, nft, ping; build routerd first: cargo build --bin routerd). `qemu` runs \
every router as a QEMU guest. `auto` picks qemu when it works here, else netns.\n\n\
Examples:\n  routerd-tool demo\n  routerd-tool demo --flavour netns --run-dir /tmp/gate --json\n\n\
Exit codes: 0 all assertions hold, 1 an assertion failed, 2 the demo could not run."
)]
pub(crate) struct Args {
    /// Which flavour of the gate to run.
    #[arg(long, value_enum, default_value = "auto")]
    flavour: Flavour,
    /// Where keys, logs and evidence go [default: target/gate-<unix time>].
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Keep the topology running after the checks (remove it with Ctrl-C) and keep the
    /// run's configs and blobs (with secrets) in the run directory.
    #[arg(long)]
    keep: bool,
    /// Print the result as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
    /// The routerd binary [default: next to routerd-tool].
    #[arg(long, value_name = "PATH")]
    routerd: Option<PathBuf>,
    #[command(subcommand)]
    internal: Option<Hidden>,
}

/// The gate's flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Flavour {
    /// qemu when a QEMU guest of the image works here, else netns.
    Auto,
    /// Every router a QEMU guest of the pve-x86_64 image (kernel IPIP inside WireGuard).
    Qemu,
    /// routerd processes in network namespaces, userspace datapath.
    Netns,
}

#[derive(clap::Subcommand)]
enum Hidden {
    /// Helpers the demo runs inside its namespaces.
    #[command(hide = true, subcommand)]
    Internal(internal::Internal),
}

/// Progress lines with the time since the start.
pub(crate) struct Progress {
    start: Instant,
    to_stderr: bool,
}

impl Progress {
    /// Prints one progress line.
    pub(crate) fn say(&self, message: &str) {
        let line = format!("[{:6.1}s] {message}", self.start.elapsed().as_secs_f64());
        if self.to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Seconds since the start.
    pub(crate) fn elapsed_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    if let Some(Hidden::Internal(helper)) = args.internal {
        return internal::run(helper);
    }
    let progress = Progress {
        start: Instant::now(),
        to_stderr: args.json,
    };
    let flavour = match args.flavour {
        Flavour::Qemu => {
            eprintln!(
                "error: the qemu flavour is not available in this routerd-tool yet; run `routerd-tool demo --flavour netns`"
            );
            return 2;
        }
        Flavour::Auto => {
            progress.say(
                "flavour: netns (auto: the qemu flavour is not available in this routerd-tool yet)",
            );
            "netns"
        }
        Flavour::Netns => {
            progress.say("flavour: netns");
            "netns"
        }
    };
    let run_dir = args.run_dir.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("target/gate-{secs}"))
    });
    let settings = netns::Settings {
        run_dir,
        keep: args.keep,
        routerd: args.routerd.clone(),
    };
    match netns::run(&settings, &progress) {
        Ok(outcome) => {
            lab::yield_to_interrupt();
            let code = if outcome.all_pass() { 0 } else { 1 };
            report::finish(&outcome, flavour, &progress, args.json);
            if args.keep {
                outcome.keep_running(&progress);
            }
            code
        }
        Err(e) => {
            lab::yield_to_interrupt();
            eprintln!("error: {e}");
            2
        }
    }
}
