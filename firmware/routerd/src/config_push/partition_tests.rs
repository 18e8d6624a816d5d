//! Push, confirm and revert on a router booted from its config partition, with a file
//! standing in for the partition device.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{ConfigPush, PushContext};
use crate::router_config::from_verified;

const BOARD: &str = "dev";

/// A route reflector without SAM that trusts `key`; `networks` tells generations apart.
fn config_text(key: &config::SigningKey, network: &str) -> String {
    let hex: String = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "trusted_keys = [\"{hex}\"]\n[node]\nname = \"p\"\nmode = \"rr\"\nrouter_id = \"192.0.2.1\"\n\
         asn = 65000\nboard = \"{BOARD}\"\n[bgp]\nlisten_addresses = [\"192.0.2.1\"]\n\
         networks = [\"{network}\"]\n"
    )
}

fn sign(key: &config::SigningKey, network: &str, serial: u64) -> Vec<u8> {
    let parsed = config::load_toml(&config_text(key, network), "p.toml").unwrap();
    config::sign(&parsed, key, serial).unwrap()
}

struct Partition {
    dir: PathBuf,
    device: PathBuf,
    record: PathBuf,
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A partition file holding `boot` in slot A (as provisioned), and a state directory
/// with the serial record of `boot_serial`.
fn provisioned(tag: &str, boot: &[u8], boot_serial: u64) -> Partition {
    let dir = std::env::temp_dir().join(format!("rdpart-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let device = dir.join("config-partition");
    let mut region = vec![0u8; 64 * 1024];
    let (offset, bytes) = config::slots::write(&region, boot).unwrap();
    let at = usize::try_from(offset).unwrap();
    region[at..at + bytes.len()].copy_from_slice(&bytes);
    std::fs::write(&device, &region).unwrap();
    let record = dir.join("state").join("config.serial");
    std::fs::write(&record, config::serial_record::encode(boot_serial)).unwrap();
    Partition {
        dir,
        device,
        record,
    }
}

/// Verifies the newest slot as the image's init does and starts push support on it.
fn boot(
    partition: &Partition,
    key: &config::SigningKey,
) -> (ConfigPush, crate::router_config::RouterConfig) {
    let region = std::fs::read(&partition.device).unwrap();
    let blob = config::slots::read(&region).unwrap();
    let record = std::fs::read(&partition.record).unwrap();
    let floor = config::serial_record::decode(&record).unwrap();
    let trust = config::TrustedKeys::new(&[config::TrustedKey(*key.verifying_key().as_bytes())]);
    let verified = config::verify(blob, &trust.unwrap(), BOARD, floor, false).unwrap();
    let running = from_verified(&verified).unwrap();
    let context = PushContext::for_partition(
        verified,
        BOARD.to_string(),
        partition.device.clone(),
        partition.record.clone(),
    );
    (ConfigPush::new(Some(context)), running)
}

#[test]
fn a_confirmed_push_is_the_newest_slot_and_the_recorded_serial() {
    let key = config::SigningKey::from_bytes(&[11u8; 32]);
    let partition = provisioned("confirm", &sign(&key, "198.51.100.0/24", 5), 5);
    let (mut push, running) = boot(&partition, &key);
    let pushed = sign(&key, "203.0.113.0/24", 6);
    let now = Instant::now();
    let (new, accepted) = push.push(pushed.clone(), None, &running, now).unwrap();
    assert_eq!((accepted.serial, accepted.previous_serial), (6, 5));
    assert_eq!(new.announce, vec!["203.0.113.0/24".parse().unwrap()]);
    let confirmed = push.confirm().unwrap();
    assert_eq!(confirmed.serial, 6);
    assert!(
        confirmed.written_to[0].contains("slot B"),
        "{:?}",
        confirmed.written_to
    );
    let region = std::fs::read(&partition.device).unwrap();
    let newest = config::slots::newest(&region).unwrap();
    assert_eq!(newest.blob, &pushed[..]);
    assert_eq!(newest.slot, config::slots::Slot::B);
    let record = std::fs::read(&partition.record).unwrap();
    assert_eq!(config::serial_record::decode(&record), Ok(6));
    // The next boot runs the pushed config, and a second push goes over slot A.
    let (mut push, running) = boot(&partition, &key);
    assert_eq!(running.serial, 6);
    push.push(sign(&key, "192.0.2.0/24", 7), None, &running, now)
        .unwrap();
    assert!(push.confirm().unwrap().written_to[0].contains("slot A"));
}

#[test]
fn a_reverted_push_leaves_the_partition_and_the_record_untouched() {
    let key = config::SigningKey::from_bytes(&[12u8; 32]);
    let partition = provisioned("revert", &sign(&key, "198.51.100.0/24", 5), 5);
    let before = std::fs::read(&partition.device).unwrap();
    let record_before = std::fs::read(&partition.record).unwrap();
    let (mut push, running) = boot(&partition, &key);
    let now = Instant::now();
    push.push(sign(&key, "203.0.113.0/24", 6), None, &running, now)
        .unwrap();
    assert!(push.due_revert(now).is_none(), "not yet due");
    let back = push
        .due_revert(now + Duration::from_secs(121))
        .expect("reverts after the default 120 s");
    assert_eq!(back.serial, 5);
    assert!(push.confirm().is_err(), "nothing left to confirm");
    assert_eq!(std::fs::read(&partition.device).unwrap(), before);
    assert_eq!(std::fs::read(&partition.record).unwrap(), record_before);
}

#[test]
fn a_refused_write_keeps_the_trial_running_for_another_confirm() {
    let key = config::SigningKey::from_bytes(&[13u8; 32]);
    let partition = provisioned("refused", &sign(&key, "198.51.100.0/24", 5), 5);
    let (mut push, running) = boot(&partition, &key);
    // The state directory is gone (unmounted): the record cannot be written.
    std::fs::remove_dir_all(partition.dir.join("state")).unwrap();
    std::fs::write(partition.dir.join("state"), b"not a directory").unwrap();
    push.push(
        sign(&key, "203.0.113.0/24", 6),
        None,
        &running,
        Instant::now(),
    )
    .unwrap();
    let refused = push.confirm().unwrap_err();
    assert_eq!(refused.status, 500);
    assert!(refused.error.contains("config.serial"), "{}", refused.error);
    std::fs::remove_file(partition.dir.join("state")).unwrap();
    std::fs::create_dir_all(partition.dir.join("state")).unwrap();
    let confirmed = push.confirm().unwrap();
    assert_eq!(confirmed.serial, 6);
    assert!(
        confirmed.written_to[0].contains("slot B already holds it"),
        "{:?}",
        confirmed.written_to
    );
    // The previous config is still in slot A.
    let region = std::fs::read(&partition.device).unwrap();
    let [a, b] = config::slots::inspect(&region);
    assert_eq!(a.map(|a| a.sequence), Some(1));
    assert_eq!(b.map(|b| b.sequence), Some(2));
    let record = std::fs::read(&partition.record).unwrap();
    assert_eq!(config::serial_record::decode(&record), Ok(6));
}
