//! The guests' image and disks for the qemu flavour: one `pve-x86_64` image built per run
//! with `routerd-tool image build` (the run's owner key as its trust anchor, the static
//! routerd for the musl target inside), then per router a copy of its disk with the
//! router's signed blob in config slot A, as provisioning a new machine does. The guest
//! keeps its state (SAM registry or enrollment) on the disk's state partition, so a
//! restart from the same disk comes back with it.
//!
//! Everything lives under `secret/` of the run directory: the disks hold the blobs, which
//! hold the run's secrets.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::evidence::RunDir;
use super::lab::run as run_cmd;
use super::netns::DemoError;

/// The board of every guest.
pub(crate) const BOARD: &str = "pve-x86_64";
/// The Rust target of the board's routerd.
pub(crate) const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// The built image: kernel and initramfs for direct boot, and the disk to copy.
#[derive(Debug, Clone)]
pub(crate) struct GuestImage {
    /// The kernel.
    pub(crate) vmlinuz: PathBuf,
    /// The initramfs (routerd as init, the trust anchor).
    pub(crate) initrd: PathBuf,
    /// The raw disk image (no config in it).
    pub(crate) disk: PathBuf,
}

/// The static routerd for the guests: `explicit`, else the newest of
/// `TARGET_DIR/x86_64-unknown-linux-musl/{release,dist}/routerd`, where `TARGET_DIR` is
/// the cargo target directory that holds `tool` (`target/debug/routerd-tool`).
pub(crate) fn find_musl_routerd(tool: &Path, explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--image-routerd {}: no such file", p.display()))
        };
    }
    let target_dir = tool
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot tell the cargo target directory from this program's path")?;
    let candidates = ["release", "dist"]
        .map(|profile| target_dir.join(MUSL_TARGET).join(profile).join("routerd"));
    candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p)))
        .max_by_key(|(time, _)| *time)
        .map(|(_, p)| p.clone())
        .ok_or_else(|| {
            format!(
                "no static routerd for the guests' image at {}; build it with `cargo build --release -p routerd --target {MUSL_TARGET}` (tools/demo.sh does) or pass --image-routerd PATH",
                candidates[0].display()
            )
        })
}

/// Builds the run's image into `secret/image` with `routerd-tool image build`; its log
/// goes to `logs/image-build.log`.
pub(crate) fn build_image(
    run: &RunDir,
    tool: &Path,
    musl_routerd: &Path,
) -> Result<GuestImage, DemoError> {
    let out = run.secret("image");
    let log = run.log("image-build");
    let file = std::fs::File::create(&log).map_err(|source| super::lab::LabError::Io {
        path: log.display().to_string(),
        source,
    })?;
    let status = Command::new(tool)
        .args(["image", "build", "--board", BOARD, "--routerd"])
        .arg(musl_routerd)
        .arg("--trust")
        .arg(run.key("owner.pub"))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .status()
        .map_err(|e| {
            DemoError::Precondition(format!("cannot run routerd-tool image build: {e}"))
        })?;
    if !status.success() {
        return Err(DemoError::Precondition(format!(
            "routerd-tool image build --board {BOARD} failed ({status}); its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )));
    }
    Ok(GuestImage {
        vmlinuz: out.join("vmlinuz"),
        initrd: out.join("initrd.img"),
        disk: out.join(format!("routerd-{BOARD}.img")),
    })
}

/// Copies the image's disk to `secret/disks/<node>.img` and writes `blob` into config
/// slot A (`image_builder::guest::write_config_slot_a`: a bare blob at the start of the
/// emptied config partition, as the image builder places one). Returns the copy.
pub(crate) fn disk_for(
    run: &RunDir,
    image: &GuestImage,
    node: &str,
    blob: &[u8],
) -> Result<PathBuf, DemoError> {
    let dir = run.secret("disks");
    std::fs::create_dir_all(&dir).map_err(|source| super::lab::LabError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let disk = dir.join(format!("{node}.img"));
    let _ = std::fs::remove_file(&disk);
    run_cmd(
        Command::new("cp")
            .arg("--sparse=always")
            .arg(&image.disk)
            .arg(&disk),
    )?;
    image_builder::guest::write_config_slot_a(&disk, blob).map_err(|e| {
        DemoError::Precondition(format!(
            "cannot write the config of {node} into {}: {e}",
            disk.display()
        ))
    })?;
    Ok(disk)
}
