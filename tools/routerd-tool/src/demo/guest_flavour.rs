//! The `qemu` flavour from start to end: the same topology and assertions as the netns
//! flavour, with every router a QEMU guest of the `pve-x86_64` image on the kernel
//! datapath (kernel IPIP inside kernel WireGuard).
//!
//! Call order inside [`run`]: preflight (root, QEMU, dnsmasq, the static routerd for the
//! image) → keygen, configs, provision, inspect (assertion 1) → one image build with the
//! run's owner key as trust anchor → per router a disk copy with its blob in config slot
//! A → namespaces, bridges and taps, NAT router with DHCP, clients and their echo
//! listeners → five guests → the shared phases ([`super::phases`]) → evidence check (7).
//! Everything created (QEMU processes included) is owned by the [`Lab`] inside the
//! returned [`Outcome`] and removed when it drops.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Progress;
use super::checks;
use super::evidence::RunDir;
use super::guest_disks::{self, GuestImage};
use super::guest_fabric::{GuestRouter, Guests};
use super::guest_lab;
use super::lab::{Lab, run as run_cmd};
use super::netns::{DemoError, Outcome, Settings, prepare, start_echo_listeners};
use super::observe::Observer;
use super::phases::{evidence_saved, phases};
use super::plan::{Placement, SITES, Secrets};

/// Why the qemu flavour cannot run here, or the static routerd for the guests' image.
pub(crate) fn usable(tool: &Path, image_routerd: Option<&Path>) -> Result<PathBuf, String> {
    let uid = run_cmd(Command::new("id").arg("-u")).unwrap_or_default();
    if uid.trim() != "0" {
        return Err("not root (the guests' taps live in network namespaces)".into());
    }
    for (program, probe) in [
        ("qemu-system-x86_64", "--version"),
        ("dnsmasq", "--version"),
        ("ip", "-V"),
        ("nft", "--version"),
        ("ping", "-V"),
    ] {
        if run_cmd(Command::new(program).arg(probe)).is_err() {
            return Err(format!(
                "`{program}` is missing (tools/setup.sh installs it)"
            ));
        }
    }
    guest_disks::find_musl_routerd(tool, image_routerd)
}

/// Runs the qemu flavour.
pub(crate) fn run(
    settings: &Settings,
    image_routerd: Option<&Path>,
    progress: &Progress,
) -> Result<Outcome, DemoError> {
    let tool = std::env::current_exe()
        .map_err(|e| DemoError::Precondition(format!("cannot find this program's path: {e}")))?;
    let musl_routerd = usable(&tool, image_routerd)
        .map_err(|why| DemoError::Precondition(format!("the qemu flavour cannot run: {why}")))?;
    let run = RunDir::create(&settings.run_dir)?;
    progress.say(&format!("run directory {}", run.root.display()));
    let mut outcome = Outcome {
        assertions: Vec::new(),
        matrices: Vec::new(),
        notes: Vec::new(),
        run: run.clone(),
        lab: Lab::new(),
        keep: settings.keep,
    };
    let secrets = Secrets::generate().map_err(|e| {
        DemoError::Precondition(format!("no randomness for the run's secrets: {e}"))
    })?;
    let inspected = prepare(&run, &tool, &secrets, false, Placement::Guest, progress)?;
    outcome.assertions.push(checks::rr_blob_shape(&inspected));

    progress.say(&format!(
        "building the {} image (routerd-tool image build, routerd {}, trust keys/owner.pub)",
        guest_disks::BOARD,
        musl_routerd.display()
    ));
    let image = guest_disks::build_image(&run, &tool, &musl_routerd)?;
    let mut disks = Vec::new();
    for node in std::iter::once("rr".to_string()).chain(SITES.iter().map(|s| s.leaf_node())) {
        let blob_path = run.secret(&format!("{node}.blob"));
        let blob = std::fs::read(&blob_path).map_err(|source| super::lab::LabError::Io {
            path: blob_path.display().to_string(),
            source,
        })?;
        disks.push(guest_disks::disk_for(&run, &image, &node, &blob)?);
    }
    progress.say("image built; 5 disks, each with its router's signed blob in config slot A");

    progress.say("building namespaces: vm (bridges and taps), NAT router with DHCP, 4 clients");
    let topo = guest_lab::build(&outcome.lab, &run)?;
    start_echo_listeners(&outcome.lab, &run, &tool, &topo.clients)?;
    let mut guests = guests(&outcome.lab, &run, progress, topo, &tool, image, disks);
    let result = guests.start_all().and_then(|()| phases(&mut guests));
    outcome.record(result)?;
    outcome
        .assertions
        .push(evidence_saved(&run, &secrets, &outcome.assertions, "qemu"));
    Ok(outcome)
}

/// The five guests (not started yet); `disks` in order RR, then `SITES`.
fn guests<'a>(
    lab: &'a Lab,
    run: &'a RunDir,
    progress: &'a Progress,
    topo: guest_lab::GuestTopology,
    tool: &Path,
    image: GuestImage,
    mut disks: Vec<PathBuf>,
) -> Guests<'a> {
    let rr = GuestRouter::rr(disks.remove(0), &topo);
    let leaves = disks
        .into_iter()
        .enumerate()
        .map(|(i, disk)| GuestRouter::leaf(i, disk, &topo))
        .collect();
    Guests {
        lab,
        run,
        progress,
        observer: Observer {
            lab,
            tool: tool.to_path_buf(),
            token_file: run.secret("api.token"),
        },
        topo,
        image,
        rr,
        leaves,
        rr_down: false,
    }
}
