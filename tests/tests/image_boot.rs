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
        netns: None,
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
            netns: None,
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
        netns: None,
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

/// A plain BGP leaf (no SAM) for the guest: its underlay NIC matched by MAC and renamed,
/// a static address, one iBGP peer (BIRD in the test namespace) and one originated prefix.
fn bgp_leaf_blob(serial: u64) -> Vec<u8> {
    let (key, public) = owner_key();
    let text = format!(
        r#"trusted_keys = ["{public}"]

[node]
name = "guest-leaf"
mode = "leaf"
router_id = "192.0.2.2"
asn = 65000
board = "pve-x86_64"

[[interfaces]]
name = "wan0"
mac = "52:54:00:12:34:02"
role = "underlay"
addresses = ["192.0.2.2/24"]

[bgp]
listen_addresses = ["192.0.2.2"]
hold_time = 90
networks = ["198.51.100.0/24"]

[[bgp.peers]]
address = "192.0.2.1"
remote_as = 65000
"#
    );
    let config = config::load_toml(&text, "guest-leaf.toml").expect("guest config is valid");
    config::sign(&config, &key, serial).expect("sign")
}

/// BIRD as a route reflector on a tap (`tapg`, 192.0.2.1/24) in a fresh namespace: the
/// guest's underlay segment.
fn bird_on_a_tap(
    tag: &str,
) -> (
    system_tests::netns::Netns,
    system_tests::peers::Scratch,
    system_tests::peers::Bird,
) {
    use system_tests::peers::{Bird, Role, Scratch, Spec};
    let lab = system_tests::netns::Netns::new(tag);
    lab.ip(&["tuntap", "add", "dev", "tapg", "mode", "tap"]);
    lab.addr("tapg", "192.0.2.1/24");
    let scratch = Scratch::new(tag);
    let bird = Bird::start(
        &lab,
        scratch.dir("bird"),
        &Spec {
            addr: "192.0.2.1".parse().unwrap(),
            asn: 65000,
            role: Role::Rr {
                range: "192.0.2.0/24".into(),
            },
        },
    );
    (lab, scratch, bird)
}

/// Writes `blob` as the only config of `disk` (slot A; slot B emptied), as a tampering
/// owner of the disk could.
fn replace_config(disk: &Path, blob: &[u8]) {
    image_builder::guest::write_config_slot_a(disk, blob).unwrap();
}

/// The life of a router on one disk, with BIRD on its underlay segment:
/// 1. boot: state partition mounted, config verified, interfaces up, BGP Established,
///    the originated route at BIRD; the power button closes the session with a Cease
///    (BIRD drops it at once, long before its 90 s hold time), then power-off;
/// 2. boot again: Established again; then the power is cut (QEMU killed);
/// 3. an older config (serial 2) is written over the config partition: the next boot
///    refuses it as a rollback below the applied serial 3, which the state partition kept
///    through the power cut, says so, and waits (no crash loop).
#[test]
fn a_guest_router_reaches_established_survives_a_power_cut_and_refuses_a_rollback() {
    use system_tests::peers::BgpDaemon;
    if !system_tests::require_root() {
        return;
    }
    let (dir, _) = build_image("pve-x86_64", "bgp-leaf", Some(&bgp_leaf_blob(3)));
    let disk = out_root().join(format!("power-cut-{}.img", std::process::id()));
    std::fs::copy(disk_of(&dir, "pve-x86_64"), &disk).unwrap();
    struct RemoveOnDrop(PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _disk_guard = RemoveOnDrop(disk.clone());
    let (lab, _scratch, bird) = bird_on_a_tap("imgbgp");
    let _vm = vm_lock();
    let mut spec = x86_direct(&dir, Some(disk.clone()), "");
    spec.extra = [
        "-netdev",
        "tap,id=n0,ifname=tapg,script=no,downscript=no",
        "-device",
        "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:02",
    ]
    .map(String::from)
    .to_vec();
    spec.netns = Some(lab.name().to_string());

    // 1. First boot, BGP, orderly shutdown with a Cease.
    let mut guest = Guest::start_on_disk_in_place(&spec).unwrap();
    for marker in [
        "routerd: state partition /dev/vda3 mounted at /var/lib/routerd",
        "routerd: router starting mode=leaf serial=3 state=persistent",
    ] {
        guest.wait_for(marker, BOOT_TIMEOUT).unwrap();
    }
    let established = guest.wait_for("state=Established", BOOT_TIMEOUT).unwrap();
    eprintln!("QEMU start to BGP Established (direct kernel boot): {established:?}");
    let arrived = system_tests::netns::wait_for(60, || {
        bird.routes()
            .into_iter()
            .find(|r| r.prefix == "198.51.100.0/24")
    });
    let route =
        arrived.unwrap_or_else(|| panic!("BIRD never got 198.51.100.0/24\n{}", guest.transcript()));
    assert_eq!(route.next_hop.as_deref(), Some("192.0.2.2"), "{route:?}");
    assert_eq!(bird.established(), 1);
    power_off_cleanly(&mut guest);
    // A powered-off guest sends nothing more: only a NOTIFICATION (Cease) sent during the
    // orderly shutdown makes BIRD drop the session before its 90 s hold timer.
    let dropped = system_tests::netns::wait_for(20, || (bird.established() == 0).then_some(()));
    assert!(
        dropped.is_some(),
        "BIRD still has the session after the guest powered off\n{}\n--- bird ---\n{}",
        guest.transcript(),
        system_tests::peers::log_tail(&bird.log, 20)
    );
    drop(guest);

    // 2. Second boot from the same disk, then a power cut while routing.
    let mut guest = Guest::start_on_disk_in_place(&spec).unwrap();
    guest
        .wait_for(
            "routerd: router starting mode=leaf serial=3 state=persistent",
            BOOT_TIMEOUT,
        )
        .unwrap();
    guest.wait_for("state=Established", BOOT_TIMEOUT).unwrap();
    guest.power_cut();
    drop(guest);

    // 3. A rollback to serial 2 is refused: the applied serial survived the power cut.
    replace_config(&disk, &bgp_leaf_blob(2));
    let mut guest = Guest::start_on_disk_in_place(&spec).unwrap();
    guest
        .wait_for(
            "routerd: state partition /dev/vda3 mounted at /var/lib/routerd",
            BOOT_TIMEOUT,
        )
        .unwrap();
    guest
        .wait_for("routerd: config refused:", BOOT_TIMEOUT)
        .unwrap();
    let refusal = guest
        .transcript()
        .lines()
        .find(|l| l.contains("config refused:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        refusal.contains("rollback refused: serial 2 is lower than the applied serial 3"),
        "{refusal}"
    );
    assert_eq!(guest.lines_containing("router starting"), 0);
    power_off_cleanly(&mut guest);
}
