//! Harness for routerd's system tests.
//!
//! The named test targets under `tests/` (`interop`, `config`, `kernel`, `sam`, `api`,
//! `image_boot`, `gate`, ...) use these building blocks:
//! - [`netns`]: network namespaces, veths and bridges that clean themselves up, and
//!   processes inside them killed by PID on drop.
//! - [`qemu`]: QEMU guests (TCG) with a line-by-line serial console, marker waits with
//!   deadlines, the ACPI power button over QMP, killed by PID on drop.
//! - [`traffic`]: pings, TCP exchanges and the masquerading NAT box; [`scratch`]: a
//!   scratch directory removed on drop; [`sam_configs`]: the SAM tests' router configs.
//!
//! Every object here is named uniquely per test process so tests can run in parallel,
//! and everything it creates is removed on drop, also when a test fails.

pub mod faults;
pub mod netns;
pub mod peers;
pub mod qemu;
pub mod sam_configs;
pub mod scratch;
pub mod traffic;

/// The owner key development configs trust (hex): the public key of RFC 8032's first
/// ed25519 test vector. Nothing is ever signed with it; a TOML config run with
/// `routerd run --config` must still name a trusted key.
pub const DEV_TRUSTED_KEY: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// SHA-256 of `text` in hex, from the system's `sha256sum`: an implementation
/// independent of routerd's own, so a test's token hash does not trust the code it tests.
pub fn sha256_hex(text: &str) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils)");
    if let Some(stdin) = child.stdin.as_mut() {
        std::io::Write::write_all(stdin, text.as_bytes()).expect("write to sha256sum");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("sha256sum output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum prints a digest")
        .to_string()
}

/// True when the tests can create network namespaces (root with `ip` available).
/// System tests call [`require_root`] instead of silently passing.
pub fn can_use_netns() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Panics with a clear message unless the tests run as root: system tests never skip
/// silently. Set `ROUTERD_SKIP_SYSTEM_TESTS=1` to skip them on purpose (prints why).
pub fn require_root() -> bool {
    if std::env::var_os("ROUTERD_SKIP_SYSTEM_TESTS").is_some() {
        eprintln!("skipped: ROUTERD_SKIP_SYSTEM_TESTS is set");
        return false;
    }
    assert!(
        can_use_netns(),
        "system tests need root (network namespaces); run them as root or set ROUTERD_SKIP_SYSTEM_TESTS=1"
    );
    true
}

/// Path of a binary built from this workspace (`routerd`, `routerd-tool`, ...), building
/// it first if needed. Uses the same profile as the test run.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let path = target.join(profile).join(name);
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.current_dir(&root)
        .args(["build", "--quiet", "--bin", name]);
    if profile == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build --bin {name} failed");
    path
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_token_hash_is_sha256() {
        assert_eq!(
            super::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
