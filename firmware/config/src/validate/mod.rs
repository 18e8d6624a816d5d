//! The validator: every rule that relates fields to each other, in one function used
//! both offline (`routerd-tool provision`) and at boot (`routerd`, through
//! [`crate::verify`]).
//!
//! Rules are grouped by part of the schema; each group appends to one list, so a single
//! run reports every problem, each with its field path and a fix.

mod bgp;
mod network;
mod sam;
mod services;

use ipnet::IpNet;

use crate::error::ConfigError;
use crate::schema::Config;

/// Most trusted signing keys a config may list.
pub(crate) const MAX_TRUSTED_KEYS: usize = 8;
/// Most interfaces a config may list.
pub(crate) const MAX_INTERFACES: usize = 64;
/// Most static routes a config may list.
pub(crate) const MAX_ROUTES: usize = 1024;

/// Checks `config` and returns every problem found (never an empty list on `Err`).
pub fn validate(config: &Config) -> Result<(), Vec<ConfigError>> {
    let mut checks = Checks::default();
    network::check(config, &mut checks);
    bgp::check(config, &mut checks);
    sam::check(config, &mut checks);
    services::check(config, &mut checks);
    if checks.errors.is_empty() {
        Ok(())
    } else {
        Err(checks.errors)
    }
}

/// Collected problems.
#[derive(Default)]
struct Checks {
    errors: Vec<ConfigError>,
}

impl Checks {
    fn fail(
        &mut self,
        path: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.errors.push(ConfigError::new(path, problem, fix));
    }

    /// Refuses a prefix with host bits set (e.g. `10.0.0.1/24`).
    fn canonical_prefix(&mut self, path: &str, prefix: &IpNet) {
        if prefix.trunc() != *prefix {
            self.fail(
                path,
                format!("`{prefix}` has host bits set"),
                format!("write the network address, `{}`", prefix.trunc()),
            );
        }
    }

    /// Refuses a list longer than `max`.
    fn at_most<T>(&mut self, path: &str, list: &[T], max: usize) {
        if list.len() > max {
            self.fail(
                path,
                format!("{} entries, at most {max} allowed", list.len()),
                "remove entries",
            );
        }
    }
}

/// Whether `asn` is usable as a 4-octet AS number (RFC 6793; 0, 23456 `AS_TRANS` and
/// 4294967295 are reserved).
fn valid_asn(asn: u32) -> bool {
    !matches!(asn, 0 | 23456 | u32::MAX)
}
