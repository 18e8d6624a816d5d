//! Loads the kernel modules listed in the initramfs load order file with `finit_module`.
//!
//! The image builder writes one path per line (relative to `/lib/modules`), each module
//! after the modules it depends on, so loading in file order never needs the kernel's
//! modprobe helper (there is none). A failing module is logged and skipped; the others are
//! still loaded.

use std::path::Path;

use super::{console, sys};

/// Where the image builder puts the load order (see `image_builder::initramfs`).
pub(super) const LOAD_ORDER: &str = "/lib/modules/load-order";

/// Outcome of loading modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ModuleReport {
    /// Modules loaded (or already present).
    pub(crate) loaded: usize,
    /// Modules that failed, with the reason.
    pub(crate) failed: Vec<(String, String)>,
}

/// Loads every module in `load_order` (a file under `root`, e.g. `/`).
pub(super) fn load_all(root: &Path, load_order: &str) -> ModuleReport {
    let mut report = ModuleReport::default();
    let Ok(list) = std::fs::read_to_string(root.join(load_order.trim_start_matches('/'))) else {
        return report;
    };
    for line in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let path = root.join("lib/modules").join(line);
        match sys::finit_module(&path) {
            Ok(()) => report.loaded += 1,
            Err(e) => {
                console(&format!("module {line} not loaded: {e}"));
                report.failed.push((line.to_string(), e.to_string()));
            }
        }
    }
    report
}
