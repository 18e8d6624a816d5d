//! Verification of a signed blob into a [`Verified<Config>`], the only form of config
//! the daemon accepts.
//!
//! Checks run in this order, and each failure has its own [`VerifyError`] variant:
//! structure (length, magic, version, header fields), signer known ([`TrustedKeys`]),
//! signature, board, anti-rollback serial, payload decoding, and finally
//! [`crate::validate`] (the same validator `routerd-tool` runs offline).
//!
//! Key rotation: [`Verified::next_trust`] returns the keys listed in the verified config;
//! the caller uses them to verify the next blob.

use core::fmt;
use core::ops::Deref;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::blob::{Blob, KeyId};
use crate::error::ConfigError;
use crate::schema::{BoardName, Config, TrustedKey};

/// Why a blob was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The blob is shorter than its header says (or shorter than a header).
    #[error("blob truncated: {len} bytes, {needed} needed")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes the header requires.
        needed: usize,
    },
    /// The blob is longer than its header says.
    #[error("blob has {0} unexpected bytes after the signature")]
    TrailingBytes(usize),
    /// Not a config blob at all.
    #[error("not a routerd config blob (bad magic)")]
    BadMagic,
    /// A blob format this build does not read.
    #[error("unsupported blob format version {0} (this build reads version 1)")]
    UnsupportedVersion(u16),
    /// A header field is out of range.
    #[error("malformed blob header: {0}")]
    MalformedHeader(&'static str),
    /// Signed by a key that is not trusted.
    #[error("signed by unknown key {0}: not in the trusted key set")]
    UnknownKey(KeyId),
    /// The signature does not match header and payload.
    #[error("bad signature: the blob was altered or signed by another key")]
    BadSignature,
    /// Built for another board.
    #[error("blob is for board `{blob}`, this device is `{device}`")]
    WrongBoard {
        /// Board in the blob.
        blob: String,
        /// Board of this device.
        device: String,
    },
    /// Older than the config already applied.
    #[error(
        "rollback refused: serial {serial} is lower than the applied serial {last} (a factory reset allows it)"
    )]
    Rollback {
        /// Serial of the blob.
        serial: u64,
        /// Last applied serial.
        last: u64,
    },
    /// The signed payload does not decode as a config (written by an incompatible tool).
    #[error("payload does not decode as a config: {0}")]
    PayloadDecode(String),
    /// The payload decodes but fails validation.
    #[error("config in blob is invalid: {}", first(.0))]
    InvalidConfig(Vec<ConfigError>),
}

fn first(errors: &[ConfigError]) -> String {
    match errors {
        [] => String::new(),
        [one] => one.to_string(),
        [one, rest @ ..] => format!("{one} (and {} more)", rest.len()),
    }
}

impl VerifyError {
    /// A short stable name of the reason, for logs, JSON output and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Truncated { .. } => "truncated",
            VerifyError::TrailingBytes(_) => "trailing-bytes",
            VerifyError::BadMagic => "bad-magic",
            VerifyError::UnsupportedVersion(_) => "unsupported-version",
            VerifyError::MalformedHeader(_) => "malformed-header",
            VerifyError::UnknownKey(_) => "unknown-key",
            VerifyError::BadSignature => "bad-signature",
            VerifyError::WrongBoard { .. } => "wrong-board",
            VerifyError::Rollback { .. } => "rollback",
            VerifyError::PayloadDecode(_) => "payload-decode",
            VerifyError::InvalidConfig(_) => "invalid-config",
        }
    }
}

/// A public key that cannot be used to verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The bytes are not a valid ed25519 point.
    #[error("`{0}` is not a valid ed25519 public key")]
    InvalidKey(String),
    /// Text that is not a key.
    #[error("line {line}: {problem} (expected 64 hexadecimal digits, as in owner.pub)")]
    Syntax {
        /// 1-based line of the text.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// No key at all.
    #[error("no public key given")]
    Empty,
}

/// The set of public keys whose signatures are accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<(KeyId, VerifyingKey)>,
}

impl TrustedKeys {
    /// A trust set of `keys` (at least one).
    pub fn new(keys: &[TrustedKey]) -> Result<Self, TrustError> {
        if keys.is_empty() {
            return Err(TrustError::Empty);
        }
        let keys = keys
            .iter()
            .map(|k| {
                VerifyingKey::from_bytes(&k.0)
                    .map(|v| (k.key_id(), v))
                    .map_err(|_| TrustError::InvalidKey(k.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedKeys { keys })
    }

    /// Parses public keys from text: one hex key per line, `#` comments and blank lines
    /// ignored (the format of `owner.pub`).
    pub fn parse_text(text: &str) -> Result<Self, TrustError> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let key = line
                .parse::<TrustedKey>()
                .map_err(|problem| TrustError::Syntax {
                    line: i + 1,
                    problem,
                })?;
            keys.push(key);
        }
        Self::new(&keys)
    }

    /// Ids of the trusted keys.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|(id, _)| *id)
    }

    fn find(&self, id: KeyId) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, v)| v)
    }
}

/// Where a verified config came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// A blob signed by a trusted key.
    Signed {
        /// The signer's key id.
        key_id: KeyId,
        /// The blob's anti-rollback serial.
        serial: u64,
    },
    /// An unsigned TOML file loaded with [`development`]; never used by images.
    Development,
}

/// A value that passed verification. It can only be made by [`verify`] (or, marked as
/// such, by [`development`]); there is no other constructor and no `Deserialize`.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified<T> {
    value: T,
    board: BoardName,
    provenance: Provenance,
}

impl<T> Verified<T> {
    /// How the value was verified.
    pub fn provenance(&self) -> Provenance {
        self.provenance
    }

    /// The blob's serial (0 for a development config).
    pub fn serial(&self) -> u64 {
        match self.provenance {
            Provenance::Signed { serial, .. } => serial,
            Provenance::Development => 0,
        }
    }

    /// The signer's key id (`None` for a development config).
    pub fn key_id(&self) -> Option<KeyId> {
        match self.provenance {
            Provenance::Signed { key_id, .. } => Some(key_id),
            Provenance::Development => None,
        }
    }

    /// The board the blob was signed for.
    pub fn board(&self) -> &str {
        &self.board
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl Verified<Config> {
    /// The trust set for the next blob: the keys this config lists (key rotation).
    pub fn next_trust(&self) -> TrustedKeys {
        // NOTE(unwrap): validation refuses an empty list and invalid keys, and every
        // Verified<Config> passed validation.
        TrustedKeys::new(&self.value.trusted_keys)
            .expect("validated config has usable trusted keys")
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Signed { key_id, serial } => {
                write!(f, "signed by {key_id}, serial {serial}")
            }
            Provenance::Development => f.write_str("unsigned development config"),
        }
    }
}

/// Verifies a blob for this device.
///
/// - `trust`: keys accepted as signers (the previous config's `trusted_keys`, or the
///   factory key set).
/// - `board`: this device's board compatibility string.
/// - `last_serial`: serial of the last applied config (0 when none); a lower serial is
///   refused as a rollback unless `factory_reset` is set.
pub fn verify(
    bytes: &[u8],
    trust: &TrustedKeys,
    board: &str,
    last_serial: u64,
    factory_reset: bool,
) -> Result<Verified<Config>, VerifyError> {
    let blob = Blob::parse(bytes)?;
    let header = blob.header();
    let key = trust
        .find(header.key_id)
        .ok_or(VerifyError::UnknownKey(header.key_id))?;
    let signature = Signature::from_bytes(blob.signature());
    key.verify_strict(blob.signed_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)?;
    if header.board.as_str() != board {
        return Err(VerifyError::WrongBoard {
            blob: header.board.to_string(),
            device: board.to_string(),
        });
    }
    if header.serial < last_serial && !factory_reset {
        return Err(VerifyError::Rollback {
            serial: header.serial,
            last: last_serial,
        });
    }
    let (config, rest) = postcard::take_from_bytes::<Config>(blob.payload())
        .map_err(|e| VerifyError::PayloadDecode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(VerifyError::PayloadDecode(format!(
            "{} bytes after the config",
            rest.len()
        )));
    }
    if config.node.board != header.board {
        return Err(VerifyError::InvalidConfig(vec![ConfigError::new(
            "node.board",
            format!(
                "config is for board `{}` but the blob header says `{}`",
                config.node.board, header.board
            ),
            "re-sign the config with `routerd-tool provision`",
        )]));
    }
    crate::validate(&config).map_err(VerifyError::InvalidConfig)?;
    Ok(Verified {
        board: header.board.clone(),
        provenance: Provenance::Signed {
            key_id: header.key_id,
            serial: header.serial,
        },
        value: config,
    })
}

/// Loads an unsigned TOML config for development runs (`routerd run --config FILE.toml`
/// on a plain host). The result is marked [`Provenance::Development`]; images never
/// call this.
pub fn development(text: &str, file_name: &str) -> Result<Verified<Config>, ConfigError> {
    let config = crate::load_toml(text, file_name)?;
    Ok(Verified {
        board: config.node.board.clone(),
        provenance: Provenance::Development,
        value: config,
    })
}
