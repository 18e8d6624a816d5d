//! The entry point PID 1 uses until the daemon takes over: it verifies the config from the
//! config partition (see [`super::config_load`]) and reports the result, then waits for a
//! shutdown request. It does not start the router daemon.
//!
//! [`slots_in_use`] tells an empty slot (all zero bytes, how the image builder leaves it,
//! or all 0xFF, erased flash) from one holding data.

use std::io::Read;
use std::path::Path;

use image_builder::layout::CONFIG_SLOT_BYTES;

use super::{BootContext, Outcome, config_load};

/// Bytes of each slot inspected to decide whether it is empty.
const PROBE_BYTES: usize = 4096;

/// Verifies the config and waits for a shutdown request.
pub(crate) fn entry(ctx: &BootContext) -> Outcome {
    match config_load::load_verified(ctx) {
        Ok(_) => Outcome::Wait("config applied by init only; waiting for shutdown".into()),
        Err(outcome) => outcome,
    }
}

/// Names ("A", "B") of the slots that are not empty.
pub(crate) fn slots_in_use(device: &Path) -> std::io::Result<Vec<&'static str>> {
    let mut file = std::fs::File::open(device)?;
    let mut used = Vec::new();
    for (index, name) in ["A", "B"].into_iter().enumerate() {
        let mut probe = vec![0u8; PROBE_BYTES];
        std::io::Seek::seek(
            &mut file,
            std::io::SeekFrom::Start(index as u64 * CONFIG_SLOT_BYTES),
        )?;
        file.read_exact(&mut probe)?;
        if !(probe.iter().all(|&b| b == 0) || probe.iter().all(|&b| b == 0xFF)) {
            used.push(name);
        }
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_used_slots_are_told_apart() {
        let path = std::env::temp_dir().join(format!("config-part-{}", std::process::id()));
        let mut part = vec![0u8; 2 * CONFIG_SLOT_BYTES as usize];
        std::fs::write(&path, &part).unwrap();
        assert!(slots_in_use(&path).unwrap().is_empty());
        part[CONFIG_SLOT_BYTES as usize + 10] = 7;
        std::fs::write(&path, &part).unwrap();
        assert_eq!(slots_in_use(&path).unwrap(), vec!["B"]);
        std::fs::remove_file(&path).unwrap();
    }
}
