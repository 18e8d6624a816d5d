//! One image build: board -> kernel package -> module closure -> initramfs -> disk ->
//! outputs (`.img`, `.img.gz`, `.qcow2`) -> `manifest.json`.
//!
//! Same inputs (board file, kernel package, routerd binary, config blob, epoch) give
//! byte-identical outputs: every GUID and the FAT volume id derive from a SHA-256 over the
//! inputs, and every timestamp is the `SOURCE_DATE_EPOCH` of the request.
//! Progress lines go to the caller's callback; long steps announce themselves first.

use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::{Compression, GzBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::board::{Architecture, Board, Output};
use crate::disk::{self, DiskError, DiskInputs};
use crate::initramfs::{BOARD_PATH, Initramfs, LOAD_ORDER_PATH, TRUSTED_KEYS_PATH};
use crate::kernel::{self, AptContext, KernelError};

/// Timestamp used when `SOURCE_DATE_EPOCH` is not set: 2024-01-01T00:00:00Z.
pub const DEFAULT_EPOCH: u64 = 1_704_067_200;

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The board.
    pub board: Board,
    /// Directory for the outputs (created).
    pub out_dir: PathBuf,
    /// Cache for downloaded packages and private apt state.
    pub cache_dir: PathBuf,
    /// Use this kernel `.deb` instead of downloading the board's package.
    pub kernel_deb: Option<PathBuf>,
    /// Use this static routerd binary instead of building one with cargo.
    pub routerd: Option<PathBuf>,
    /// Signed config blob to place in config slot A.
    pub config_blob: Option<PathBuf>,
    /// Trust anchors (`owner.pub`: one hex ed25519 public key per line) placed in the
    /// initramfs as `/etc/routerd/trusted-keys`; routerd verifies the config against them.
    pub trusted_keys: Option<PathBuf>,
    /// Workspace root, for `cargo build`.
    pub workspace: PathBuf,
    /// Timestamp for all archive and file system entries.
    pub source_date_epoch: u64,
}

/// One produced file in the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct ManifestFile {
    /// File name inside the output directory.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// One partition in the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct ManifestPartition {
    /// GPT name.
    pub name: String,
    /// Byte offset.
    pub offset: u64,
    /// Length in bytes.
    pub bytes: u64,
}

/// `manifest.json`: what was built from what.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// Board name.
    pub board: String,
    /// Architecture (`x86_64`, `aarch64`).
    pub architecture: String,
    /// Kernel package used.
    pub kernel_package: String,
    /// Kernel release.
    pub kernel_release: String,
    /// Kernel command line.
    pub cmdline: String,
    /// Modules in load order.
    pub modules: Vec<String>,
    /// Whether a config blob was placed in slot A.
    pub config_included: bool,
    /// Whether trust anchors were placed in the initramfs.
    pub trusted_keys_included: bool,
    /// The timestamp used.
    pub source_date_epoch: u64,
    /// Partitions of the disk.
    pub partitions: Vec<ManifestPartition>,
    /// Output files with sizes and checksums.
    pub files: Vec<ManifestFile>,
}

/// Errors of a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Obtaining or preparing the kernel failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Writing the disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// Building routerd failed.
    #[error("building routerd for {target} failed: {message}")]
    Routerd {
        /// Rust target.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// File system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// Runs the whole build and writes `manifest.json`; `progress` receives one line per step.
pub fn build(req: &BuildRequest, progress: &mut dyn FnMut(&str)) -> Result<Manifest, BuildError> {
    let board = &req.board;
    std::fs::create_dir_all(&req.out_dir).map_err(io_err("create output directory"))?;
    let work = req.out_dir.join(".work");
    std::fs::create_dir_all(&work).map_err(io_err("create work directory"))?;
    let debs = req.cache_dir.join("debs");
    let arch = board.architecture.debian();

    let apt = || AptContext::for_arch(arch, &req.cache_dir);
    let (kernel_deb, kernel_package) = match &req.kernel_deb {
        Some(deb) => (
            deb.clone(),
            deb.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        ),
        None => {
            progress(&format!("resolving {} for {arch}", board.kernel_package));
            let apt = apt()?;
            let package = apt.resolve(&board.kernel_package)?;
            progress(&format!(
                "downloading {package} (cached in {})",
                debs.display()
            ));
            (apt.download(&package, &debs)?, package)
        }
    };
    progress("extracting kernel and running depmod");
    let kernel = kernel::extract(&kernel_deb, &work.join("kernel"))?;
    let modules = kernel::module_closure(&kernel, &board.modules)?;
    progress(&format!(
        "kernel {}: {} modules in closure",
        kernel.release,
        modules.len()
    ));

    let routerd = match &req.routerd {
        Some(path) => path.clone(),
        None => build_routerd(req, progress)?,
    };
    let efi_loader = systemd_boot(req, progress)?;

    progress("writing initramfs");
    let mut fs = Initramfs::new();
    let read = |p: &Path| std::fs::read(p).map_err(io_err(format!("read {}", p.display())));
    fs.add_file("init", 0o755, read(&routerd)?);
    let mut order = String::new();
    for m in &modules {
        let data = read(&kernel.modules_dir().join(&m.path))?;
        fs.add_file(
            &format!("lib/modules/{}/{}", kernel.release, m.path),
            0o644,
            data,
        );
        order.push_str(&format!("{}/{}\n", kernel.release, m.path));
    }
    fs.add_file(LOAD_ORDER_PATH, 0o644, order.into_bytes());
    fs.add_file(BOARD_PATH, 0o644, format!("{}\n", board.name).into_bytes());
    if let Some(keys) = &req.trusted_keys {
        fs.add_file(TRUSTED_KEYS_PATH, 0o644, read(keys)?);
    }
    let epoch32 = u32::try_from(req.source_date_epoch).unwrap_or(u32::MAX);
    let initrd_bytes = fs.to_gzip(epoch32).map_err(io_err("compress initramfs"))?;
    let initrd = req.out_dir.join("initrd.img");
    std::fs::write(&initrd, &initrd_bytes).map_err(io_err("write initrd.img"))?;
    let vmlinuz = req.out_dir.join("vmlinuz");
    std::fs::copy(&kernel.image, &vmlinuz).map_err(io_err("copy kernel"))?;

    let config_slot_a = match &req.config_blob {
        Some(p) => Some(read(p)?),
        None => None,
    };
    let mut seed_hash = Sha256::new();
    for part in [
        toml_identity(board).as_bytes(),
        &read(&vmlinuz)?,
        &initrd_bytes,
        &read(&efi_loader)?,
        config_slot_a.as_deref().unwrap_or_default(),
        &req.source_date_epoch.to_le_bytes(),
    ] {
        seed_hash.update(Sha256::digest(part));
    }
    let seed: [u8; 32] = seed_hash.finalize().into();

    let stem = format!("routerd-{}", board.name);
    let image = req.out_dir.join(format!("{stem}.img"));
    progress(&format!("writing {} MiB disk image", board.disk_size_mib));
    let plan = disk::assemble(
        &image,
        &DiskInputs {
            kernel: vmlinuz.clone(),
            initramfs: initrd.clone(),
            efi_loader,
            efi_boot_file: board.architecture.efi_boot_file(),
            legacy_bios: board.architecture.has_legacy_bios(),
            cmdline: board.cmdline(),
            config_slot_a: config_slot_a.clone(),
            disk_bytes: board.disk_size_mib * crate::layout::MIB,
            seed,
            source_date_epoch: req.source_date_epoch,
        },
    )?;

    let mut names = vec!["vmlinuz".to_string(), "initrd.img".to_string()];
    if board.outputs.contains(&Output::RawGz) {
        progress("compressing raw image (.img.gz)");
        gzip_file(&image, &req.out_dir.join(format!("{stem}.img.gz")))?;
        names.push(format!("{stem}.img.gz"));
    }
    if board.outputs.contains(&Output::Qcow2) {
        progress("converting to qcow2");
        let qcow = req.out_dir.join(format!("{stem}.qcow2"));
        let _ = std::fs::remove_file(&qcow);
        kernel::run(
            Command::new("qemu-img")
                .args(["convert", "-f", "raw", "-O", "qcow2", "-c"])
                .arg(&image)
                .arg(&qcow),
        )?;
        names.push(format!("{stem}.qcow2"));
    }
    if board.outputs.contains(&Output::Raw) {
        names.push(format!("{stem}.img"));
    }
    progress("hashing outputs");
    let mut files = Vec::new();
    for name in names {
        let path = req.out_dir.join(&name);
        let data = read(&path)?;
        files.push(ManifestFile {
            name,
            bytes: data.len() as u64,
            sha256: hex(&Sha256::digest(&data)),
        });
    }
    if !board.outputs.contains(&Output::Raw) {
        let _ = std::fs::remove_file(&image);
    }
    let _ = std::fs::remove_dir_all(&work);
    let manifest = Manifest {
        board: board.name.clone(),
        architecture: format!("{:?}", board.architecture).to_lowercase(),
        kernel_package,
        kernel_release: kernel.release.clone(),
        cmdline: board.cmdline(),
        modules: modules.iter().map(|m| m.name.clone()).collect(),
        config_included: config_slot_a.is_some(),
        trusted_keys_included: req.trusted_keys.is_some(),
        source_date_epoch: req.source_date_epoch,
        partitions: plan
            .iter()
            .map(|p| ManifestPartition {
                name: p.name.into(),
                offset: p.offset,
                bytes: p.len,
            })
            .collect(),
        files,
    };
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(req.out_dir.join("manifest.json"), json + "\n")
        .map_err(io_err("write manifest.json"))?;
    Ok(manifest)
}

/// The board fields that affect the image, in a stable text form.
fn toml_identity(board: &Board) -> String {
    format!(
        "{}|{:?}|{}|{}|{}|{}|{:?}",
        board.name,
        board.architecture,
        board.kernel_package,
        board.cmdline(),
        board.disk_size_mib,
        board.rust_target,
        board.modules
    )
}

/// Builds the static routerd for the board's target with the `dist` profile.
fn build_routerd(
    req: &BuildRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    let target = &req.board.rust_target;
    progress(&format!(
        "building routerd for {target} (cargo --profile dist; this takes a while)"
    ));
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&req.workspace).args([
        "build",
        "--quiet",
        "--profile",
        "dist",
        "-p",
        "routerd",
        "--target",
        target,
    ]);
    if req.board.architecture == Architecture::Aarch64 {
        cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")
            .env("CC_aarch64_unknown_linux_musl", "aarch64-linux-gnu-gcc");
    }
    let status = cmd.status().map_err(|e| BuildError::Routerd {
        target: target.clone(),
        message: e.to_string(),
    })?;
    if !status.success() {
        return Err(BuildError::Routerd {
            target: target.clone(),
            message: status.to_string(),
        });
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| req.workspace.join("target"));
    Ok(target_dir.join(target).join("dist").join("routerd"))
}

/// systemd-boot for the board's architecture, from Debian's `systemd-boot-efi` package.
fn systemd_boot(req: &BuildRequest, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, BuildError> {
    let arch = req.board.architecture.debian();
    let file = match req.board.architecture {
        Architecture::X86_64 => "systemd-bootx64.efi",
        Architecture::Aarch64 => "systemd-bootaa64.efi",
    };
    let extracted = req.cache_dir.join(format!("systemd-boot-{arch}"));
    let path = extracted.join("usr/lib/systemd/boot/efi").join(file);
    if path.is_file() {
        return Ok(path);
    }
    progress(&format!("downloading systemd-boot-efi for {arch}"));
    let apt = AptContext::for_arch(arch, &req.cache_dir)?;
    let deb = apt.download("systemd-boot-efi", &req.cache_dir.join("debs").join(arch))?;
    kernel::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted))?;
    if !path.is_file() {
        return Err(BuildError::Io {
            context: format!("systemd-boot-efi for {arch} has no {file}"),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    Ok(path)
}

fn gzip_file(from: &Path, to: &Path) -> Result<(), BuildError> {
    let mut input = std::fs::File::open(from).map_err(io_err("open raw image"))?;
    let output = std::fs::File::create(to).map_err(io_err("create .img.gz"))?;
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(std::io::BufWriter::new(output), Compression::new(6));
    std::io::copy(&mut input, &mut gz).map_err(io_err("compress raw image"))?;
    gz.finish().map_err(io_err("finish .img.gz"))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
