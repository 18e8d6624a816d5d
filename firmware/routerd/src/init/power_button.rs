//! Turns the ACPI power button into SIGTERM for PID 1, so pressing it (or QEMU's
//! `system_powerdown`) shuts the router down in the same order as a signal does.
//!
//! Watches every input device named "Power Button" (ACPI `button` + `evdev` modules) and
//! reads `struct input_event` records (24 bytes on 64-bit Linux) for KEY_POWER presses.

use std::io::Read;
use std::path::PathBuf;

use super::{console, sys};

const EVENT_SIZE: usize = 24;
const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;

/// Starts one watcher thread per power button found under `/sys/class/input`.
pub(super) fn spawn_watchers() {
    let Ok(entries) = std::fs::read_dir("/sys/class/input") else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("event") {
            continue;
        }
        let label = std::fs::read_to_string(entry.path().join("device/name")).unwrap_or_default();
        if label.trim() != "Power Button" {
            continue;
        }
        let dev = PathBuf::from("/dev/input").join(&name);
        let spawned = std::thread::Builder::new()
            .name(format!("power-{name}"))
            .spawn(move || watch(dev));
        if let Err(e) = spawned {
            console(&format!("cannot watch power button {name}: {e}"));
        }
    }
}

fn watch(dev: PathBuf) {
    let Ok(mut file) = std::fs::File::open(&dev) else {
        console(&format!("cannot open power button {}", dev.display()));
        return;
    };
    let mut event = [0u8; EVENT_SIZE];
    while file.read_exact(&mut event).is_ok() {
        if is_power_press(&event) {
            console("power button pressed, shutting down");
            if let Err(e) = sys::terminate_init() {
                console(&format!("cannot signal init: {e}"));
            }
        }
    }
}

fn is_power_press(event: &[u8; EVENT_SIZE]) -> bool {
    let kind = u16::from_ne_bytes([event[16], event[17]]);
    let code = u16::from_ne_bytes([event[18], event[19]]);
    let value = i32::from_ne_bytes([event[20], event[21], event[22], event[23]]);
    kind == EV_KEY && code == KEY_POWER && value == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_power_key_press_counts() {
        let mut e = [0u8; EVENT_SIZE];
        e[16..18].copy_from_slice(&EV_KEY.to_ne_bytes());
        e[18..20].copy_from_slice(&KEY_POWER.to_ne_bytes());
        e[20..24].copy_from_slice(&1i32.to_ne_bytes());
        assert!(is_power_press(&e));
        e[20..24].copy_from_slice(&0i32.to_ne_bytes());
        assert!(!is_power_press(&e), "release is not a press");
        e[20..24].copy_from_slice(&1i32.to_ne_bytes());
        e[18..20].copy_from_slice(&30u16.to_ne_bytes());
        assert!(!is_power_press(&e), "other keys are ignored");
    }
}
