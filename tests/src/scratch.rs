//! A test's scratch directory (configs, state, logs), unique per test process and
//! removed on drop, also when the test fails; `ROUTERD_KEEP_SCRATCH=1` keeps it and
//! prints where it is.

use std::path::{Path, PathBuf};

/// A scratch directory under the system's temporary directory.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates `routerd-<tag>-<unique>`.
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("routerd-{}", crate::netns::unique(tag)));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("ROUTERD_KEEP_SCRATCH").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
