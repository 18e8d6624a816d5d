//! The daemon's view of its configuration, and the one function that loads it.
//!
//! [`load_config`] is the only entry point, for both sources: a TOML development config
//! ([`ConfigSource::TomlFile`], marked unsigned) and a signed blob verified against
//! trusted keys ([`ConfigSource::SignedBlob`]). Both end as a `config::Verified<Config>`
//! and go through the same mapping to the speaker's types ([`from_config`]).

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
    /// A signed config blob and the file of public keys allowed to sign it.
    SignedBlob {
        /// The blob (`routerd-tool provision --out`).
        blob: PathBuf,
        /// Trusted public keys, one hex key per line (`owner.pub`).
        trust: PathBuf,
        /// This device's board string; when `None` (a plain Linux host) the blob's own
        /// board is taken and only signature and validity are checked.
        board: Option<String>,
    },
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
    /// How the config was verified (`signed by KEY, serial N` or unsigned development).
    pub(crate) provenance: String,
    /// The blob's serial (0 for a development config).
    pub(crate) serial: u64,
    /// SAM enrollment and tunnels (`[sam]`, `[transport]`), if configured.
    pub(crate) sam: Option<crate::sam::settings::SamSettings>,
    /// What a config push verifies against and writes to; `None` (pushes refused) for a
    /// development config.
    pub(crate) push: Option<crate::config_push::PushContext>,
    /// The `[[interfaces]]` entries, configured at start when `manage_interfaces`.
    pub(crate) interfaces: Vec<config::Interface>,
    /// Configure the interfaces (rename, MTU, addresses, DHCP) before routing starts:
    /// true on the firmware image and with `routerd run --manage-interfaces`.
    pub(crate) manage_interfaces: bool,
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
    /// The trusted-keys file is unusable.
    #[error("cannot use trusted keys from {path}: {source}")]
    Trust {
        /// The file.
        path: PathBuf,
        /// Why.
        source: config::TrustError,
    },
    /// The blob failed verification (signature, signer, board, rollback or validity).
    #[error("config blob {path} refused: {source}")]
    Refused {
        /// The blob.
        path: PathBuf,
        /// Why.
        source: config::VerifyError,
    },
}

fn read_bytes(path: &PathBuf) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })
}

/// Maps a verified signed config (from a blob file or a config partition slot). The
/// API is served only where the config's `[api]` section says.
pub(crate) fn from_verified(
    verified: &config::Verified<config::Config>,
) -> Result<RouterConfig, LoadError> {
    from_config::map(verified, None)
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
        ConfigSource::SignedBlob { blob, trust, board } => {
            let bytes = read_bytes(blob)?;
            let trust_text = String::from_utf8_lossy(&read_bytes(trust)?).to_string();
            let keys = config::TrustedKeys::parse_text(&trust_text).map_err(|source| {
                LoadError::Trust {
                    path: trust.clone(),
                    source,
                }
            })?;
            let refused = |source| LoadError::Refused {
                path: blob.clone(),
                source,
            };
            let board = match board {
                Some(b) => b.clone(),
                None => config::blob::Blob::parse(&bytes)
                    .map_err(refused)?
                    .header()
                    .board
                    .to_string(),
            };
            // The applied-serial record a confirmed push leaves beside the blob is the
            // rollback floor; without one (never pushed) any serial is accepted.
            let store = crate::config_push::ConfigStore::BlobFile { blob: blob.clone() };
            let last_serial = std::fs::read(store.serial_record())
                .ok()
                .and_then(|record| config::serial_record::decode(&record).ok())
                .unwrap_or(0);
            let verified =
                config::verify(&bytes, &keys, &board, last_serial, false).map_err(refused)?;
            let mut router = from_verified(&verified)?;
            router.push = Some(crate::config_push::PushContext {
                current: verified,
                board,
                store,
            });
            Ok(router)
        }
    }
}

/// A SAM leaf with one RR peer, as several tests of this module and its children load it.
#[cfg(test)]
pub(crate) const TEST_SAM_LEAF: &str = r#"
trusted_keys = ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]
[node]
name = "l"
mode = "leaf"
router_id = "10.77.0.21"
asn = 65000
board = "dev-board"
[[bgp.peers]]
address = "10.77.0.1"
remote_as = 65000
[sam.leaf]
rr = [{ enrollment = "10.77.0.1:4179" }]
join_token = "0123456789abcdef0123"
leaf_id = "l"
policy = "p"
[sam.leaf.claim]
tunnel_address = "10.77.0.21"
owned = ["198.51.100.21/32"]
underlay_endpoint = "10.77.0.21"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &str = TEST_SAM_LEAF;

    /// Signs LEAF with a fixed key; returns (dir, blob path, trust path, blob bytes).
    fn signed(tag: &str, serial: u64) -> (PathBuf, PathBuf, PathBuf, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("routerd-blob-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = config::SigningKey::from_bytes(&[7u8; 32]);
        let parsed = config::load_toml(LEAF, "leaf.toml").unwrap();
        let bytes = config::sign(&parsed, &key, serial).unwrap();
        let blob = dir.join("leaf.blob");
        std::fs::write(&blob, &bytes).unwrap();
        let trust = dir.join("owner.pub");
        let hex: String = key
            .verifying_key()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(&trust, format!("# owner\n{hex}\n")).unwrap();
        (dir, blob, trust, bytes)
    }

    #[test]
    fn a_signed_blob_loads_like_the_toml_it_was_made_from() {
        let (dir, blob, trust, _) = signed("ok", 5);
        let from_blob = load_config(&ConfigSource::SignedBlob {
            blob,
            trust,
            board: None,
        })
        .unwrap();
        let toml = dir.join("leaf.toml");
        std::fs::write(&toml, LEAF).unwrap();
        let from_toml = load_config(&ConfigSource::TomlFile(toml)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(from_blob.serial, 5);
        assert!(
            from_blob.provenance.contains("serial 5"),
            "{}",
            from_blob.provenance
        );
        assert_eq!(from_toml.serial, 0);
        assert_eq!(from_blob.announce, from_toml.announce);
        assert_eq!(from_blob.peers.len(), from_toml.peers.len());
        assert!(
            from_blob.api.is_none(),
            "a signed config without [api] serves no API"
        );
        assert!(
            from_toml.api.is_some(),
            "a development config serves it on loopback"
        );
    }

    #[test]
    fn altered_foreign_or_misdirected_blobs_are_refused() {
        let (dir, blob, trust, bytes) = signed("bad", 1);
        let refused = |source: ConfigSource| match load_config(&source) {
            Err(LoadError::Refused { source, .. }) => source.reason(),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let wrong_board = ConfigSource::SignedBlob {
            blob: blob.clone(),
            trust: trust.clone(),
            board: Some("other-board".into()),
        };
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x01;
        let altered = dir.join("altered.blob");
        std::fs::write(&altered, &flipped).unwrap();
        let other_key = dir.join("other.pub");
        std::fs::write(
            &other_key,
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n",
        )
        .unwrap();
        let reasons = [
            refused(wrong_board),
            refused(ConfigSource::SignedBlob {
                blob: altered,
                trust: trust.clone(),
                board: None,
            }),
            refused(ConfigSource::SignedBlob {
                blob,
                trust: other_key,
                board: None,
            }),
        ];
        std::fs::remove_dir_all(&dir).unwrap();
        // Three different checks refused them.
        assert_ne!(reasons[0], reasons[1]);
        assert_ne!(reasons[1], reasons[2]);
        assert_ne!(reasons[0], reasons[2]);
    }
}
