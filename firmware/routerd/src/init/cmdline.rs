//! The kernel command line as seen by routerd: `routerd.KEY=VALUE` options.
//!
//! Known keys: `routerd.hostname` (host name before a config sets one),
//! `routerd.reboot_delay` (seconds before a fatal-error reboot, default 10),
//! `routerd.selftest` (test images only: `links` creates an IPIP and a WireGuard link and
//! reports them on the console, then the router powers off).

use std::collections::BTreeMap;

/// Parsed `routerd.*` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cmdline {
    options: BTreeMap<String, String>,
}

impl Cmdline {
    /// Parses a command line; words without the `routerd.` prefix are ignored.
    pub(crate) fn parse(text: &str) -> Cmdline {
        let options = text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("routerd."))
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (w.to_string(), String::new()),
            })
            .collect();
        Cmdline { options }
    }

    /// The value of `routerd.KEY`, if given.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_routerd_options_are_kept() {
        let c = Cmdline::parse(
            "console=ttyS0 quiet routerd.hostname=leaf1 routerd.selftest=links routerd.flag",
        );
        assert_eq!(c.get("hostname"), Some("leaf1"));
        assert_eq!(c.get("selftest"), Some("links"));
        assert_eq!(c.get("flag"), Some(""));
        assert_eq!(c.get("console"), None);
    }
}
