//! Any bytes as a signed config blob, as the contents of an A/B config partition, as a
//! last-applied-serial record and as TOML text. Nothing may panic; a blob that verifies
//! must decode to a valid config and re-sign to the very same bytes (one encoding per
//! config), and the slot reader must only return blobs that parse.
#![no_main]

use config::{SigningKey, TrustedKey, TrustedKeys, blob::Blob, serial_record, slots, verify};
use libfuzzer_sys::fuzz_target;

/// The seed corpus is signed with this key (`SigningKey::from_bytes(&[1; 32])`).
fn key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fuzz_target!(|data: &[u8]| {
    let trust = TrustedKeys::new(&[TrustedKey(key().verifying_key().to_bytes())])
        .expect("fixed key is valid");
    let board = Blob::parse(data)
        .map(|b| b.header().board.to_string())
        .unwrap_or_else(|_| "pve-x86_64".to_string());
    for (last_serial, factory_reset) in [(0, false), (u64::MAX, false), (u64::MAX, true)] {
        if let Ok(verified) = verify(data, &trust, &board, last_serial, factory_reset) {
            assert!(config::validate(&verified).is_ok());
            let again = config::sign(&verified, &key(), verified.serial()).expect("re-sign");
            assert_eq!(again, data, "a verified blob has exactly one encoding");
        }
    }
    if let Ok(blob) = Blob::parse(data) {
        let _ = blob.decode_unverified();
    }

    if let Ok(stored) = slots::read(data) {
        assert!(Blob::parse(stored).is_ok() || stored.len() <= data.len() / 2);
        if let Ok((offset, bytes)) = slots::write(data, stored) {
            assert!(offset as usize + bytes.len() <= data.len());
        }
    }
    let _ = slots::inspect(data);

    if let Ok(serial) = serial_record::decode(data) {
        assert_eq!(serial_record::encode(serial), data);
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = config::load_toml(text, "fuzz.toml")
    {
        assert!(config::validate(&config).is_ok());
    }
});
