//! A/B slot storage for the config partition, sans-IO over a byte region.
//!
//! The region (the whole config partition, or any byte range) is split into two equal
//! slots, A (first half) and B (second half). Each slot holds:
//!
//! ```text
//!  0        8           16       20                   52         64
//!  +--------+-----------+--------+--------------------+----------+----------------+
//!  | magic  | sequence  | length | SHA-256(sequence,  | zero     | blob (length B)|
//!  | 8 B    | u64 LE    | u32 LE | length, blob)      | 12 B     |                |
//!  +--------+-----------+--------+--------------------+----------+----------------+
//! ```
//!
//! [`write()`] targets the older slot (an empty or damaged slot counts as oldest) with a
//! sequence one above the newest, and returns the offset and bytes for the caller to
//! write. [`read`] returns the blob of the valid slot with the highest sequence. The slot
//! being written is never the one holding the newest config, and a partly written slot
//! fails its checksum, so a power cut at any byte leaves the previous config readable.
//! The sequence is independent of the blob's serial, so a factory reset to a lower
//! serial is still the newest slot.
//!
//! A slot may also hold a bare blob (starting with [`crate::blob::MAGIC`], no slot
//! header), as an image builder may place it; it reads as sequence 0, so any later
//! write goes to the other slot and wins. Its integrity rests on the blob signature.

use sha2::{Digest, Sha256};

/// First eight bytes of a written slot.
pub const SLOT_MAGIC: [u8; 8] = *b"RDCFSLOT";
/// Length of a slot header.
pub const SLOT_HEADER_LEN: usize = 64;

/// Why slot storage failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// Neither slot holds a valid blob (never provisioned, or both damaged).
    #[error("no valid config in either slot: the partition is unprovisioned or damaged")]
    Empty,
    /// The blob does not fit in one slot.
    #[error(
        "blob of {blob} bytes does not fit a slot of {capacity} bytes; enlarge the config partition"
    )]
    TooLarge {
        /// Blob length.
        blob: usize,
        /// Usable bytes per slot.
        capacity: usize,
    },
}

/// One of the two slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The first half of the region.
    A,
    /// The second half of the region.
    B,
}

/// What a valid slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotInfo<'a> {
    /// Which slot.
    pub slot: Slot,
    /// Write sequence (higher is newer).
    pub sequence: u64,
    /// The stored blob.
    pub blob: &'a [u8],
}

/// Bytes per slot in a region of `region_len` bytes.
pub fn slot_len(region_len: usize) -> usize {
    region_len / 2
}

fn slot_range(region_len: usize, slot: Slot) -> core::ops::Range<usize> {
    let len = slot_len(region_len);
    match slot {
        Slot::A => 0..len,
        Slot::B => len..2 * len,
    }
}

fn checksum(sequence: u64, blob: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(sequence.to_le_bytes());
    // NOTE(cast): callers bound blob lengths by the slot size, far below 4 GiB.
    hash.update((blob.len() as u32).to_le_bytes());
    hash.update(blob);
    hash.finalize().into()
}

/// Decodes one slot; `None` when empty, torn or damaged.
fn decode(region: &[u8], slot: Slot) -> Option<SlotInfo<'_>> {
    let bytes = region.get(slot_range(region.len(), slot))?;
    if bytes.starts_with(&crate::blob::MAGIC) {
        let header = crate::blob::Header::parse(bytes).ok()?;
        let len =
            crate::blob::HEADER_LEN + header.payload_len as usize + crate::blob::SIGNATURE_LEN;
        return bytes.get(..len).map(|blob| SlotInfo {
            slot,
            sequence: 0,
            blob,
        });
    }
    let header = bytes.get(..SLOT_HEADER_LEN)?;
    if header[0..8] != SLOT_MAGIC || header[52..64].iter().any(|&b| b != 0) {
        return None;
    }
    let sequence = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let length = u32::from_le_bytes(header[16..20].try_into().ok()?) as usize;
    let blob = bytes.get(SLOT_HEADER_LEN..SLOT_HEADER_LEN.checked_add(length)?)?;
    (header[20..52] == checksum(sequence, blob)).then_some(SlotInfo {
        slot,
        sequence,
        blob,
    })
}

/// Both slots as found: `[A, B]`, `None` for an empty or damaged slot.
pub fn inspect(region: &[u8]) -> [Option<SlotInfo<'_>>; 2] {
    [decode(region, Slot::A), decode(region, Slot::B)]
}

/// The newest valid slot.
pub fn newest(region: &[u8]) -> Result<SlotInfo<'_>, SlotError> {
    let [a, b] = inspect(region);
    match (a, b) {
        (Some(a), Some(b)) => Ok(if b.sequence > a.sequence { b } else { a }),
        (Some(only), None) | (None, Some(only)) => Ok(only),
        (None, None) => Err(SlotError::Empty),
    }
}

/// The blob of the newest valid slot.
pub fn read(region: &[u8]) -> Result<&[u8], SlotError> {
    newest(region).map(|info| info.blob)
}

/// Plans writing `blob` into the older slot of `region` (the region's current
/// contents). Returns the offset within the region and the bytes to write there.
pub fn write(region: &[u8], blob: &[u8]) -> Result<(u64, Vec<u8>), SlotError> {
    let capacity = slot_len(region.len()).saturating_sub(SLOT_HEADER_LEN);
    if blob.len() > capacity {
        return Err(SlotError::TooLarge {
            blob: blob.len(),
            capacity,
        });
    }
    let [a, b] = inspect(region);
    let (target, sequence) = match (a, b) {
        (Some(a), Some(b)) if a.sequence <= b.sequence => (Slot::A, b.sequence + 1),
        (Some(a), Some(_)) => (Slot::B, a.sequence + 1),
        (Some(a), None) => (Slot::B, a.sequence + 1),
        (None, Some(b)) => (Slot::A, b.sequence + 1),
        (None, None) => (Slot::A, 1),
    };
    let mut bytes = Vec::with_capacity(SLOT_HEADER_LEN + blob.len());
    bytes.extend_from_slice(&SLOT_MAGIC);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    // NOTE(cast): bounded by the slot capacity.
    bytes.extend_from_slice(&(blob.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&checksum(sequence, blob));
    bytes.extend_from_slice(&[0u8; 12]);
    bytes.extend_from_slice(blob);
    Ok((slot_range(region.len(), target).start as u64, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(region: &mut [u8], (offset, bytes): &(u64, Vec<u8>)) {
        let at = *offset as usize;
        region[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn store(region: &mut [u8], blob: &[u8]) {
        let plan = write(region, blob).unwrap();
        apply(region, &plan);
    }

    #[test]
    fn empty_region_reads_as_empty_and_first_write_goes_to_a() {
        let region = vec![0u8; 4096];
        assert_eq!(read(&region), Err(SlotError::Empty));
        let plan = write(&region, b"first").unwrap();
        assert_eq!(plan.0, 0);
    }

    #[test]
    fn writes_alternate_and_newest_wins() {
        let mut region = vec![0xffu8; 4096];
        for (i, blob) in [&b"one"[..], b"two", b"three", b"four"].iter().enumerate() {
            let plan = write(&region, blob).unwrap();
            assert_eq!(plan.0, if i % 2 == 0 { 0 } else { 2048 });
            apply(&mut region, &plan);
            assert_eq!(read(&region), Ok(*blob));
        }
    }

    #[test]
    fn damaged_newest_slot_falls_back_to_the_other() {
        let mut region = vec![0u8; 4096];
        store(&mut region, b"old");
        store(&mut region, b"new");
        region[2048 + SLOT_HEADER_LEN] ^= 1;
        assert_eq!(read(&region), Ok(&b"old"[..]));
        // The damaged slot is the one overwritten next.
        assert_eq!(write(&region, b"next").unwrap().0, 2048);
    }

    #[test]
    fn bare_blob_in_slot_a_reads_and_is_superseded_by_the_next_write() {
        let config = crate::load_toml(include_str!("../tests/vectors/golden.toml"), "g").unwrap();
        let key = crate::SigningKey::from_bytes(&[9; 32]);
        let blob = crate::sign(&config, &key, 5).unwrap();
        let mut region = vec![0u8; 8192];
        region[..blob.len()].copy_from_slice(&blob);
        assert_eq!(read(&region), Ok(&blob[..]));
        let plan = write(&region, b"next").unwrap();
        assert_eq!(plan.0, 4096);
        apply(&mut region, &plan);
        assert_eq!(read(&region), Ok(&b"next"[..]));
    }

    #[test]
    fn oversized_blob_is_refused() {
        let region = vec![0u8; 256];
        assert_eq!(
            write(&region, &[0u8; 65]),
            Err(SlotError::TooLarge {
                blob: 65,
                capacity: 64
            })
        );
    }

    #[test]
    fn power_cut_at_every_byte_keeps_the_previous_blob() {
        let mut region = vec![0u8; 2048];
        store(&mut region, b"generation one");
        store(&mut region, b"generation two, a bit longer");
        let before = region.clone();
        let new_blob = vec![0xa5u8; 300];
        let (offset, bytes) = write(&before, &new_blob).unwrap();
        for cut in 0..=bytes.len() {
            let mut torn = before.clone();
            let at = offset as usize;
            torn[at..at + cut].copy_from_slice(&bytes[..cut]);
            let got = read(&torn).unwrap();
            if cut == bytes.len() {
                assert_eq!(got, &new_blob[..]);
            } else {
                assert_eq!(got, b"generation two, a bit longer", "cut at byte {cut}");
            }
        }
    }
}
