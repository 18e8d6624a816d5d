//! The entry point PID 1 uses until the daemon takes over config loading from the config
//! partition: it tells "no config" apart from "a config is present" and reports either.
//!
//! A slot that reads as all zero bytes (how the image builder leaves it) or all 0xFF
//! (erased flash) is empty. When both slots are empty the outcome is
//! [`Outcome::NoConfig`]; otherwise the blob cannot be verified by this entry point and the
//! outcome is [`Outcome::Refused`] with that reason, never a crash.

use std::io::Read;
use std::path::Path;

use image_builder::layout::CONFIG_SLOT_BYTES;

use super::{BootContext, Outcome, console};

/// Bytes of each slot inspected to decide whether it is empty.
const PROBE_BYTES: usize = 4096;

/// Decides the outcome from the config partition found at boot.
pub(crate) fn entry(ctx: &BootContext) -> Outcome {
    let Some(device) = &ctx.config_partition else {
        console("config partition not found (is this a routerd disk image?)");
        return Outcome::NoConfig;
    };
    match slots_in_use(device) {
        Ok(used) if used.is_empty() => Outcome::NoConfig,
        Ok(used) => Outcome::Refused(format!(
            "slot(s) {} hold a config blob, but this routerd build cannot verify signed configs",
            used.join(",")
        )),
        Err(e) => Outcome::Fatal(format!(
            "cannot read config partition {}: {e}",
            device.display()
        )),
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
