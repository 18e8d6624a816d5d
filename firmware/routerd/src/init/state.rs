//! The state partition on the image: mounted at [`STATE_MOUNT`] (ext4, written by the
//! image builder), holding SAM's records and the last applied config serial.
//!
//! [`mount`] never fails the boot: without a state partition, or when it does not mount,
//! a tmpfs takes its place and the console says that state lasts only until the next
//! boot (routing works; enrollment is redone after a reboot, and anti-rollback falls back
//! to serial 0). [`applied_serial`] reads the record, [`record_applied`] raises it
//! atomically (temp file, fsync, rename, fsync of the directory), never lowers it.

use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) use image_builder::layout::{APPLIED_SERIAL_FILE, STATE_MOUNT};

use super::{BootContext, console, sys};

/// Where state lives for this boot.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    /// The directory ([`STATE_MOUNT`]).
    pub(crate) path: PathBuf,
    /// Whether it survives a reboot (the state partition is mounted).
    pub(crate) persistent: bool,
}

impl StateDir {
    /// The applied-serial record inside this directory.
    pub(crate) fn serial_record(&self) -> PathBuf {
        self.path.join(APPLIED_SERIAL_FILE)
    }
}

/// Mounts the state partition at [`STATE_MOUNT`], or a tmpfs when that is not possible.
pub(crate) fn mount(ctx: &BootContext) -> StateDir {
    const FLAGS: libc::c_ulong =
        libc::MS_NOATIME | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let path = PathBuf::from(STATE_MOUNT);
    let why = match &ctx.state_partition {
        Some(device) => match sys::mount(&device.to_string_lossy(), STATE_MOUNT, "ext4", FLAGS, "")
        {
            Ok(()) => {
                console(&format!(
                    "state partition {} mounted at {STATE_MOUNT}",
                    device.display()
                ));
                return StateDir {
                    path,
                    persistent: true,
                };
            }
            Err(e) => format!(
                "state partition {} does not mount as ext4: {e}",
                device.display()
            ),
        },
        None => "no state partition found".to_string(),
    };
    console(&format!(
        "{why}; state is kept in memory until the next boot (enrollment is redone after a reboot)"
    ));
    if let Err(e) = sys::mount("tmpfs", STATE_MOUNT, "tmpfs", FLAGS, "mode=0700") {
        console(&format!(
            "cannot mount a tmpfs at {STATE_MOUNT} either: {e}"
        ));
    }
    StateDir {
        path,
        persistent: false,
    }
}

/// The last applied serial recorded in `state` (0 when there is no valid record; a
/// damaged record is reported).
pub(crate) fn applied_serial(state: &StateDir) -> u64 {
    let path = state.serial_record();
    match std::fs::read(&path) {
        Ok(bytes) => match config::serial_record::decode(&bytes) {
            Ok(serial) => serial,
            Err(e) => {
                console(&format!(
                    "applied-serial record {} is unusable ({e}); rollback floor is 0",
                    path.display()
                ));
                0
            }
        },
        Err(_) => 0,
    }
}

/// Records `serial` as applied when it is higher than the recorded one.
pub(crate) fn record_applied(state: &StateDir, serial: u64) -> std::io::Result<()> {
    if serial <= applied_serial(state) {
        return Ok(());
    }
    write_atomic(
        &state.serial_record(),
        &config::serial_record::encode(serial),
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_serial_only_rises() {
        let dir = std::env::temp_dir().join(format!("state-serial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = StateDir {
            path: dir.clone(),
            persistent: true,
        };
        assert_eq!(applied_serial(&state), 0);
        record_applied(&state, 9).unwrap();
        assert_eq!(applied_serial(&state), 9);
        record_applied(&state, 3).unwrap();
        assert_eq!(applied_serial(&state), 9);
        std::fs::write(state.serial_record(), b"garbage").unwrap();
        assert_eq!(applied_serial(&state), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
