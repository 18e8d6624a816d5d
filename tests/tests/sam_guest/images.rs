//! Images for the guest tests: routerd for the musl target, built once per run with
//! `--release` (or taken from `ROUTERD_IMAGE_TARGET_DIR`), and pve-x86_64 images built
//! with the real image builder into `target/sam-guest/<variant>`, with an optional signed
//! config in the config partition.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use image_builder::board::{self, Board};
use image_builder::build::{BuildRequest, DEFAULT_EPOCH, build};

const BOARD: &str = "pve-x86_64";
const TARGET: &str = "x86_64-unknown-linux-musl";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn out_root() -> PathBuf {
    cargo_target().join("sam-guest")
}

/// Static routerd for the board, built once per run and copied aside so every image of
/// the run uses the same binary.
fn routerd() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let fresh = match std::env::var_os("ROUTERD_IMAGE_TARGET_DIR") {
            Some(dir) => PathBuf::from(dir).join(TARGET).join("release/routerd"),
            None => {
                let status = Command::new(env!("CARGO"))
                    .current_dir(workspace())
                    .args(["build", "--quiet", "--release", "-p", "routerd"])
                    .args(["--target", TARGET])
                    .status()
                    .expect("run cargo build for routerd");
                assert!(status.success(), "cargo build -p routerd --target {TARGET}");
                cargo_target().join(TARGET).join("release/routerd")
            }
        };
        std::fs::create_dir_all(out_root()).unwrap();
        let copy = out_root().join(format!("routerd-{TARGET}"));
        std::fs::copy(&fresh, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", fresh.display()));
        copy
    })
}

fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/routerd")
}

/// Builds the board's image into `target/sam-guest/<board>-<variant>`, with `config` (a signed blob) in its config partition.
pub(crate) fn build_image(variant: &str, config: Option<&[u8]>, trusted_key: &str) -> PathBuf {
    // One build at a time: the builder's caches are shared.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let board = Board::by_name(&board::default_dir(), BOARD).expect("board loads");
    let out = out_root().join(format!("{BOARD}-{variant}"));
    std::fs::create_dir_all(out_root()).unwrap();
    let config_blob = config.map(|bytes| {
        let path = out_root().join(format!("{BOARD}-{variant}.blob"));
        std::fs::write(&path, bytes).unwrap();
        path
    });
    let trust = out_root().join("owner.pub");
    std::fs::write(&trust, format!("# test owner key\n{trusted_key}\n")).unwrap();
    let request = BuildRequest {
        routerd: Some(routerd().clone()),
        board,
        out_dir: out.clone(),
        cache_dir: cache_dir(),
        kernel_deb: None,
        config_blob,
        trusted_keys: Some(trust),
        workspace: workspace(),
        source_date_epoch: DEFAULT_EPOCH,
    };
    build(&request, &mut |line| eprintln!("image: {line}")).expect("image builds");
    out
}

/// The test owner key: signing key and its hex public key.
pub(crate) fn owner_key() -> (config::SigningKey, String) {
    let key = config::SigningKey::from_bytes(&[0x5B; 32]);
    let public = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (key, public)
}

/// The image without a config (self tests), built once.
pub(crate) fn selftest_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("selftest", None, &owner_key().1))
}

/// The disk image inside a built image directory.
pub(crate) fn disk(dir: &Path) -> PathBuf {
    dir.join(format!("routerd-{BOARD}.img"))
}
