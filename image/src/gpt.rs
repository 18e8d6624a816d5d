//! GUID partition tables, written and read by code (no `sgdisk`, no root, no loop devices).
//!
//! [`write`] lays down a protective MBR (keeping the first 440 bytes, where a BIOS boot
//! loader such as syslinux's `gptmbr.bin` lives), the primary header and entry array at
//! LBA 1..=33 and the backup entry array and header at the end of the disk. [`read`] parses
//! the primary table back and checks both CRC32s; it never panics on any input.
//!
//! Invariants: 512-byte logical sectors, 128 entries of 128 bytes, partitions aligned by the
//! caller (see [`crate::layout`]). Names are UTF-16LE, at most 36 code units.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// Logical sector size assumed by the whole image format.
pub const SECTOR: u64 = 512;
/// Number of entries in the partition entry array.
pub const ENTRY_COUNT: u32 = 128;
/// Size of one partition entry in bytes.
pub const ENTRY_SIZE: u32 = 128;
/// Sectors used by the entry array (128 * 128 / 512).
pub const ENTRY_SECTORS: u64 = (ENTRY_COUNT as u64 * ENTRY_SIZE as u64) / SECTOR;
/// GPT attribute bit 2: the partition is bootable by legacy BIOS (used by `gptmbr.bin`).
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION_1_0: u32 = 0x0001_0000;
const HEADER_SIZE: u32 = 92;

/// A GUID in its mixed-endian on-disk byte order is produced by [`Guid::to_disk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Guid {
    /// The 16 bytes in the canonical textual order (as printed `xxxxxxxx-xxxx-...`).
    pub bytes: [u8; 16],
}

impl Guid {
    /// Parses the textual form `C12A7328-F81F-11D2-BA4B-00A0C93EC93B` at compile time.
    /// Panics (at compile time when used in a `const`) on a malformed literal.
    pub const fn from_str_const(s: &str) -> Guid {
        let b = s.as_bytes();
        assert!(b.len() == 36, "guid literal must have 36 characters");
        let mut out = [0u8; 16];
        let mut i = 0;
        let mut n = 0;
        while i < b.len() {
            if b[i] == b'-' {
                i += 1;
                continue;
            }
            out[n] = (hex_digit(b[i]) << 4) | hex_digit(b[i + 1]);
            n += 1;
            i += 2;
        }
        assert!(n == 16, "guid literal must have 32 hex digits");
        Guid { bytes: out }
    }

    /// Builds a random-format (version 4, RFC 4122 variant) GUID from 16 arbitrary bytes,
    /// e.g. a hash of the build inputs, so the same inputs give the same GUID.
    pub fn derived(seed: [u8; 16]) -> Guid {
        let mut bytes = seed;
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Guid { bytes }
    }

    /// The on-disk form: first three fields little-endian, the rest as is.
    pub fn to_disk(self) -> [u8; 16] {
        let b = self.bytes;
        let mut d = b;
        d[0..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
        d[4..6].copy_from_slice(&[b[5], b[4]]);
        d[6..8].copy_from_slice(&[b[7], b[6]]);
        d
    }

    /// Inverse of [`Guid::to_disk`].
    pub fn from_disk(d: [u8; 16]) -> Guid {
        // The byte swap is its own inverse.
        Guid {
            bytes: Guid { bytes: d }.to_disk(),
        }
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, byte) in self.bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("invalid hex digit in guid literal"),
    }
}

/// One partition as stored in the entry array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Partition type GUID.
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub unique_guid: Guid,
    /// First sector (inclusive).
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Attribute bits, e.g. [`ATTR_LEGACY_BIOS_BOOTABLE`].
    pub attributes: u64,
    /// Partition name (GPT "PARTNAME"), at most 36 UTF-16 code units.
    pub name: String,
}

impl Entry {
    /// Byte offset of the partition from the start of the disk.
    pub fn offset_bytes(&self) -> u64 {
        self.first_lba * SECTOR
    }

    /// Length of the partition in bytes.
    pub fn len_bytes(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR
    }

    fn encode(&self) -> io::Result<[u8; ENTRY_SIZE as usize]> {
        let mut e = [0u8; ENTRY_SIZE as usize];
        e[0..16].copy_from_slice(&self.type_guid.to_disk());
        e[16..32].copy_from_slice(&self.unique_guid.to_disk());
        e[32..40].copy_from_slice(&self.first_lba.to_le_bytes());
        e[40..48].copy_from_slice(&self.last_lba.to_le_bytes());
        e[48..56].copy_from_slice(&self.attributes.to_le_bytes());
        let units: Vec<u16> = self.name.encode_utf16().collect();
        if units.len() > 36 {
            return Err(invalid(format!(
                "partition name {:?} is longer than 36 units",
                self.name
            )));
        }
        for (i, u) in units.iter().enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        Ok(e)
    }

    fn decode(e: &[u8]) -> Option<Entry> {
        let type_guid = Guid::from_disk(e[0..16].try_into().ok()?);
        if type_guid.bytes == [0; 16] {
            return None;
        }
        let units: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        Some(Entry {
            type_guid,
            unique_guid: Guid::from_disk(e[16..32].try_into().ok()?),
            first_lba: u64::from_le_bytes(e[32..40].try_into().ok()?),
            last_lba: u64::from_le_bytes(e[40..48].try_into().ok()?),
            attributes: u64::from_le_bytes(e[48..56].try_into().ok()?),
            name: String::from_utf16_lossy(&units),
        })
    }
}

/// CRC-32 (IEEE 802.3, reflected, as used by GPT, gzip and zip).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// First sector usable by partitions (after the protective MBR, header and entry array).
pub fn first_usable_lba() -> u64 {
    2 + ENTRY_SECTORS
}

/// Last sector usable by partitions on a disk of `disk_sectors` sectors.
pub fn last_usable_lba(disk_sectors: u64) -> u64 {
    disk_sectors - 2 - ENTRY_SECTORS
}

/// Writes the protective MBR partition record, both GPT headers and both entry arrays to a
/// disk of `disk_bytes` bytes. The MBR boot code area (bytes 0..440) is left untouched.
pub fn write<D: Write + Seek>(
    disk: &mut D,
    disk_bytes: u64,
    disk_guid: Guid,
    entries: &[Entry],
) -> io::Result<()> {
    if !disk_bytes.is_multiple_of(SECTOR) || disk_bytes < 128 * SECTOR {
        return Err(invalid(format!(
            "disk size {disk_bytes} is not a usable sector multiple"
        )));
    }
    if entries.len() > ENTRY_COUNT as usize {
        return Err(invalid("too many partitions".to_string()));
    }
    let sectors = disk_bytes / SECTOR;
    let (first, last) = (first_usable_lba(), last_usable_lba(sectors));
    for e in entries {
        if e.first_lba < first || e.last_lba > last || e.first_lba > e.last_lba {
            return Err(invalid(format!(
                "partition {:?} lies outside the usable area",
                e.name
            )));
        }
    }

    let mut array = vec![0u8; (ENTRY_COUNT * ENTRY_SIZE) as usize];
    for (slot, e) in array.chunks_exact_mut(ENTRY_SIZE as usize).zip(entries) {
        slot.copy_from_slice(&e.encode()?);
    }
    let array_crc = crc32(&array);

    // Protective MBR: one partition of type 0xEE covering the disk (capped at 2^32-1).
    let mut mbr_tail = [0u8; 72];
    let record = &mut mbr_tail[6..22];
    record[0] = 0x00;
    record[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    record[4] = 0xEE;
    record[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    record[8..12].copy_from_slice(&1u32.to_le_bytes());
    let covered = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    record[12..16].copy_from_slice(&covered.to_le_bytes());
    mbr_tail[70] = 0x55;
    mbr_tail[71] = 0xAA;
    disk.seek(SeekFrom::Start(440))?;
    disk.write_all(&mbr_tail)?;

    let backup_array_lba = sectors - 1 - ENTRY_SECTORS;
    let header = |my: u64, alternate: u64, array_lba: u64| {
        let mut h = [0u8; SECTOR as usize];
        h[0..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&REVISION_1_0.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alternate.to_le_bytes());
        h[40..48].copy_from_slice(&first.to_le_bytes());
        h[48..56].copy_from_slice(&last.to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid.to_disk());
        h[72..80].copy_from_slice(&array_lba.to_le_bytes());
        h[80..84].copy_from_slice(&ENTRY_COUNT.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let crc = crc32(&h[..HEADER_SIZE as usize]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };

    disk.seek(SeekFrom::Start(SECTOR))?;
    disk.write_all(&header(1, sectors - 1, 2))?;
    disk.write_all(&array)?;
    disk.seek(SeekFrom::Start(backup_array_lba * SECTOR))?;
    disk.write_all(&array)?;
    disk.write_all(&header(sectors - 1, 1, backup_array_lba))?;
    Ok(())
}

/// A parsed partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Disk GUID from the primary header.
    pub disk_guid: Guid,
    /// Used entries, in entry-array order.
    pub entries: Vec<Entry>,
}

/// Reads and verifies the primary GPT of a disk image. Returns `Ok(None)` when the disk has
/// no GPT signature; a GPT with a bad checksum or impossible geometry is an
/// `InvalidData` error.
pub fn read<D: Read + Seek>(disk: &mut D) -> io::Result<Option<Table>> {
    let mut h = [0u8; SECTOR as usize];
    disk.seek(SeekFrom::Start(SECTOR))?;
    if read_full(disk, &mut h)? < h.len() || &h[0..8] != SIGNATURE {
        return Ok(None);
    }
    let header_size = u32::from_le_bytes(h[12..16].try_into().unwrap_or_default()) as usize;
    if !(HEADER_SIZE as usize..=SECTOR as usize).contains(&header_size) {
        return Err(corrupt("header size out of range"));
    }
    let stored_crc = u32::from_le_bytes(h[16..20].try_into().unwrap_or_default());
    let mut check = h;
    check[16..20].fill(0);
    if crc32(&check[..header_size]) != stored_crc {
        return Err(corrupt("header checksum mismatch"));
    }
    let le64 = |r: std::ops::Range<usize>| u64::from_le_bytes(h[r].try_into().unwrap_or_default());
    let le32 = |r: std::ops::Range<usize>| u32::from_le_bytes(h[r].try_into().unwrap_or_default());
    let array_lba = le64(72..80);
    let count = le32(80..84);
    let size = le32(84..88);
    if count > 1024 || !(128..=4096).contains(&size) || !size.is_multiple_of(8) {
        return Err(corrupt("entry array geometry out of range"));
    }
    let mut array = vec![0u8; (count * size) as usize];
    disk.seek(SeekFrom::Start(array_lba.saturating_mul(SECTOR)))?;
    if read_full(disk, &mut array)? < array.len() {
        return Err(corrupt("entry array truncated"));
    }
    if crc32(&array) != le32(88..92) {
        return Err(corrupt("entry array checksum mismatch"));
    }
    let entries = array
        .chunks_exact(size as usize)
        .filter_map(Entry::decode)
        .collect();
    Ok(Some(Table {
        disk_guid: Guid::from_disk(h[56..72].try_into().unwrap_or_default()),
        entries,
    }))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn corrupt(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gpt: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn guid_text_and_disk_forms_round_trip() {
        let g = Guid::from_str_const("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(g.to_string(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(g.to_disk()[0..4], [0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(Guid::from_disk(g.to_disk()), g);
    }

    #[test]
    fn written_table_reads_back_and_backup_mirrors_primary() {
        let bytes = 8 << 20;
        let mut disk = Cursor::new(vec![0u8; bytes as usize]);
        let entries = vec![Entry {
            type_guid: Guid::from_str_const("0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
            unique_guid: Guid::derived([7; 16]),
            first_lba: 2048,
            last_lba: 4095,
            attributes: ATTR_LEGACY_BIOS_BOOTABLE,
            name: "routerd-test".into(),
        }];
        let disk_guid = Guid::derived([1; 16]);
        write(&mut disk, bytes, disk_guid, &entries).unwrap();
        let table = read(&mut disk).unwrap().unwrap();
        assert_eq!(table.disk_guid, disk_guid);
        assert_eq!(table.entries, entries);
        let raw = disk.into_inner();
        assert_eq!(&raw[510..512], &[0x55, 0xAA]);
        assert_eq!(raw[450], 0xEE);
        let sectors = (bytes / SECTOR) as usize;
        let backup = &raw[(sectors - 1) * 512..];
        assert_eq!(&backup[0..8], SIGNATURE);
        let primary_array = &raw[1024..1024 + 16384];
        let backup_array = &raw[(sectors - 33) * 512..(sectors - 1) * 512];
        assert_eq!(primary_array, backup_array);
    }

    #[test]
    fn corrupted_header_is_reported_not_trusted() {
        let bytes = 4 << 20;
        let mut disk = Cursor::new(vec![0u8; bytes as usize]);
        write(&mut disk, bytes, Guid::derived([2; 16]), &[]).unwrap();
        disk.get_mut()[512 + 60] ^= 0xFF;
        let err = read(&mut disk).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn read_never_panics_on_arbitrary_headers() {
        let mut seed = 0x1234_5678_u32;
        for _ in 0..200 {
            let mut raw = vec![0u8; 64 * 1024];
            for b in raw.iter_mut() {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *b = (seed >> 16) as u8;
            }
            raw[512..520].copy_from_slice(SIGNATURE);
            let _ = read(&mut Cursor::new(raw));
        }
        assert_eq!(read(&mut Cursor::new(vec![0u8; 100])).unwrap(), None);
    }
}
