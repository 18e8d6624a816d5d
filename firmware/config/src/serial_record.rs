//! The "last applied serial" record kept in the state partition (or state directory).
//!
//! ```text
//!  0         8           16                 24
//!  +---------+-----------+------------------+
//!  | magic   | serial    | SHA-256(magic,   |
//!  | 8 B     | u64 LE    | serial)[..8]     |
//!  +---------+-----------+------------------+
//! ```
//!
//! The caller writes the record after a config is applied (atomically: a temporary file
//! and rename, or two copies) and passes the decoded serial to [`crate::verify`].

use sha2::{Digest, Sha256};

/// First eight bytes of a record.
pub const RECORD_MAGIC: [u8; 8] = *b"RDSERIAL";
/// Length of an encoded record.
pub const RECORD_LEN: usize = 24;

/// Why a record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SerialRecordError {
    /// Not a serial record, or damaged.
    #[error("serial record is damaged or not a serial record")]
    Damaged,
    /// Wrong length.
    #[error("serial record is {0} bytes, expected 24")]
    Length(usize),
}

fn check(serial: u64) -> [u8; 8] {
    let mut hash = Sha256::new();
    hash.update(RECORD_MAGIC);
    hash.update(serial.to_le_bytes());
    let digest = hash.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Encodes `serial` as a record.
pub fn encode(serial: u64) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    out[0..8].copy_from_slice(&RECORD_MAGIC);
    out[8..16].copy_from_slice(&serial.to_le_bytes());
    out[16..24].copy_from_slice(&check(serial));
    out
}

/// Decodes a record.
pub fn decode(bytes: &[u8]) -> Result<u64, SerialRecordError> {
    if bytes.len() != RECORD_LEN {
        return Err(SerialRecordError::Length(bytes.len()));
    }
    if bytes[0..8] != RECORD_MAGIC {
        return Err(SerialRecordError::Damaged);
    }
    let mut serial = [0u8; 8];
    serial.copy_from_slice(&bytes[8..16]);
    let serial = u64::from_le_bytes(serial);
    if bytes[16..24] != check(serial) {
        return Err(SerialRecordError::Damaged);
    }
    Ok(serial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_every_flip_is_detected() {
        let record = encode(1_700_000_123);
        assert_eq!(decode(&record), Ok(1_700_000_123));
        for i in 0..RECORD_LEN {
            let mut bad = record;
            bad[i] ^= 0x10;
            assert_eq!(decode(&bad), Err(SerialRecordError::Damaged), "flip at {i}");
        }
        assert_eq!(decode(&record[..23]), Err(SerialRecordError::Length(23)));
    }
}
