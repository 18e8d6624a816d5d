//! Where a confirmed config is written: a blob file on a plain host, or the A/B config
//! partition of an image.
//!
//! Contract: [`ConfigStore::write`] is called once per confirm and writes the blob first,
//! then the applied-serial record ([`config::serial_record`]). Each step is crash safe on
//! its own, so a power cut at any point leaves a config that boots:
//! - [`ConfigStore::BlobFile`]: the blob replaces the file through a temporary file,
//!   fsync, rename and an fsync of the directory; the record goes to `<blob>.applied-serial`
//!   the same way.
//! - [`ConfigStore::Partition`]: the blob goes into the *older* slot of the partition
//!   ([`config::slots::write`]), written in place and fsynced; the slot holding the running
//!   config is never touched, and a torn slot fails its checksum, so the newest valid
//!   slot at boot is either the new config or the previous one. The record is written
//!   atomically to its file on the state partition afterwards; a cut between the two
//!   steps leaves the old record, which is a lower rollback floor and still admits the
//!   new slot.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use config::slots::SlotError;

use crate::sam::store::write_atomically;

/// Where confirmed configs are kept.
#[derive(Debug, Clone)]
pub(crate) enum ConfigStore {
    /// A blob file the router starts from (`routerd run --config-blob FILE`), with the
    /// applied-serial record beside it (`<blob>.applied-serial`).
    BlobFile {
        /// The blob file.
        blob: PathBuf,
    },
    /// The image's config partition (two slots) and the applied-serial record on the
    /// state partition.
    Partition {
        /// The config partition's block device (or a file standing in for it).
        device: PathBuf,
        /// The applied-serial record file (`/var/lib/routerd/config.serial` on an image).
        serial_record: PathBuf,
    },
}

/// A confirmed config could not be written; the running config stays in memory.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// Reading or writing a file or device failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or device.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The blob does not fit a slot of the config partition.
    #[error("{device}: {source}")]
    Slot {
        /// The partition device.
        device: PathBuf,
        /// Why.
        source: SlotError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ConfigStore {
    /// Path of the applied-serial record.
    pub(crate) fn serial_record(&self) -> PathBuf {
        match self {
            ConfigStore::BlobFile { blob } => {
                let mut name = blob.as_os_str().to_owned();
                name.push(".applied-serial");
                PathBuf::from(name)
            }
            ConfigStore::Partition { serial_record, .. } => serial_record.clone(),
        }
    }

    /// Writes `blob` (the blob file, or the older partition slot), then the serial
    /// record; returns what was written, one line each.
    pub(crate) fn write(&self, blob: &[u8], serial: u64) -> Result<Vec<String>, StoreError> {
        let blob_written = match self {
            ConfigStore::BlobFile { blob: path } => {
                write_atomically(path, blob).map_err(io_error(path))?;
                path.display().to_string()
            }
            ConfigStore::Partition { device, .. } => write_slot(device, blob)?,
        };
        let record = self.serial_record();
        write_atomically(&record, &config::serial_record::encode(serial))
            .map_err(io_error(&record))?;
        Ok(vec![blob_written, record.display().to_string()])
    }
}

/// Writes `blob` into the older slot of the partition at `device`; returns a line naming
/// the device, the slot and its sequence.
fn write_slot(device: &Path, blob: &[u8]) -> Result<String, StoreError> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(io_error(device))?;
    let mut region = Vec::new();
    file.read_to_end(&mut region).map_err(io_error(device))?;
    // A confirm repeated after a failed record write finds its blob already in place:
    // writing it again would overwrite the previous config's slot.
    if let Ok(newest) = config::slots::newest(&region)
        && newest.blob == blob
    {
        return Ok(format!(
            "{} (slot {:?} already holds it, sequence {})",
            device.display(),
            newest.slot,
            newest.sequence
        ));
    }
    let (offset, bytes) =
        config::slots::write(&region, blob).map_err(|source| StoreError::Slot {
            device: device.to_path_buf(),
            source,
        })?;
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.write_all(&bytes))
        .and_then(|()| file.sync_all())
        .map_err(io_error(device))?;
    let slot = if offset == 0 { "A" } else { "B" };
    let sequence = bytes
        .get(8..16)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    Ok(format!(
        "{} (slot {slot}, sequence {sequence})",
        device.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rdstore-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_blob_file_store_writes_the_blob_and_the_serial_record() {
        let dir = scratch("file");
        let store = ConfigStore::BlobFile {
            blob: dir.join("router.blob"),
        };
        std::fs::write(dir.join("router.blob"), b"old").unwrap();
        let written = store.write(b"new blob", 42).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(std::fs::read(dir.join("router.blob")).unwrap(), b"new blob");
        let record = std::fs::read(dir.join("router.blob.applied-serial")).unwrap();
        assert_eq!(config::serial_record::decode(&record), Ok(42));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_partition_store_alternates_slots_and_the_newest_is_read_back() {
        let dir = scratch("part");
        let device = dir.join("config-partition");
        std::fs::write(&device, vec![0u8; 64 * 1024]).unwrap();
        let store = ConfigStore::Partition {
            device: device.clone(),
            serial_record: dir.join("state").join("config.serial"),
        };
        let first = store.write(b"first config", 7).unwrap();
        assert!(first[0].contains("slot A, sequence 1"), "{first:?}");
        let second = store.write(b"second config", 8).unwrap();
        assert!(second[0].contains("slot B, sequence 2"), "{second:?}");
        let region = std::fs::read(&device).unwrap();
        assert_eq!(region.len(), 64 * 1024, "the partition keeps its size");
        let newest = config::slots::newest(&region).unwrap();
        assert_eq!(newest.blob, b"second config");
        let [a, _] = config::slots::inspect(&region);
        assert_eq!(a.map(|a| a.blob), Some(&b"first config"[..]));
        let record = std::fs::read(dir.join("state").join("config.serial")).unwrap();
        assert_eq!(config::serial_record::decode(&record), Ok(8));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_blob_larger_than_a_slot_is_refused_and_nothing_changes() {
        let dir = scratch("big");
        let device = dir.join("config-partition");
        std::fs::write(&device, vec![0u8; 1024]).unwrap();
        let store = ConfigStore::Partition {
            device: device.clone(),
            serial_record: dir.join("config.serial"),
        };
        let error = store.write(&[1u8; 600], 3).unwrap_err();
        assert!(matches!(error, StoreError::Slot { .. }), "{error}");
        assert_eq!(std::fs::read(&device).unwrap(), vec![0u8; 1024]);
        assert!(!dir.join("config.serial").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A power cut during the slot write, modelled on the file standing in for the
    /// partition: every prefix of the write, and the write with any one 512-byte sector
    /// missing (the disk may reorder sectors), leaves the previous config as the newest.
    #[test]
    fn a_power_cut_in_the_slot_write_keeps_the_previous_config() {
        let dir = scratch("cut");
        let device = dir.join("config-partition");
        std::fs::write(&device, vec![0u8; 16 * 1024]).unwrap();
        let store = ConfigStore::Partition {
            device: device.clone(),
            serial_record: dir.join("config.serial"),
        };
        store.write(b"generation one", 1).unwrap();
        store.write(b"generation two", 2).unwrap();
        let before = std::fs::read(&device).unwrap();
        let new_blob: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        store.write(&new_blob, 3).unwrap();
        let after = std::fs::read(&device).unwrap();
        let changed: Vec<usize> = (0..after.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        let (first, last) = (changed[0], changed[changed.len() - 1]);
        let check = |torn: &[u8], what: &str| {
            let newest = config::slots::newest(torn).unwrap();
            assert_eq!(newest.blob, b"generation two", "{what}");
        };
        assert!(last < 8 * 1024, "only slot A changed");
        for cut in first..=last {
            let mut torn = before.clone();
            torn[first..cut].copy_from_slice(&after[first..cut]);
            check(&torn, &format!("cut at byte {cut}"));
        }
        for sector in (first / 512)..=(last / 512) {
            let mut torn = after.clone();
            let range = sector * 512..(sector + 1) * 512;
            torn[range.clone()].copy_from_slice(&before[range]);
            if torn != after {
                check(&torn, &format!("sector {sector} not written"));
            }
        }
        assert_eq!(config::slots::newest(&after).unwrap().blob, &new_blob[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
