//! [`ConfigError`]: one problem in a configuration, with where it is and how to fix it.

use core::fmt;

/// Where a problem is in a TOML file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File name as given by the caller.
    pub file: String,
    /// Line, counting from 1.
    pub line: usize,
    /// Column in characters, counting from 1.
    pub column: usize,
}

/// One problem in a configuration.
///
/// Errors from [`crate::validate`] carry no [`Location`] (a decoded config has no
/// source text); [`crate::load_toml`] and [`crate::check_toml`] fill it in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// File, line and column, when the config came from TOML text.
    pub location: Option<Location>,
    /// Path of the offending field, e.g. `bgp.peers[1].address`; empty for the
    /// whole document.
    pub path: String,
    /// What is wrong (lowercase, no trailing period).
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl ConfigError {
    /// A problem at `path`.
    pub fn new(
        path: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError {
            location: None,
            path: path.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{}:{}:{}: ", loc.file, loc.line, loc.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}
