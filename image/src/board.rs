//! Board descriptions: one TOML file per board under `board/`, loaded and validated here.
//!
//! A board names its CPU architecture, the Rust target routerd is built for, the Debian
//! kernel package (a meta package such as `linux-image-cloud-amd64`, resolved to the current
//! ABI package when building), the kernel modules the router needs (their dependencies are
//! added from `modules.dep`), the console, the disk size and the outputs to produce.
//! [`Board::load`] rejects unknown fields and inconsistent values, so a typo fails early.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::layout::{MIB, MIN_DISK_BYTES};

/// CPU architecture of a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// 64-bit x86 (UEFI and legacy BIOS).
    X86_64,
    /// 64-bit ARM (UEFI).
    Aarch64,
}

impl Architecture {
    /// Debian's name for the architecture.
    pub fn debian(self) -> &'static str {
        match self {
            Architecture::X86_64 => "amd64",
            Architecture::Aarch64 => "arm64",
        }
    }

    /// File name of the removable-media UEFI boot loader for this architecture.
    pub fn efi_boot_file(self) -> &'static str {
        match self {
            Architecture::X86_64 => "BOOTX64.EFI",
            Architecture::Aarch64 => "BOOTAA64.EFI",
        }
    }

    /// Whether the image also carries a legacy BIOS boot path (syslinux).
    pub fn has_legacy_bios(self) -> bool {
        self == Architecture::X86_64
    }
}

/// One output file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Output {
    /// Raw disk image (`.img`), for `dd` onto a disk.
    #[serde(rename = "raw")]
    Raw,
    /// Gzip-compressed raw image (`.img.gz`).
    #[serde(rename = "raw-gz")]
    RawGz,
    /// Compressed qcow2 (`.qcow2`), for Proxmox and other QEMU hosts.
    #[serde(rename = "qcow2")]
    Qcow2,
}

/// A board description (`board/NAME.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Board name; equals the file stem.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// CPU architecture.
    pub architecture: Architecture,
    /// Rust target triple routerd is built for (static musl).
    pub rust_target: String,
    /// Debian kernel meta package, e.g. `linux-image-cloud-amd64`.
    pub kernel_package: String,
    /// Kernel console device with options, e.g. `ttyS0,115200`.
    pub console: String,
    /// Extra kernel command line options (after `console=`).
    #[serde(default)]
    pub kernel_cmdline: String,
    /// Total disk size in MiB.
    pub disk_size_mib: u64,
    /// Output formats to produce.
    pub outputs: Vec<Output>,
    /// Kernel modules to include and load at boot (dependencies are added automatically).
    pub modules: Vec<String>,
}

/// Errors of loading a board.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The board file could not be read.
    #[error("cannot read board file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid board description.
    #[error("board file {path} is not valid: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No board of that name exists.
    #[error("no board named {name:?} in {dir} (available: {available})")]
    Unknown {
        /// Requested name.
        name: String,
        /// Board directory searched.
        dir: PathBuf,
        /// Comma-separated list of board names found.
        available: String,
    },
}

impl Board {
    /// Loads and validates one board file.
    pub fn load(path: &Path) -> Result<Board, BoardError> {
        let text = std::fs::read_to_string(path).map_err(|source| BoardError::Read {
            path: path.into(),
            source,
        })?;
        let parse = |message: String| BoardError::Parse {
            path: path.into(),
            message,
        };
        let board: Board = toml::from_str(&text).map_err(|e| parse(e.to_string()))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        board.validate(stem).map_err(parse)?;
        Ok(board)
    }

    /// Loads the board called `name` from the directory `dir`.
    pub fn by_name(dir: &Path, name: &str) -> Result<Board, BoardError> {
        let path = dir.join(format!("{name}.toml"));
        if !path.is_file() || name.contains('/') {
            let available = list(dir).unwrap_or_default().join(", ");
            return Err(BoardError::Unknown {
                name: name.into(),
                dir: dir.into(),
                available,
            });
        }
        Board::load(&path)
    }

    /// Full kernel command line for this board (console first).
    pub fn cmdline(&self) -> String {
        let mut line = format!("console={}", self.console);
        if !self.kernel_cmdline.is_empty() {
            line.push(' ');
            line.push_str(&self.kernel_cmdline);
        }
        line
    }

    fn validate(&self, file_stem: &str) -> Result<(), String> {
        if self.name != file_stem {
            return Err(format!(
                "name {:?} differs from the file name {file_stem:?}",
                self.name
            ));
        }
        let arch_prefix = match self.architecture {
            Architecture::X86_64 => "x86_64-",
            Architecture::Aarch64 => "aarch64-",
        };
        if !self.rust_target.starts_with(arch_prefix) || !self.rust_target.ends_with("-musl") {
            return Err(format!(
                "rust_target {:?} must be a static musl target for {:?}",
                self.rust_target, self.architecture
            ));
        }
        if !self.kernel_package.starts_with("linux-image-")
            || !self.kernel_package.ends_with(self.architecture.debian())
        {
            return Err(format!(
                "kernel_package {:?} is not a Debian linux-image package for {}",
                self.kernel_package,
                self.architecture.debian()
            ));
        }
        if self.console.is_empty() || self.console.contains(char::is_whitespace) {
            return Err(format!(
                "console {:?} must be one word such as ttyS0,115200",
                self.console
            ));
        }
        if self.disk_size_mib.saturating_mul(MIB) < MIN_DISK_BYTES {
            return Err(format!(
                "disk_size_mib {} is below the layout minimum of {} MiB",
                self.disk_size_mib,
                MIN_DISK_BYTES / MIB
            ));
        }
        if self.outputs.is_empty() {
            return Err("outputs is empty".into());
        }
        if self.modules.is_empty() {
            return Err("modules is empty".into());
        }
        let valid = |m: &String| {
            !m.is_empty()
                && m.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if let Some(bad) = self.modules.iter().find(|m| !valid(m)) {
            return Err(format!("module name {bad:?} is not a plain module name"));
        }
        for required in ["ipip", "wireguard"] {
            if !self.modules.iter().any(|m| m == required) {
                return Err(format!(
                    "modules must include {required} (the router's tunnels)"
                ));
            }
        }
        Ok(())
    }
}

/// Names of all boards (`*.toml` stems) in `dir`, sorted.
pub fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The repository's `board/` directory (for tools run from a checkout).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../board")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_file_in_the_repository_loads_and_validates() {
        let names = list(&default_dir()).unwrap();
        for required in ["generic-aarch64", "generic-x86_64", "pve-x86_64"] {
            assert!(
                names.iter().any(|n| n == required),
                "board {required} missing: {names:?}"
            );
        }
        for name in &names {
            let board = Board::by_name(&default_dir(), name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&board.name, name);
            assert!(board.cmdline().starts_with("console="));
        }
    }

    #[test]
    fn inconsistent_boards_are_rejected_with_a_reason() {
        let dir = std::env::temp_dir().join(format!("boards-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = std::fs::read_to_string(default_dir().join("pve-x86_64.toml")).unwrap();
        let cases = [
            (
                "rust_target = \"x86_64-unknown-linux-musl\"",
                "rust_target = \"aarch64-unknown-linux-musl\"",
                "rust_target",
            ),
            ("disk_size_mib = 128", "disk_size_mib = 8", "disk_size_mib"),
            ("\"ipip\", ", "", "ipip"),
            (
                "kernel_package = \"linux-image-cloud-amd64\"",
                "kernel_package = \"linux-image-arm64\"",
                "kernel_package",
            ),
            (
                "console = \"ttyS0,115200\"",
                "console = \"ttyS0\"\nbogus = 1",
                "bogus",
            ),
        ];
        for (from, to, expect) in cases {
            let path = dir.join("pve-x86_64.toml");
            assert!(good.contains(from), "fixture lost {from:?}");
            std::fs::write(&path, good.replace(from, to)).unwrap();
            let err = Board::load(&path).unwrap_err().to_string();
            assert!(err.contains(expect), "{err} should mention {expect}");
        }
        std::fs::write(dir.join("other.toml"), &good).unwrap();
        assert!(
            Board::load(&dir.join("other.toml"))
                .unwrap_err()
                .to_string()
                .contains("file name")
        );
        let unknown = Board::by_name(&dir, "nope").unwrap_err().to_string();
        assert!(unknown.contains("available"), "{unknown}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
