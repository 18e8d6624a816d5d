//! Import and export policy as pure functions.

/// A policy (placeholder until implemented): accept everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {}
