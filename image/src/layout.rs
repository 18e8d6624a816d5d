//! The firmware disk layout, defined once for the builder, the provisioning tool and the
//! router's init.
//!
//! ```text
//! LBA 0        protective MBR (+ gptmbr.bin boot code for legacy BIOS)
//! LBA 1..33    primary GPT
//! 1 MiB        routerd-esp     64 MiB  FAT, EFI system partition + syslinux (legacy BIOS bootable)
//! 65 MiB       routerd-config   1 MiB  signed config, two slots (A at +0, B at +512 KiB)
//! 66 MiB       routerd-state   rest    ext4: persistent records (enrollment, applied serial)
//! end-33..end  backup GPT
//! ```
//!
//! Partitions are found by their GPT name (`PARTNAME` in the kernel's uevent), never by
//! number, so the layout may grow without breaking readers. Every partition starts on a
//! 1 MiB boundary. Unique GUIDs are derived from a seed so builds are reproducible.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::gpt::{self, ATTR_LEGACY_BIOS_BOOTABLE, Entry, Guid, SECTOR};

/// One MiB in bytes, the alignment of every partition.
pub const MIB: u64 = 1 << 20;

/// GPT name of the EFI system partition.
pub const ESP_NAME: &str = "routerd-esp";
/// GPT name of the signed-config partition (A/B slots).
pub const CONFIG_NAME: &str = "routerd-config";
/// GPT name of the persistent state partition.
pub const STATE_NAME: &str = "routerd-state";

/// Size of the EFI system partition.
pub const ESP_BYTES: u64 = 64 * MIB;
/// Size of the config partition (both slots).
pub const CONFIG_BYTES: u64 = MIB;
/// Size of one config slot; slot A starts at offset 0 of the config partition, slot B here.
pub const CONFIG_SLOT_BYTES: u64 = CONFIG_BYTES / 2;
/// Where init mounts the state partition's file system (and where, on images, the SAM
/// state and the applied-serial record live).
pub const STATE_MOUNT: &str = "/var/lib/routerd";
/// The last applied config serial (`config::serial_record`) inside [`STATE_MOUNT`].
pub const APPLIED_SERIAL_FILE: &str = "config.serial";

/// Smallest state partition the builder accepts.
pub const STATE_MIN_BYTES: u64 = 8 * MIB;

/// Type GUID of an EFI system partition.
pub const ESP_TYPE: Guid = Guid::from_str_const("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
/// Type GUID of the routerd config partition (project specific).
pub const CONFIG_TYPE: Guid = Guid::from_str_const("5B3A6D2E-9C41-4E0F-8A7D-52F07C1D6E01");
/// Type GUID of the routerd state partition (project specific).
pub const STATE_TYPE: Guid = Guid::from_str_const("5B3A6D2E-9C41-4E0F-8A7D-52F07C1D6E02");

/// Smallest disk that holds the layout (partitions, alignment and the backup GPT).
pub const MIN_DISK_BYTES: u64 = MIB + ESP_BYTES + CONFIG_BYTES + STATE_MIN_BYTES + MIB;

/// A partition of the layout, placed on a disk of a given size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// GPT name.
    pub name: &'static str,
    /// Byte offset from the start of the disk.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Errors of planning a layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The requested disk cannot hold the layout.
    #[error(
        "disk of {size} bytes is too small for the layout (need at least {MIN_DISK_BYTES}); choose a larger disk_size_mib"
    )]
    DiskTooSmall {
        /// The requested size.
        size: u64,
    },
    /// The disk size is not a whole number of MiB.
    #[error("disk size {0} is not a multiple of 1 MiB")]
    Unaligned(u64),
}

/// Places the layout on a disk of `disk_bytes`: ESP, config, state (state takes the rest
/// up to the last MiB, which holds the backup GPT).
pub fn plan(disk_bytes: u64) -> Result<Vec<Placed>, LayoutError> {
    if !disk_bytes.is_multiple_of(MIB) {
        return Err(LayoutError::Unaligned(disk_bytes));
    }
    if disk_bytes < MIN_DISK_BYTES {
        return Err(LayoutError::DiskTooSmall { size: disk_bytes });
    }
    let esp = MIB;
    let config = esp + ESP_BYTES;
    let state = config + CONFIG_BYTES;
    let state_len = disk_bytes - MIB - state;
    Ok(vec![
        Placed {
            name: ESP_NAME,
            offset: esp,
            len: ESP_BYTES,
        },
        Placed {
            name: CONFIG_NAME,
            offset: config,
            len: CONFIG_BYTES,
        },
        Placed {
            name: STATE_NAME,
            offset: state,
            len: state_len,
        },
    ])
}

/// GPT entries for a plan; unique GUIDs derive from `seed` and the partition name.
pub fn entries(plan: &[Placed], seed: [u8; 16]) -> Vec<Entry> {
    plan.iter()
        .map(|p| {
            let (type_guid, attributes) = match p.name {
                ESP_NAME => (ESP_TYPE, ATTR_LEGACY_BIOS_BOOTABLE),
                CONFIG_NAME => (CONFIG_TYPE, 0),
                _ => (STATE_TYPE, 0),
            };
            let mut unique = seed;
            for (i, b) in p.name.bytes().enumerate() {
                unique[i % 16] ^= b.rotate_left(i as u32);
            }
            Entry {
                type_guid,
                unique_guid: Guid::derived(unique),
                first_lba: p.offset / SECTOR,
                last_lba: (p.offset + p.len) / SECTOR - 1,
                attributes,
                name: p.name.to_string(),
            }
        })
        .collect()
}

/// Byte offset and length of the partition named `name` in the GPT of the disk image or
/// block device at `path`. `Ok(None)` when the disk has no GPT or no such partition; a
/// damaged GPT is an `InvalidData` error.
pub fn find_partition(path: &Path, name: &str) -> io::Result<Option<(u64, u64)>> {
    let mut disk = File::open(path)?;
    let Some(table) = gpt::read(&mut disk)? else {
        return Ok(None);
    };
    Ok(table
        .entries
        .iter()
        .find(|e| e.name == name)
        .map(|e| (e.offset_bytes(), e.len_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plan_is_aligned_contiguous_and_leaves_room_for_the_backup_gpt() {
        let disk = 128 * MIB;
        let parts = plan(disk).unwrap();
        assert_eq!(parts.len(), 3);
        let mut end = MIB;
        for p in &parts {
            assert_eq!(p.offset % MIB, 0, "{} unaligned", p.name);
            assert_eq!(p.offset, end);
            end = p.offset + p.len;
        }
        assert_eq!(end, disk - MIB);
        assert!(matches!(
            plan(MIN_DISK_BYTES - MIB),
            Err(LayoutError::DiskTooSmall { .. })
        ));
        assert!(matches!(
            plan(MIN_DISK_BYTES + 1),
            Err(LayoutError::Unaligned(_))
        ));
    }

    #[test]
    fn find_partition_locates_each_partition_by_name_in_a_file() {
        let disk = MIN_DISK_BYTES;
        let parts = plan(disk).unwrap();
        let path = std::env::temp_dir().join(format!("layout-test-{}.img", std::process::id()));
        let mut file = File::create(&path).unwrap();
        file.set_len(disk).unwrap();
        gpt::write(
            &mut file,
            disk,
            Guid::derived([9; 16]),
            &entries(&parts, [3; 16]),
        )
        .unwrap();
        file.flush().unwrap();
        for p in &parts {
            assert_eq!(
                find_partition(&path, p.name).unwrap(),
                Some((p.offset, p.len))
            );
        }
        assert_eq!(find_partition(&path, "no-such-partition").unwrap(), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn unique_guids_differ_per_partition_and_follow_the_seed() {
        let parts = plan(MIN_DISK_BYTES).unwrap();
        let a = entries(&parts, [5; 16]);
        let b = entries(&parts, [5; 16]);
        let c = entries(&parts, [6; 16]);
        assert_eq!(a, b);
        assert_ne!(a[0].unique_guid, a[1].unique_guid);
        assert_ne!(a[0].unique_guid, c[0].unique_guid);
    }
}
