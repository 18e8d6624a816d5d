//! QEMU guests of built images, for the host tools and tests that boot them
//! (`routerd-tool demo --flavour qemu`, the `system-tests` guest targets): the QEMU
//! command line, tap NICs, and the config blob written into slot A of a disk copy.
//!
//! Always TCG: on the machines this project runs on, `/dev/kvm` is a nested software
//! hypervisor that cannot boot a guest, so it is never chosen from its mere presence.
//! Guests get `-nic none` unless the caller adds netdevs (dgram on 127.0.0.1 or taps
//! inside a namespace the caller made); user-mode networking is never used.
//!
//! Call order: [`command`] gives the QEMU command for a [`GuestSpec`] (the caller spawns
//! it, owns the process and kills it by PID); [`write_config_slot_a`] prepares a disk
//! before its guest starts.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Guest CPU architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `qemu-system-x86_64 -M q35`, console `ttyS0`.
    X86_64,
    /// `qemu-system-aarch64 -M virt -cpu cortex-a57`, console `ttyAMA0`.
    Aarch64,
}

impl Arch {
    /// The QEMU system emulator of the architecture.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }
}

/// How the guest boots.
#[derive(Clone, Debug)]
pub enum Boot {
    /// `-kernel/-initrd/-append`, optionally with the disk attached as virtio.
    Direct {
        /// Kernel image.
        kernel: PathBuf,
        /// Initramfs.
        initrd: PathBuf,
        /// Kernel command line.
        append: String,
    },
    /// UEFI firmware (OVMF / AAVMF) booting the disk.
    Uefi,
    /// Legacy BIOS (SeaBIOS) booting the disk.
    Bios,
}

/// How the disk is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskMode {
    /// Behind a throwaway copy-on-write overlay in the scratch directory: the image file
    /// is never written.
    Overlay,
    /// The raw image itself: the guest's writes land in the file and survive the guest,
    /// as on a real disk (state across restarts, power cuts).
    InPlace,
}

/// A guest to start.
#[derive(Clone, Debug)]
pub struct GuestSpec {
    /// Architecture.
    pub arch: Arch,
    /// Boot method.
    pub boot: Boot,
    /// Disk image attached as a virtio disk.
    pub disk: Option<PathBuf>,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Extra QEMU arguments (`-cpu max`, netdevs...).
    pub extra: Vec<String>,
    /// Network namespace to run QEMU in (`ip netns exec`, which execs QEMU in place, so
    /// the child's PID is QEMU's), so that `-netdev tap` devices are the namespace's own;
    /// `None`: the caller's namespace.
    pub netns: Option<String>,
}

/// The QMP socket of a guest whose scratch directory is `scratch`.
pub fn qmp_socket(scratch: &Path) -> PathBuf {
    scratch.join("qmp.sock")
}

/// The QEMU command for `spec`: serial console on stdout, QMP on
/// [`qmp_socket`]`(scratch)`, `-no-reboot`; with [`DiskMode::Overlay`] the overlay (and
/// for UEFI the firmware variables copy) is made in `scratch`, which must exist. Stdin
/// is null; stdout and stderr are left for the caller to set.
pub fn command(spec: &GuestSpec, scratch: &Path, disk_mode: DiskMode) -> std::io::Result<Command> {
    let binary = spec.arch.qemu_binary();
    let machine: &[&str] = match spec.arch {
        Arch::X86_64 => &["-M", "q35"],
        Arch::Aarch64 => &["-M", "virt", "-cpu", "cortex-a57"],
    };
    let mut cmd = match &spec.netns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, binary]);
            cmd
        }
        None => Command::new(binary),
    };
    cmd.args(machine)
        .args([
            "-accel",
            "tcg",
            "-smp",
            "1",
            "-m",
            &spec.memory_mib.to_string(),
        ])
        .args([
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
        ])
        .arg("-qmp")
        .arg(format!(
            "unix:{},server=on,wait=off",
            qmp_socket(scratch).display()
        ));
    if !spec.extra.iter().any(|a| a == "-netdev" || a == "-nic") {
        cmd.args(["-nic", "none"]);
    }
    cmd.args(&spec.extra);
    match &spec.boot {
        Boot::Direct {
            kernel,
            initrd,
            append,
        } => {
            cmd.arg("-kernel")
                .arg(kernel)
                .arg("-initrd")
                .arg(initrd)
                .arg("-append")
                .arg(append);
        }
        Boot::Uefi => {
            let (code, vars) = match spec.arch {
                Arch::X86_64 => (
                    "/usr/share/OVMF/OVMF_CODE_4M.fd",
                    "/usr/share/OVMF/OVMF_VARS_4M.fd",
                ),
                Arch::Aarch64 => (
                    "/usr/share/AAVMF/AAVMF_CODE.fd",
                    "/usr/share/AAVMF/AAVMF_VARS.fd",
                ),
            };
            let copy = scratch.join("vars.fd");
            std::fs::copy(vars, &copy)?;
            cmd.arg("-drive")
                .arg(format!("if=pflash,format=raw,readonly=on,file={code}"))
                .arg("-drive")
                .arg(format!("if=pflash,format=raw,file={}", copy.display()));
        }
        Boot::Bios => {}
    }
    if let Some(disk) = &spec.disk {
        match disk_mode {
            DiskMode::InPlace => {
                cmd.arg("-drive")
                    .arg(format!("file={},format=raw,if=virtio", disk.display()));
            }
            DiskMode::Overlay => {
                let overlay = scratch.join("disk.qcow2");
                let status = Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
                    .arg(std::path::absolute(disk)?)
                    .arg(&overlay)
                    .status()?;
                if !status.success() {
                    return Err(std::io::Error::other("qemu-img create overlay failed"));
                }
                cmd.arg("-drive")
                    .arg(format!("file={},format=qcow2,if=virtio", overlay.display()));
            }
        }
    }
    cmd.stdin(Stdio::null());
    Ok(cmd)
}

/// `-netdev tap` + `virtio-net-pci` arguments for `nics` (`(tap, MAC)`, in order): NIC
/// `i` uses netdev id `n<i>`; the taps must exist in the namespace QEMU runs in.
pub fn tap_nics(nics: &[(String, String)]) -> Vec<String> {
    let mut args = Vec::new();
    for (i, (tap, mac)) in nics.iter().enumerate() {
        args.push("-netdev".to_string());
        args.push(format!("tap,id=n{i},ifname={tap},script=no,downscript=no"));
        args.push("-device".to_string());
        args.push(format!("virtio-net-pci,netdev=n{i},mac={mac}"));
    }
    args
}

/// Empties the config partition of `disk` and writes `blob` at its start: config slot A
/// holds the blob bare (as the image builder places one) and slot B is empty, so the
/// next boot verifies exactly this blob.
pub fn write_config_slot_a(disk: &Path, blob: &[u8]) -> std::io::Result<()> {
    let (offset, len) = crate::layout::find_partition(disk, crate::layout::CONFIG_NAME)?
        .ok_or_else(|| std::io::Error::other("the disk has no config partition"))?;
    if blob.len() as u64 > len / 2 {
        return Err(std::io::Error::other(format!(
            "the blob ({} bytes) does not fit in one config slot ({} bytes)",
            blob.len(),
            len / 2
        )));
    }
    let mut file = std::fs::OpenOptions::new().write(true).open(disk)?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(&vec![0u8; len as usize])?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(blob)?;
    file.sync_all()
}

/// True when the QEMU system emulator for `arch` runs (`--version`).
pub fn available(arch: Arch) -> bool {
    Command::new(arch.qemu_binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_direct_boot_in_a_namespace_runs_qemu_there_with_taps_and_no_user_networking() {
        let spec = GuestSpec {
            arch: Arch::X86_64,
            boot: Boot::Direct {
                kernel: "vmlinuz".into(),
                initrd: "initrd.img".into(),
                append: "console=ttyS0".into(),
            },
            disk: Some("disk.img".into()),
            memory_mib: 224,
            extra: tap_nics(&[("rr-wan".into(), "52:54:00:00:00:01".into())]),
            netns: Some("lab".into()),
        };
        let a = args(&command(&spec, Path::new("/tmp/x"), DiskMode::InPlace).unwrap());
        assert_eq!(a[..4], ["ip", "netns", "exec", "lab"]);
        assert_eq!(a[4], "qemu-system-x86_64");
        assert!(a.contains(&"tap,id=n0,ifname=rr-wan,script=no,downscript=no".to_string()));
        assert!(a.contains(&"file=disk.img,format=raw,if=virtio".to_string()));
        assert!(!a.iter().any(|x| x.starts_with("user")), "{a:?}");
        assert!(
            !a.contains(&"-nic".to_string()),
            "taps replace -nic none: {a:?}"
        );
    }

    #[test]
    fn without_netdevs_the_guest_has_no_nic() {
        let spec = GuestSpec {
            arch: Arch::Aarch64,
            boot: Boot::Bios,
            disk: None,
            memory_mib: 128,
            extra: Vec::new(),
            netns: None,
        };
        let a = args(&command(&spec, Path::new("/tmp/x"), DiskMode::Overlay).unwrap());
        assert_eq!(a[0], "qemu-system-aarch64");
        let nic = a.iter().position(|x| x == "-nic").unwrap();
        assert_eq!(a[nic + 1], "none");
    }
}
