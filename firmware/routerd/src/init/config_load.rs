//! Reads and verifies the signed config from the config partition at boot.
//!
//! An empty slot is all zero bytes (how the image builder leaves it) or all 0xFF (erased
//! flash); [`slots_in_use`] tells those from a slot holding data.
//!
//! Order: read the whole partition -> [`config::slots::newest`] (newest valid slot; a bare
//! blob as the image builder writes it counts) -> trust anchors from
//! [`TRUSTED_KEYS_PATH`] in the initramfs -> [`config::verify`] for this board. When the
//! newest slot is refused and the other slot verifies, the other (last good) config is
//! used and the refusal is reported. The host name becomes the config's `node.name`. Every
//! failure maps to an [`Outcome`] whose message says what to do; nothing panics.
//! The anti-rollback floor is the caller's: the last applied serial recorded on the state
//! partition (see [`super::state`]).

use std::io::Read;
use std::path::Path;

use config::slots::{self, SlotError};
use config::{Config, TrustedKeys, Verified};
use image_builder::layout::CONFIG_SLOT_BYTES;

use super::{BootContext, Outcome, console, sys};

/// Bytes of each slot inspected to decide whether it is empty.
const PROBE_BYTES: usize = 4096;

/// Trust anchors placed in the initramfs by `routerd-tool image build --trust FILE`
/// (one hex ed25519 public key per line).
pub(crate) const TRUSTED_KEYS_PATH: &str = "/etc/routerd/trusted-keys";

/// The verified config of this device, or the outcome to report instead. On success the
/// console shows `routerd: config verified serial=N board=B`.
pub(crate) fn load_verified(
    ctx: &BootContext,
    last_serial: u64,
) -> Result<Verified<Config>, Outcome> {
    let Some(device) = &ctx.config_partition else {
        console("config partition not found (is this a routerd disk image?)");
        return Err(Outcome::NoConfig);
    };
    let region = std::fs::read(device).map_err(|e| {
        Outcome::Fatal(format!(
            "cannot read config partition {}: {e}",
            device.display()
        ))
    })?;
    let newest = match slots::newest(&region) {
        Ok(info) => info,
        Err(SlotError::Empty) => {
            let used = slots_in_use(device).unwrap_or_default();
            if used.is_empty() {
                return Err(Outcome::NoConfig);
            }
            return Err(Outcome::Refused(format!(
                "slot(s) {} hold data that is not a valid config (damaged or not a routerd config)",
                used.join(",")
            )));
        }
        Err(e) => return Err(Outcome::Refused(e.to_string())),
    };
    let trust = read_trust(Path::new(TRUSTED_KEYS_PATH))?;
    let verified = match config::verify(newest.blob, &trust, &ctx.board, last_serial, false) {
        Ok(v) => v,
        Err(refused) => {
            // Keep the last good config: the other slot, if it verifies.
            let [a, b] = slots::inspect(&region);
            let previous = [a, b]
                .into_iter()
                .flatten()
                .filter(|info| info.slot != newest.slot)
                .find_map(|info| {
                    config::verify(info.blob, &trust, &ctx.board, last_serial, false).ok()
                });
            match previous {
                Some(v) => {
                    console(&format!(
                        "config refused: {refused}; keeping the previous config serial={}",
                        v.serial()
                    ));
                    v
                }
                None => return Err(Outcome::Refused(refused.to_string())),
            }
        }
    };
    console(&format!(
        "config verified serial={} board={}",
        verified.serial(),
        verified.board()
    ));
    let name = verified.node.name.as_str();
    if let Err(e) = sys::sethostname(name) {
        console(&format!("cannot set host name {name:?}: {e}"));
    }
    Ok(verified)
}

fn read_trust(path: &Path) -> Result<TrustedKeys, Outcome> {
    let text = std::fs::read_to_string(path).map_err(|_| {
        Outcome::Refused(format!(
            "this image has no trusted keys ({}); rebuild it with routerd-tool image build --trust OWNER.pub",
            path.display()
        ))
    })?;
    TrustedKeys::parse_text(&text).map_err(|e| {
        Outcome::Refused(format!(
            "trusted keys in {} are unusable: {e}",
            path.display()
        ))
    })
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
