//! Finds block devices by GPT partition name through sysfs (`PARTNAME=` in
//! `/sys/class/block/*/uevent`), waiting briefly because disk drivers probe asynchronously.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Device node (`/dev/vda2`) of the partition named `name`, scanning `sys_block`
/// (normally `/sys/class/block`) until `wait` has passed.
pub(super) fn find_by_name(sys_block: &Path, name: &str, wait: Duration) -> Option<PathBuf> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(found) = scan(sys_block, name) {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scan(sys_block: &Path, name: &str) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(sys_block)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    entries.iter().find_map(|dir| {
        let uevent = std::fs::read_to_string(dir.join("uevent")).ok()?;
        let field = |key: &str| uevent.lines().find_map(|l| l.strip_prefix(key));
        if field("PARTNAME=")? != name {
            return None;
        }
        Some(Path::new("/dev").join(field("DEVNAME=")?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_device_whose_uevent_names_the_partition() {
        let dir = std::env::temp_dir().join(format!("sysblock-{}", std::process::id()));
        for (dev, part) in [
            ("vda", None),
            ("vda1", Some("routerd-esp")),
            ("vda2", Some("routerd-config")),
        ] {
            std::fs::create_dir_all(dir.join(dev)).unwrap();
            let mut text = format!("MAJOR=254\nDEVNAME={dev}\nDEVTYPE=partition\n");
            if let Some(p) = part {
                text.push_str(&format!("PARTN=1\nPARTNAME={p}\n"));
            }
            std::fs::write(dir.join(dev).join("uevent"), text).unwrap();
        }
        let found = find_by_name(&dir, "routerd-config", Duration::ZERO);
        assert_eq!(found, Some(PathBuf::from("/dev/vda2")));
        assert_eq!(
            find_by_name(&dir, "routerd-state", Duration::from_millis(60)),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
