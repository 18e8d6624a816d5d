//! Image tests: build firmware images with the real builder and boot them under QEMU (TCG),
//! waiting on routerd's console markers.
//!
//! Images are built once per test run into `target/image-boot/` (routerd is built for the
//! board's musl target with `--release`; set `ROUTERD_IMAGE_TARGET_DIR` to a cargo target
//! directory that already holds `<target>/release/routerd` to use those binaries instead). The kernel package comes from Debian's archive
//! through apt (cached in `~/.cache/routerd`). Guests use `-nic none`; each is killed by PID
//! when its `Guest` drops. Guests run one at a time so timings stay meaningful on 2 cores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use image_builder::board::{self, Board};
use image_builder::build::{BuildRequest, DEFAULT_EPOCH, Manifest, build};
use system_tests::qemu::{Arch, Boot, Guest, GuestSpec};

// Generous: TCG on a loaded 2-core machine took up to 47 s to reach init through UEFI.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const INIT_MARKER: &str = "routerd: init complete";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("image-boot")
}

/// One guest at a time.
fn vm_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Static routerd for `target`, built once per test run with `--release` and copied aside,
/// so every image of the run (and both builds of the reproducibility test) uses the same
/// binary even if the workspace changes meanwhile.
fn routerd_for(target: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(t, _)| t == target) {
        return path.clone();
    }
    let fresh = build_routerd(target);
    std::fs::create_dir_all(out_root()).unwrap();
    let copy = out_root().join(format!("routerd-{target}"));
    std::fs::copy(&fresh, &copy).expect("copy routerd");
    built.push((target.to_string(), copy.clone()));
    copy
}

fn build_routerd(target: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("ROUTERD_IMAGE_TARGET_DIR") {
        let prebuilt = PathBuf::from(dir).join(target).join("release/routerd");
        assert!(
            prebuilt.is_file(),
            "ROUTERD_IMAGE_TARGET_DIR has no {}",
            prebuilt.display()
        );
        return prebuilt;
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(workspace()).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "routerd",
        "--target",
        target,
    ]);
    if target.starts_with("aarch64") {
        cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")
            .env("CC_aarch64_unknown_linux_musl", "aarch64-linux-gnu-gcc");
    }
    let status = cmd.status().expect("run cargo build for routerd");
    assert!(
        status.success(),
        "cargo build -p routerd --target {target} failed"
    );
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join(target)
        .join("release/routerd")
}

/// A signing key for the tests and its public key in `owner.pub` form.
fn owner_key() -> (config::SigningKey, String) {
    let key = config::SigningKey::from_bytes(&[0x5A; 32]);
    let public: String = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (key, public)
}

/// `examples/leaf.toml` (board pve-x86_64) trusting the test key, signed with serial 7.
fn signed_blob() -> Vec<u8> {
    let (key, public) = owner_key();
    let text =
        std::fs::read_to_string(workspace().join("examples/leaf.toml")).expect("example config");
    let start = text
        .find("trusted_keys = [")
        .expect("example has trusted_keys");
    let end = start + text[start..].find(']').unwrap() + 1;
    let text = format!(
        "{}trusted_keys = [\"{public}\"]{}",
        &text[..start],
        &text[end..]
    );
    let config = config::load_toml(&text, "leaf.toml").expect("example config is valid");
    config::sign(&config, &key, 7).expect("sign")
}

fn build_image(board_name: &str, variant: &str, config: Option<&[u8]>) -> (PathBuf, Manifest) {
    let board = Board::by_name(&board::default_dir(), board_name).expect("board loads");
    let out = out_root().join(format!("{board_name}-{variant}"));
    let config_blob = config.map(|bytes| {
        std::fs::create_dir_all(out_root()).unwrap();
        let path = out_root().join(format!("{board_name}-{variant}.blob"));
        std::fs::write(&path, bytes).unwrap();
        path
    });
    let request = BuildRequest {
        routerd: Some(routerd_for(&board.rust_target)),
        board,
        out_dir: out.clone(),
        cache_dir: dirs_cache(),
        kernel_deb: None,
        config_blob,
        trusted_keys: Some(trust_file()),
        workspace: workspace(),
        source_date_epoch: DEFAULT_EPOCH,
    };
    let manifest = build(&request, &mut |line| eprintln!("image: {line}")).expect("image builds");
    (out, manifest)
}

fn trust_file() -> PathBuf {
    std::fs::create_dir_all(out_root()).unwrap();
    let path = out_root().join("owner.pub");
    std::fs::write(&path, format!("# test owner key\n{}\n", owner_key().1)).unwrap();
    path
}

fn dirs_cache() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/routerd")
}

/// The pve-x86_64 image without config, built once.
fn pve_empty() -> &'static (PathBuf, Manifest) {
    static IMAGE: OnceLock<(PathBuf, Manifest)> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("pve-x86_64", "empty", None))
}

fn x86_direct(dir: &Path, disk: Option<PathBuf>, extra_append: &str) -> GuestSpec {
    GuestSpec {
        arch: Arch::X86_64,
        boot: Boot::Direct {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            append: format!("console=ttyS0,115200 quiet panic=-1 {extra_append}"),
        },
        disk,
        memory_mib: 256,
        extra: Vec::new(),
    }
}

fn disk_of(dir: &Path, board: &str) -> PathBuf {
    dir.join(format!("routerd-{board}.img"))
}

/// Presses the power button and expects an orderly power-off (QEMU exits on its own).
/// Presses again every few seconds, as a person would, in case the guest's ACPI stack was
/// not ready for the first press.
fn power_off_cleanly(guest: &mut Guest) {
    let mut pressed = 0;
    loop {
        guest.power_button().expect("power button");
        pressed += 1;
        match guest.wait_for("routerd: powering off", Duration::from_secs(10)) {
            Ok(_) => break,
            Err(e) if pressed >= 6 => panic!("no orderly shutdown after {pressed} presses: {e}"),
            Err(_) => continue,
        }
    }
    guest
        .wait_exit(Duration::from_secs(20))
        .expect("QEMU exits after power-off");
}

#[test]
fn image_without_config_says_so_and_waits_without_restarting() {
    if !system_tests::require_root() {
        return;
    }
    let (dir, _) = pve_empty();
    let _vm = vm_lock();
    let mut guest = Guest::start(&x86_direct(dir, Some(disk_of(dir, "pve-x86_64")), "")).unwrap();
    let t = guest.wait_for(INIT_MARKER, BOOT_TIMEOUT).unwrap();
    eprintln!("direct boot to init marker: {t:?}");
    guest
        .wait_for(
            "routerd: no config in partition routerd-config",
            BOOT_TIMEOUT,
        )
        .unwrap();
    // Still alive and waiting: the power button is handled, and init never restarted.
    power_off_cleanly(&mut guest);
    assert_eq!(
        guest.lines_containing(INIT_MARKER),
        1,
        "{}",
        guest.transcript()
    );
    assert_eq!(
        guest.lines_containing("rebooting"),
        0,
        "{}",
        guest.transcript()
    );
}

#[test]
fn signed_config_is_verified_at_boot() {
    if !system_tests::require_root() {
        return;
    }
    let (dir, manifest) = pve_signed();
    assert!(manifest.config_included && manifest.trusted_keys_included);
    let _vm = vm_lock();
    let mut guest = Guest::start(&x86_direct(dir, Some(disk_of(dir, "pve-x86_64")), "")).unwrap();
    let t = guest
        .wait_for(
            "routerd: config verified serial=7 board=pve-x86_64",
            BOOT_TIMEOUT,
        )
        .unwrap();
    eprintln!("direct boot to config verified: {t:?}");
    power_off_cleanly(&mut guest);
}

/// The signed pve-x86_64 image, built once.
fn pve_signed() -> &'static (PathBuf, Manifest) {
    static IMAGE: OnceLock<(PathBuf, Manifest)> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("pve-x86_64", "signed", Some(&signed_blob())))
}

#[test]
fn a_refused_newer_config_keeps_the_last_good_one() {
    if !system_tests::require_root() {
        return;
    }
    let (dir, _) = pve_signed();
    // Copy the disk and write a tampered blob into the other slot, as provisioning would.
    let disk = out_root().join("pve-x86_64-lastgood.img");
    std::fs::copy(disk_of(dir, "pve-x86_64"), &disk).unwrap();
    let (offset, len) = image_builder::layout::find_partition(&disk, "routerd-config")
        .unwrap()
        .expect("config partition");
    let mut region = vec![0u8; len as usize];
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&disk).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.read_exact(&mut region).unwrap();
    }
    let mut tampered = signed_blob();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let (at, bytes) = config::slots::write(&region, &tampered).unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
        f.seek(SeekFrom::Start(offset + at)).unwrap();
        f.write_all(&bytes).unwrap();
    }
    let _vm = vm_lock();
    let mut guest = Guest::start(&x86_direct(dir, Some(disk.clone()), "")).unwrap();
    guest
        .wait_for("keeping the previous config serial=7", BOOT_TIMEOUT)
        .unwrap();
    assert!(
        guest.transcript().contains("bad signature"),
        "{}",
        guest.transcript()
    );
    guest
        .wait_for("routerd: config verified serial=7", BOOT_TIMEOUT)
        .unwrap();
    power_off_cleanly(&mut guest);
    drop(guest);
    std::fs::remove_file(&disk).unwrap();
}

#[test]
fn tampered_config_is_refused_with_the_reason_and_no_crash_loop() {
    if !system_tests::require_root() {
        return;
    }
    let mut blob = signed_blob();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x01;
    let (dir, manifest) = build_image("pve-x86_64", "tampered", Some(&blob));
    assert!(manifest.config_included);
    let _vm = vm_lock();
    let mut guest = Guest::start(&x86_direct(&dir, Some(disk_of(&dir, "pve-x86_64")), "")).unwrap();
    guest.wait_for(INIT_MARKER, BOOT_TIMEOUT).unwrap();
    guest
        .wait_for("routerd: config refused: bad signature", BOOT_TIMEOUT)
        .unwrap();
    power_off_cleanly(&mut guest);
    assert_eq!(
        guest.lines_containing(INIT_MARKER),
        1,
        "{}",
        guest.transcript()
    );
    assert_eq!(
        guest.lines_containing("config verified"),
        0,
        "{}",
        guest.transcript()
    );
}

#[test]
fn the_same_disk_boots_through_uefi_and_through_legacy_bios() {
    if !system_tests::require_root() {
        return;
    }
    let (dir, _) = pve_empty();
    let disk = disk_of(dir, "pve-x86_64");
    for (name, boot) in [("uefi", Boot::Uefi), ("bios", Boot::Bios)] {
        let _vm = vm_lock();
        let spec = GuestSpec {
            arch: Arch::X86_64,
            boot,
            disk: Some(disk.clone()),
            memory_mib: 256,
            extra: Vec::new(),
        };
        let mut guest = Guest::start(&spec).unwrap();
        let t = guest.wait_for(INIT_MARKER, BOOT_TIMEOUT).unwrap();
        eprintln!("{name} boot to init marker: {t:?}");
        assert!(
            guest.transcript().contains("config=/dev/vda2"),
            "{}",
            guest.transcript()
        );
        power_off_cleanly(&mut guest);
    }
}

#[test]
fn routerd_creates_kernel_ipip_and_wireguard_links_in_the_guest() {
    if !system_tests::require_root() {
        return;
    }
    let (dir, _) = pve_empty();
    let _vm = vm_lock();
    let mut guest = Guest::start(&x86_direct(dir, None, "routerd.selftest=links")).unwrap();
    guest
        .wait_for("routerd: selftest ipip t0 ok", BOOT_TIMEOUT)
        .unwrap();
    guest
        .wait_for("routerd: selftest wireguard wg0 ok", BOOT_TIMEOUT)
        .unwrap();
    guest
        .wait_for("routerd: powering off", BOOT_TIMEOUT)
        .unwrap();
    guest.wait_exit(Duration::from_secs(20)).unwrap();
    assert_eq!(
        guest.lines_containing("FAILED"),
        0,
        "{}",
        guest.transcript()
    );
}

#[test]
fn two_builds_from_the_same_inputs_are_byte_identical() {
    if !system_tests::require_root() {
        return;
    }
    let (_, first) = pve_empty();
    let (_, second) = build_image("pve-x86_64", "again", None);
    assert!(first.files.len() >= 4, "{:?}", first.files);
    for (a, b) in first.files.iter().zip(&second.files) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.sha256, b.sha256, "{} differs between builds", a.name);
    }
    let image = first
        .files
        .iter()
        .find(|f| f.name.ends_with(".img.gz"))
        .unwrap();
    eprintln!("compressed image: {} bytes", image.bytes);
}

#[test]
fn generic_aarch64_boots_under_qemu_virt() {
    if !system_tests::require_root() {
        return;
    }
    let (dir, manifest) = build_image("generic-aarch64", "empty", None);
    assert_eq!(manifest.architecture, "aarch64");
    let _vm = vm_lock();
    let spec = GuestSpec {
        arch: Arch::Aarch64,
        boot: Boot::Direct {
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            append: "console=ttyAMA0 quiet panic=-1".into(),
        },
        disk: Some(disk_of(&dir, "generic-aarch64")),
        memory_mib: 512,
        extra: Vec::new(),
    };
    let mut guest = Guest::start(&spec).unwrap();
    let t = guest.wait_for(INIT_MARKER, BOOT_TIMEOUT).unwrap();
    eprintln!("aarch64 direct boot to init marker: {t:?}");
    guest
        .wait_for(
            "routerd: no config in partition routerd-config",
            BOOT_TIMEOUT,
        )
        .unwrap();
    assert_eq!(
        guest.lines_containing(INIT_MARKER),
        1,
        "{}",
        guest.transcript()
    );
    drop(guest);

    // The same disk through UEFI (AAVMF -> systemd-boot -> kernel EFI stub).
    let spec = GuestSpec {
        boot: Boot::Uefi,
        ..spec
    };
    let mut guest = Guest::start(&spec).unwrap();
    let t = guest.wait_for(INIT_MARKER, BOOT_TIMEOUT).unwrap();
    eprintln!("aarch64 uefi boot to init marker: {t:?}");
}
