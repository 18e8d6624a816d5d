//! The daemon's view of its configuration, and the one function that loads it.
//!
//! [`load_config`] is the only entry point: today it reads a TOML development config
//! ([`ConfigSource::TomlFile`]); the signed blob joins it as another [`ConfigSource`]
//! variant without the rest of the daemon changing. The mapping from the config schema
//! to the speaker's types lives in [`from_config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use bgp::speaker::{DynamicRange, PeerConfig, SpeakerConfig};
use ipnet::IpNet;

use crate::fib::FibSettings;

mod from_config;

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub(crate) enum ConfigSource {
    /// A TOML development config file.
    TomlFile(PathBuf),
}

/// Operating mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A site's leaf router.
    Leaf,
    /// The route reflector.
    Rr,
}

impl Mode {
    /// `leaf` or `rr`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Leaf => "leaf",
            Mode::Rr => "rr",
        }
    }
}

/// The status API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiSettings {
    /// Addresses to serve on (at least one).
    pub(crate) binds: Vec<SocketAddr>,
    /// Who may call it (sources and token).
    pub(crate) access: api::server::Access,
}

/// Everything the daemon needs to run, in the speaker's and kernel's terms.
#[derive(Debug, Clone)]
pub(crate) struct RouterConfig {
    /// Leaf or route reflector.
    pub(crate) mode: Mode,
    /// Speaker-wide settings.
    pub(crate) speaker: SpeakerConfig,
    /// Configured peers.
    pub(crate) peers: Vec<PeerConfig>,
    /// Dynamic listen ranges.
    pub(crate) ranges: Vec<DynamicRange>,
    /// Addresses to accept BGP connections on.
    pub(crate) listen: Vec<SocketAddr>,
    /// Prefixes this router originates.
    pub(crate) announce: Vec<IpNet>,
    /// Kernel routing table settings; `None` leaves the kernel alone.
    pub(crate) fib: Option<FibSettings>,
    /// The status API, if enabled.
    pub(crate) api: Option<ApiSettings>,
}

/// Why the configuration could not be loaded; routerd does not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config is invalid; the message says where and how to fix it.
    #[error("{0}")]
    Invalid(String),
}

/// Loads, validates and maps the configuration from `source`.
pub(crate) fn load_config(source: &ConfigSource) -> Result<RouterConfig, LoadError> {
    match source {
        ConfigSource::TomlFile(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
                path: path.clone(),
                source,
            })?;
            from_config::from_toml(&text, &path.display().to_string())
        }
    }
}
