//! The state directory: atomic file replacement, and the clock and randomness the
//! sans-IO `sam` crate takes as arguments.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The RR's registry file in the state directory.
pub(crate) const REGISTRY_FILE: &str = "sam-registry.json";
/// The leaf's enrollment state file in the state directory.
pub(crate) const LEAF_FILE: &str = "sam-leaf.json";

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file:
/// write a temporary file in the same directory, fsync it, rename it over `path`, fsync
/// the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = PathBuf::from(path);
    temp.as_mut_os_string().push(".tmp");
    {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
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
}
