//! The initramfs: a gzip-compressed newc cpio archive written by code.
//!
//! Contents: `/init` (static routerd), `/dev/console` (so the kernel can open the console
//! before devtmpfs is mounted), the kernel modules under `/lib/modules/RELEASE/`, the load
//! order in [`LOAD_ORDER_PATH`], the board name in [`BOARD_PATH`] and the config trust
//! anchors in [`TRUSTED_KEYS_PATH`]. Entries are sorted,
//! parents come before children, every mtime is the given epoch and owners are root, so the
//! same inputs give the same bytes.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::{Compression, GzBuilder};

/// Path of the module load order file in the initramfs: one path per line, relative to
/// `/lib/modules/RELEASE`, each module after its dependencies.
pub const LOAD_ORDER_PATH: &str = "lib/modules/load-order";
/// Path of the file that holds the board name.
pub const BOARD_PATH: &str = "etc/routerd/board";
/// Path of the trust anchors for config verification (one hex public key per line).
pub const TRUSTED_KEYS_PATH: &str = "etc/routerd/trusted-keys";

#[derive(Clone, Debug)]
enum Node {
    Dir,
    File { mode: u32, data: Vec<u8> },
    CharDev { major: u32, minor: u32 },
}

/// An initramfs under construction; paths are relative (`lib/modules/...`).
#[derive(Clone, Debug, Default)]
pub struct Initramfs {
    nodes: BTreeMap<String, Node>,
}

impl Initramfs {
    /// An archive with the standard mount points and `/dev/console`.
    pub fn new() -> Initramfs {
        let mut fs = Initramfs::default();
        for dir in [
            "dev",
            "proc",
            "sys",
            "run",
            "tmp",
            "etc",
            "lib",
            "lib/modules",
        ] {
            fs.add_dir(dir);
        }
        fs.nodes
            .insert("dev/console".into(), Node::CharDev { major: 5, minor: 1 });
        fs
    }

    /// Adds a directory and its parents.
    pub fn add_dir(&mut self, path: &str) {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            self.nodes.entry(prefix.clone()).or_insert(Node::Dir);
        }
    }

    /// Adds a regular file (and its parent directories) with permission bits `mode`.
    pub fn add_file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.add_dir(parent);
        }
        self.nodes.insert(
            path.trim_start_matches('/').to_string(),
            Node::File { mode, data },
        );
    }

    /// The uncompressed newc archive. `mtime` is used for every entry.
    pub fn to_cpio(&self, mtime: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, node)) in self.nodes.iter().enumerate() {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match node {
                Node::Dir => (0o040755, &[], (0, 0)),
                Node::File { mode, data } => (0o100000 | (mode & 0o7777), data, (0, 0)),
                Node::CharDev { major, minor } => (0o020600, &[], (*major, *minor)),
            };
            let nlink = if matches!(node, Node::Dir) { 2 } else { 1 };
            push_entry(
                &mut out,
                ino as u32 + 1,
                mode,
                nlink,
                mtime,
                path,
                data,
                rdev,
            );
        }
        push_entry(&mut out, 0, 0, 1, 0, "TRAILER!!!", &[], (0, 0));
        out
    }

    /// The gzip-compressed archive (no name, mtime 0 in the gzip header).
    pub fn to_gzip(&self, mtime: u32) -> std::io::Result<Vec<u8>> {
        let mut gz = GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), Compression::best());
        gz.write_all(&self.to_cpio(mtime))?;
        gz.finish()
    }
}

#[allow(clippy::too_many_arguments)]
fn push_entry(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    name: &str,
    data: &[u8],
    rdev: (u32, u32),
) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        mtime,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn archive_is_sorted_deterministic_and_readable_by_cpio() {
        let mut fs = Initramfs::new();
        fs.add_file("init", 0o755, b"#!/bin/false\n".to_vec());
        fs.add_file("lib/modules/6.1/kernel/net/ipip.ko", 0o644, vec![1, 2, 3]);
        fs.add_file(LOAD_ORDER_PATH, 0o644, b"kernel/net/ipip.ko\n".to_vec());
        let a = fs.to_gzip(1_700_000_000).unwrap();
        assert_eq!(a, fs.to_gzip(1_700_000_000).unwrap());
        assert_ne!(a, fs.to_gzip(1).unwrap());
        let cpio = fs.to_cpio(0);
        assert_eq!(cpio.len() % 4, 0);

        let dir = std::env::temp_dir().join(format!("initramfs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let archive = dir.join("a.cpio");
        std::fs::write(&archive, &cpio).unwrap();
        let listing = Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -it < {}", archive.display()))
            .output()
            .expect("cpio is installed");
        std::fs::remove_dir_all(&dir).unwrap();
        let names = String::from_utf8_lossy(&listing.stdout);
        let names: Vec<&str> = names.lines().collect();
        assert!(names.contains(&"dev/console"), "{names:?}");
        assert!(names.contains(&"lib/modules/6.1/kernel/net/ipip.ko"));
        let parent = names.iter().position(|n| *n == "lib/modules/6.1").unwrap();
        let child = names
            .iter()
            .position(|n| *n == "lib/modules/6.1/kernel")
            .unwrap();
        assert!(parent < child);
    }
}
