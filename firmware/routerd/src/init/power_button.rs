//! Turns the ACPI power button into SIGTERM for PID 1, so pressing it (or QEMU's
//! `system_powerdown`) shuts the router down in the same order as a signal does.
//!
//! Watches every input device that can report KEY_POWER (ACPI `button` + `evdev` modules
//! on x86, `gpio_keys` + `evdev` on QEMU virt) and reads `struct input_event` records
//! (24 bytes on 64-bit Linux) for KEY_POWER presses.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{console, sys};

const EVENT_SIZE: usize = 24;
const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;

/// Starts a thread that watches for power-button input devices and starts one reader
/// per device; devices that appear later (drivers probe asynchronously) are picked up by
/// rescanning every second.
pub(super) fn spawn_watchers() {
    let spawned = std::thread::Builder::new()
        .name("power-scan".into())
        .spawn(|| {
            let mut watched: Vec<String> = Vec::new();
            loop {
                for name in power_key_devices(Path::new("/sys/class/input")) {
                    if watched.contains(&name) {
                        continue;
                    }
                    let dev = PathBuf::from("/dev/input").join(&name);
                    // Opened before it is announced, so no later press is missed.
                    let file = match std::fs::File::open(&dev) {
                        Ok(f) => f,
                        Err(e) => {
                            console(&format!("cannot open power button {}: {e}", dev.display()));
                            continue;
                        }
                    };
                    let reader = std::thread::Builder::new()
                        .name(format!("power-{name}"))
                        .spawn(move || watch(file));
                    match reader {
                        Ok(_) => console(&format!("power button watched on /dev/input/{name}")),
                        Err(e) => console(&format!("cannot watch power button {name}: {e}")),
                    }
                    watched.push(name);
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        });
    if let Err(e) = spawned {
        console(&format!("cannot start the power button scanner: {e}"));
    }
}

/// Event devices (`eventN`) under `sys_input` whose key capabilities include KEY_POWER:
/// the ACPI "Power Button" on x86, `gpio-keys` on QEMU virt and many boards.
fn power_key_devices(sys_input: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys_input) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("event"))
        .filter(|name| {
            let caps = sys_input.join(name).join("device/capabilities/key");
            std::fs::read_to_string(caps).is_ok_and(|bits| has_key(&bits, KEY_POWER))
        })
        .collect();
    names.sort();
    names
}

/// Whether the sysfs key bitmap (hex words, most significant first, 64 bits each on
/// 64-bit kernels) has bit `code` set.
fn has_key(bitmap: &str, code: u16) -> bool {
    let words: Vec<&str> = bitmap.split_whitespace().collect();
    let index = usize::from(code / 64);
    let Some(word) = words
        .len()
        .checked_sub(index + 1)
        .and_then(|i| words.get(i))
    else {
        return false;
    };
    u64::from_str_radix(word, 16).is_ok_and(|w| w & (1 << (code % 64)) != 0)
}

fn watch(mut file: std::fs::File) {
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
    fn key_bitmap_words_are_read_least_significant_last() {
        // ACPI power button: only KEY_POWER (116 = word 1, bit 52).
        assert!(has_key("10000000000000 0", KEY_POWER));
        assert!(!has_key("0", KEY_POWER));
        assert!(
            !has_key("10000000000000", KEY_POWER),
            "a single word covers codes 0..64 only"
        );
        assert!(!has_key("zz 0", KEY_POWER));
    }

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
