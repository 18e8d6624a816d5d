//! The run directory: where keys, configs, state, logs and evidence of one run go.
//!
//! Layout (`--run-dir`, default `target/gate-<unix time>`):
//! - `keys/owner.key`, `keys/owner.pub`: the run's owner key pair (`routerd-tool keygen`);
//! - `secret/` (mode 0700): each router's TOML and signed blob and the API token; removed
//!   at the end unless `--keep` is given, because they hold the run's secrets;
//! - `state/<node>/`: each router's state directory;
//! - `logs/<node>.log`: each router's log;
//! - `nodes/<node>/config.json` (`routerd-tool inspect --json`, secrets redacted) and
//!   `status*.json` (the API documents and, for leaves, the kernel routes) per phase;
//! - `matrix.txt`, `summary.txt`, `result.json`.
//!
//! A reused run directory is emptied of `state/`, `logs/` and `nodes/` first.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::lab::LabError;

/// The directories of one run.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    /// The run directory (absolute).
    pub(crate) root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LabError + '_ {
    move |source| LabError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl RunDir {
    /// Creates the layout under `root` (made absolute).
    pub(crate) fn create(root: &Path) -> Result<RunDir, LabError> {
        fs::create_dir_all(root).map_err(io(root))?;
        let root = fs::canonicalize(root).map_err(io(root))?;
        for sub in ["keys", "state", "logs", "nodes"] {
            let p = root.join(sub);
            // A reused run directory starts from scratch: no state of an earlier run.
            if sub != "keys" {
                let _ = fs::remove_dir_all(&p);
            }
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let secret = root.join("secret");
        if !secret.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&secret)
                .map_err(io(&secret))?;
        }
        Ok(RunDir { root })
    }

    /// `secret/NAME`.
    pub(crate) fn secret(&self, name: &str) -> PathBuf {
        self.root.join("secret").join(name)
    }

    /// `keys/NAME`.
    pub(crate) fn key(&self, name: &str) -> PathBuf {
        self.root.join("keys").join(name)
    }

    /// `state/NODE/`, created.
    pub(crate) fn state(&self, node: &str) -> Result<PathBuf, LabError> {
        let p = self.root.join("state").join(node);
        fs::create_dir_all(&p).map_err(io(&p))?;
        Ok(p)
    }

    /// `logs/NODE.log`.
    pub(crate) fn log(&self, node: &str) -> PathBuf {
        self.root.join("logs").join(format!("{node}.log"))
    }

    /// `nodes/NODE/FILE`, its directory created.
    pub(crate) fn node_file(&self, node: &str, file: &str) -> Result<PathBuf, LabError> {
        let dir = self.root.join("nodes").join(node);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(dir.join(file))
    }

    /// Writes `text` to `path`.
    pub(crate) fn write(&self, path: &Path, text: &str) -> Result<(), LabError> {
        fs::write(path, text).map_err(io(path))
    }

    /// Writes `text` to `path`, readable by the owner only.
    pub(crate) fn write_secret(&self, path: &Path, text: &str) -> Result<(), LabError> {
        use std::io::Write;
        let _ = fs::remove_file(path);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(io(path))
    }

    /// Writes `value` as pretty JSON to `path`.
    pub(crate) fn write_json(&self, path: &Path, value: &Value) -> Result<(), LabError> {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        self.write(path, &(text + "\n"))
    }

    /// The last `lines` lines of a node's log, for failure messages.
    pub(crate) fn log_tail(&self, node: &str, lines: usize) -> String {
        let text = fs::read_to_string(self.log(node)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Files outside `secret/` and `keys/` that contain any of `secrets`.
    pub(crate) fn leaked(&self, secrets: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p == self.root.join("secret") || p == self.root.join("keys") {
                    continue;
                }
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(bytes) = fs::read(&p) {
                    let text = String::from_utf8_lossy(&bytes);
                    if secrets.iter().any(|s| !s.is_empty() && text.contains(s)) {
                        found.push(p.display().to_string());
                    }
                }
            }
        }
        found.sort();
        found
    }

    /// Removes `secret/` (configs and blobs with the run's secrets).
    pub(crate) fn remove_secrets(&self) {
        let _ = fs::remove_dir_all(self.root.join("secret"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_outside_the_secret_directory_only() {
        let base = std::env::temp_dir().join(format!("demo-evidence-{}", std::process::id()));
        let run = RunDir::create(&base).unwrap();
        run.write_secret(
            &run.secret("rr.toml"),
            "join_token = \"s3cr3t-token-value\"",
        )
        .unwrap();
        let status = run.node_file("rr", "status.json").unwrap();
        run.write(&status, "{\"ok\": true}").unwrap();
        assert!(run.leaked(&["s3cr3t-token-value"]).is_empty());
        run.write(&run.log("rr"), "oops s3cr3t-token-value\n")
            .unwrap();
        assert_eq!(run.leaked(&["s3cr3t-token-value"]).len(), 1);
        assert_eq!(run.log_tail("rr", 1), "oops s3cr3t-token-value");
        let _ = fs::remove_dir_all(&base);
    }
}
