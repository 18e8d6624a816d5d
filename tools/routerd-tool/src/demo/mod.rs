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
//! [`report`] (what is printed), [`internal`] (helpers run inside namespaces);
//! [`guest_flavour`] (the qemu flavour, start to end: [`guest_disks`] makes the image and
//! the routers' disks, [`guest_lab`] the namespaces around the guests, [`guest_fabric`]
//! runs the guests; the same [`phases`] drive the checks).
//!
//! Exit codes: 0 every assertion holds, 1 an assertion failed, 2 the demo could not run
//! (not root, a binary or tool missing, a setup step failed; the message says which).

mod checks;
mod evidence;
mod fabric;
mod guest_disks;
mod guest_fabric;
mod guest_flavour;
mod guest_lab;
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
every router as a QEMU guest of the pve-x86_64 image on the kernel datapath (needs root, \
qemu-system-x86_64, dnsmasq and the static routerd for the image: cargo build --release \
-p routerd --target x86_64-unknown-linux-musl). `auto` picks qemu when it can run here, \
else netns, and says why.\n\n\
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
    /// qemu flavour: the static routerd put into the guests' image [default: the newest
    /// of target/x86_64-unknown-linux-musl/{release,dist}/routerd].
    #[arg(long, value_name = "PATH")]
    image_routerd: Option<PathBuf>,
    #[command(subcommand)]
    internal: Option<Hidden>,
}

/// The gate's flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Flavour {
    /// qemu when it can run here (root, QEMU, the image's routerd), else netns.
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
    let tool = std::env::current_exe().unwrap_or_default();
    let flavour = match args.flavour {
        Flavour::Qemu => {
            progress.say("flavour: qemu");
            "qemu"
        }
        Flavour::Auto => match guest_flavour::usable(&tool, args.image_routerd.as_deref()) {
            Ok(_) => {
                progress.say("flavour: qemu (auto: QEMU, root and the image's routerd are here)");
                "qemu"
            }
            Err(why) => {
                progress.say(&format!(
                    "flavour: netns (auto: the qemu flavour cannot run: {why})"
                ));
                "netns"
            }
        },
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
    let outcome = if flavour == "qemu" {
        guest_flavour::run(&settings, args.image_routerd.as_deref(), &progress)
    } else {
        netns::run(&settings, &progress)
    };
    match outcome {
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
