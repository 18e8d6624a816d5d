//! A/B slots holding real signed blobs: a power cut at any byte of a slot write leaves a
//! config that still verifies.

mod common;

use common::{BOARD, config_trusting, key, trusted};
use routerd_config::{TrustedKeys, slots, verify};

fn store(region: &mut [u8], blob: &[u8]) {
    let (offset, bytes) = slots::write(region, blob).unwrap();
    region[offset as usize..offset as usize + bytes.len()].copy_from_slice(&bytes);
}

#[test]
fn power_cut_at_every_byte_of_a_slot_write_leaves_a_loadable_config() {
    let trust = TrustedKeys::new(&[trusted(1)]).unwrap();
    let blob = |serial| routerd_config::sign(&config_trusting(&[1]), &key(1), serial).unwrap();
    let mut region = vec![0u8; 8192];
    store(&mut region, &blob(1));
    store(&mut region, &blob(2));
    let before = region.clone();
    let (offset, bytes) = slots::write(&before, &blob(3)).unwrap();
    let offset = offset as usize;
    for cut in 0..=bytes.len() {
        let mut torn = before.clone();
        torn[offset..offset + cut].copy_from_slice(&bytes[..cut]);
        let stored = slots::read(&torn).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let verified =
            verify(stored, &trust, BOARD, 0, false).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let expected = if cut == bytes.len() { 3 } else { 2 };
        assert_eq!(verified.serial(), expected, "cut at byte {cut}");
    }
}

#[test]
fn factory_reset_to_a_lower_serial_is_still_the_newest_slot() {
    let mut region = vec![0u8; 8192];
    let blob = |serial| routerd_config::sign(&config_trusting(&[1]), &key(1), serial).unwrap();
    store(&mut region, &blob(50));
    store(&mut region, &blob(7));
    assert_eq!(slots::read(&region).unwrap(), &blob(7)[..]);
}
