//! Disk assembly without root or loop devices: GPT by code, the ESP formatted in place with
//! `mkfs.vfat --offset` and filled with `mcopy -i IMG@@OFFSET` (dosfstools, mtools), the
//! legacy BIOS path with `syslinux --offset` plus `gptmbr.bin` (x86 only), the config
//! partition written directly, and the state partition formatted as an empty ext4 file
//! system in place with `mke2fs -E offset=` (e2fsprogs), which init mounts at
//! [`crate::layout::STATE_MOUNT`].
//!
//! Boot paths, sharing one kernel and one initramfs on the ESP:
//! - UEFI: systemd-boot as `\EFI\BOOT\BOOTX64.EFI` / `BOOTAA64.EFI` with a type #1 entry
//!   (`loader/entries/routerd.conf`) that loads `\vmlinuz` (EFI stub) and `\initrd.img`.
//! - BIOS: `gptmbr.bin` -> the legacy-BIOS-bootable ESP -> syslinux -> `/syslinux.cfg`.
//!
//! Reproducibility: `mkfs.vfat --invariant` with a volume id from the seed,
//! `SOURCE_DATE_EPOCH` for every timestamp mtools writes (syslinux calls mtools too), and
//! for ext4 a UUID and directory hash seed from the seed plus `E2FSPROGS_FAKE_TIME`.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::gpt::{self, Guid};
use crate::kernel::{KernelError, run};
use crate::layout::{self, CONFIG_NAME, ESP_NAME, Placed, STATE_NAME};

/// Where syslinux's GPT-aware MBR boot code lives on Debian.
pub const GPTMBR_PATH: &str = "/usr/lib/syslinux/mbr/gptmbr.bin";

/// Everything the disk needs, already prepared.
#[derive(Clone, Debug)]
pub struct DiskInputs {
    /// Kernel image (EFI-stub capable).
    pub kernel: PathBuf,
    /// Compressed initramfs.
    pub initramfs: PathBuf,
    /// systemd-boot EFI binary for the architecture.
    pub efi_loader: PathBuf,
    /// Removable-media boot file name (`BOOTX64.EFI`).
    pub efi_boot_file: &'static str,
    /// Install the legacy BIOS path (syslinux).
    pub legacy_bios: bool,
    /// Kernel command line.
    pub cmdline: String,
    /// Signed config blob for slot A, if any.
    pub config_slot_a: Option<Vec<u8>>,
    /// Total disk size in bytes.
    pub disk_bytes: u64,
    /// 32 bytes derived from all inputs: disk GUID, partition GUIDs, FAT volume id.
    pub seed: [u8; 32],
    /// Timestamp for every file system entry (seconds since 1970).
    pub source_date_epoch: u64,
}

/// Errors of assembling the disk.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// A tool failed.
    #[error(transparent)]
    Tool(#[from] KernelError),
    /// The layout does not fit.
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
    /// The config blob is larger than a slot.
    #[error("config blob of {0} bytes does not fit a {1}-byte slot")]
    ConfigTooLarge(usize, u64),
    /// File system error.
    #[error("writing disk image {path}: {source}")]
    Io {
        /// The image.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Writes the disk image to `image` and returns the placed partitions.
pub fn assemble(image: &Path, inputs: &DiskInputs) -> Result<Vec<Placed>, DiskError> {
    let io = |source| DiskError::Io {
        path: image.into(),
        source,
    };
    let plan = layout::plan(inputs.disk_bytes)?;
    let part = |name: &str| plan.iter().find(|p| p.name == name).cloned();
    let (Some(esp), Some(config), Some(state)) =
        (part(ESP_NAME), part(CONFIG_NAME), part(STATE_NAME))
    else {
        unreachable!("layout::plan always places the ESP, the config and the state partition");
    };

    let _ = std::fs::remove_file(image);
    let mut file = File::create(image).map_err(io)?;
    file.set_len(inputs.disk_bytes).map_err(io)?;
    if inputs.legacy_bios {
        let mbr = std::fs::read(GPTMBR_PATH).map_err(io)?;
        file.write_all(&mbr[..mbr.len().min(440)]).map_err(io)?;
    }
    let mut disk_seed = [0u8; 16];
    disk_seed.copy_from_slice(&inputs.seed[..16]);
    let mut part_seed = [0u8; 16];
    part_seed.copy_from_slice(&inputs.seed[16..]);
    let entries = layout::entries(&plan, part_seed);
    gpt::write(
        &mut file,
        inputs.disk_bytes,
        Guid::derived(disk_seed),
        &entries,
    )
    .map_err(io)?;
    if let Some(blob) = &inputs.config_slot_a {
        if blob.len() as u64 > layout::CONFIG_SLOT_BYTES {
            return Err(DiskError::ConfigTooLarge(
                blob.len(),
                layout::CONFIG_SLOT_BYTES,
            ));
        }
        file.seek(SeekFrom::Start(config.offset)).map_err(io)?;
        file.write_all(blob).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    drop(file);

    write_esp(image, &esp, inputs)?;
    write_state(image, &state, inputs)?;
    Ok(plan)
}

/// Formats the state partition as an empty ext4 file system labelled like the partition.
fn write_state(image: &Path, state: &Placed, inputs: &DiskInputs) -> Result<(), DiskError> {
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&inputs.seed[8..24]);
    let uuid = Guid::derived(uuid).to_string().to_ascii_lowercase();
    run(Command::new("mke2fs")
        .env("E2FSPROGS_FAKE_TIME", inputs.source_date_epoch.to_string())
        .args([
            "-q", "-F", "-t", "ext4", "-b", "4096", "-L", STATE_NAME, "-U", &uuid,
        ])
        .arg("-E")
        .arg(format!(
            "offset={},hash_seed={uuid},root_owner=0:0,lazy_itable_init=0,nodiscard",
            state.offset
        ))
        .arg(image)
        .arg(format!("{}k", state.len / 1024)))?;
    Ok(())
}

fn write_esp(image: &Path, esp: &Placed, inputs: &DiskInputs) -> Result<(), DiskError> {
    let volume_id = format!(
        "{:02X}{:02X}{:02X}{:02X}",
        inputs.seed[0], inputs.seed[1], inputs.seed[2], inputs.seed[3]
    );
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "ROUTERD", "--invariant", "-i", &volume_id])
        .arg(format!("--offset={}", esp.offset / gpt::SECTOR))
        .arg(image)
        .arg((esp.len / 1024).to_string()))?;

    let target = format!("{}@@{}", image.display(), esp.offset);
    let epoch = inputs.source_date_epoch.to_string();
    let mtools = |tool: &str| {
        let mut cmd = Command::new(tool);
        cmd.env("SOURCE_DATE_EPOCH", &epoch)
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&target);
        cmd
    };
    run(mtools("mmd").args(["::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"]))?;

    let staging = image.with_extension("esp-files");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|source| DiskError::Io {
        path: staging.clone(),
        source,
    })?;
    let write = |name: &str, text: String| {
        let path = staging.join(name);
        std::fs::write(&path, text)
            .map(|()| path)
            .map_err(|source| DiskError::Io {
                path: staging.clone(),
                source,
            })
    };
    let loader_conf = write("loader.conf", "timeout 0\ndefault routerd.conf\n".into())?;
    let entry = write(
        "routerd.conf",
        format!(
            "title routerd\nlinux /vmlinuz\ninitrd /initrd.img\noptions {}\n",
            inputs.cmdline
        ),
    )?;
    let copies: Vec<(PathBuf, String)> = vec![
        (
            inputs.efi_loader.clone(),
            format!("::/EFI/BOOT/{}", inputs.efi_boot_file),
        ),
        (loader_conf, "::/loader/loader.conf".into()),
        (entry, "::/loader/entries/routerd.conf".into()),
        (inputs.kernel.clone(), "::/vmlinuz".into()),
        (inputs.initramfs.clone(), "::/initrd.img".into()),
    ];
    for (from, to) in &copies {
        run(mtools("mcopy").arg("-o").arg(from).arg(to))?;
    }
    if inputs.legacy_bios {
        let serial = inputs
            .cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix("console=ttyS"))
            .map(|c| {
                let (port, speed) = c.split_once(',').unwrap_or((c, "115200"));
                let speed: String = speed.chars().take_while(char::is_ascii_digit).collect();
                format!("SERIAL {port} {speed}\n")
            })
            .unwrap_or_default();
        let cfg = write(
            "syslinux.cfg",
            format!(
                "{serial}DEFAULT routerd\nPROMPT 0\nTIMEOUT 0\nLABEL routerd\n  LINUX /vmlinuz\n  INITRD /initrd.img\n  APPEND {}\n",
                inputs.cmdline
            ),
        )?;
        run(mtools("mcopy").arg("-o").arg(&cfg).arg("::/syslinux.cfg"))?;
        run(Command::new("syslinux")
            .env("SOURCE_DATE_EPOCH", &epoch)
            .arg("--offset")
            .arg(esp.offset.to_string())
            .arg("--install")
            .arg(image))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    // mkfs/mtools/syslinux opened the image by path; make sure it is still the full size.
    let len = OpenOptions::new()
        .read(true)
        .open(image)
        .and_then(|f| f.metadata())
        .map_err(|source| DiskError::Io {
            path: image.into(),
            source,
        })?
        .len();
    if len != inputs.disk_bytes {
        return Err(DiskError::Io {
            path: image.into(),
            source: std::io::Error::other(format!("image grew to {len} bytes")),
        });
    }
    Ok(())
}
