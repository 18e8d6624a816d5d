//! The state directory: atomic file replacement, state files that survive a read-only
//! or full directory, and the clock and randomness the sans-IO `sam` crate takes as
//! arguments.
//!
//! Contract of [`StateFile`]: the runtime keeps the truth in memory and calls
//! [`StateFile::save`] after every change. A failed write (read-only or full state
//! directory, I/O error) is logged once, kept as [`StateFile::error`] for the status
//! API, and the newest bytes stay pending; the daemon calls [`StateFile::retry`] at
//! [`StateFile::retry_at`] (every [`RETRY_INTERVAL`]) until a write succeeds, which
//! clears the error. Routing never waits for the disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time between attempts to write a state file that could not be written.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// The RR's registry file in the state directory.
pub(crate) const REGISTRY_FILE: &str = "sam-registry.json";
/// The leaf's enrollment state file in the state directory.
pub(crate) const LEAF_FILE: &str = "sam-leaf.json";

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file:
/// write a temporary file in the same directory, fsync it, rename it over `path`, fsync
/// the directory.
/// A failed write removes its temporary file (a full directory gets its space back).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut temp = PathBuf::from(path);
    temp.as_mut_os_string().push(".tmp");
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(error);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// A state file kept in memory first: writes that fail are retried, their error shown.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    /// What the file holds, for messages (`enrollment registry`).
    what: &'static str,
    /// Bytes not yet on disk (the newest state, when the last write failed).
    pending: Option<Vec<u8>>,
    error: Option<String>,
    retry_at: Option<Instant>,
}

impl StateFile {
    /// The file at `path` holding `what`; nothing is written yet.
    pub(crate) fn new(path: PathBuf, what: &'static str) -> StateFile {
        StateFile {
            path,
            what,
            pending: None,
            error: None,
            retry_at: None,
        }
    }

    /// Writes `bytes` atomically; on failure keeps them for [`StateFile::retry`].
    /// Returns true when they are on disk.
    pub(crate) fn save(&mut self, bytes: Vec<u8>) -> bool {
        match write_atomically(&self.path, &bytes) {
            Ok(()) => {
                if let Some(error) = self.error.take() {
                    tracing::info!(path = %self.path.display(), what = self.what, previous_error = %error, "state written again");
                }
                self.pending = None;
                self.retry_at = None;
                true
            }
            Err(error) => {
                let message = format!(
                    "cannot write the {} to {}: {error}; running from memory (a restart now would lose the change), retrying every {} s",
                    self.what,
                    self.path.display(),
                    RETRY_INTERVAL.as_secs()
                );
                if self.error.as_deref() != Some(message.as_str()) {
                    tracing::error!(path = %self.path.display(), %error, "{message}");
                } else {
                    tracing::debug!(path = %self.path.display(), %error, "state write retry failed");
                }
                self.error = Some(message);
                self.pending = Some(bytes);
                self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
                false
            }
        }
    }

    /// Writes the pending bytes again, if any.
    pub(crate) fn retry(&mut self) {
        if let Some(bytes) = self.pending.take() {
            self.save(bytes);
        }
    }

    /// When [`StateFile::retry`] is due; `None` when everything is on disk.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The last write failure, until a write succeeds.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// Reads a state file; `None` when it does not exist.
pub(crate) fn read_state(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The monotonic instant of unix second `at` (now, if it has passed).
pub(crate) fn instant_of(at: u64) -> Instant {
    let now = unix_now();
    Instant::now() + Duration::from_secs(at.saturating_sub(now))
}

/// 16 random bytes for a claim nonce.
pub(crate) fn nonce_entropy() -> std::io::Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("routerd-store-{}", std::process::id()));
        let path = dir.join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(read_state(&path).unwrap().as_deref(), Some(&b"two"[..]));
        assert!(!dir.join("state.json.tmp").exists());
        assert_eq!(read_state(&dir.join("absent")).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_state_write_is_shown_kept_and_retried_until_it_succeeds() {
        let dir = std::env::temp_dir().join(format!("routerd-statefile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A file where the state directory should be: every write fails, as on a
        // read-only or missing mount.
        let blocked = dir.join("state");
        std::fs::write(&blocked, b"not a directory").unwrap();
        let mut file = StateFile::new(blocked.join("registry.json"), "enrollment registry");
        assert!(!file.save(b"first".to_vec()));
        assert!(!file.save(b"second".to_vec()));
        let error = file.error().unwrap().to_string();
        assert!(
            error.contains("cannot write the enrollment registry"),
            "{error}"
        );
        assert!(error.contains("running from memory"), "{error}");
        assert!(file.retry_at().is_some());
        file.retry();
        assert!(file.error().is_some(), "still blocked");
        std::fs::remove_file(&blocked).unwrap();
        file.retry();
        assert_eq!(file.error(), None);
        assert_eq!(file.retry_at(), None);
        // The newest state is what reached the disk.
        assert_eq!(
            read_state(&blocked.join("registry.json"))
                .unwrap()
                .as_deref(),
            Some(&b"second"[..])
        );
        assert!(!blocked.join("registry.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
