//! The signed config blob: wire format, parsing and signing.
//!
//! ```text
//!  0      8        10          12        20        28           32              64
//!  +------+--------+-----------+---------+---------+------------+---------------+
//!  |magic |version | board_len | serial  | key_id  | payload_len| board (NUL-   |
//!  |8 B   |u16 LE  | u16 LE    | u64 LE  | 8 B     | u32 LE     | padded, 32 B) |
//!  +------+--------+-----------+---------+---------+------------+---------------+
//!  | payload: postcard-encoded Config (payload_len bytes)                        |
//!  +-----------------------------------------------------------------------------+
//!  | ed25519 signature (64 B) over header and payload                            |
//!  +-----------------------------------------------------------------------------+
//! ```
//!
//! Every multi-byte integer is little-endian. `key_id` is the first 8 bytes of
//! SHA-256 over the signer's public key. [`Blob::parse`] checks structure only; the
//! signature, trust, board and rollback checks live in [`crate::verify`].

use ed25519_dalek::{Signer, SigningKey};

use crate::error::ConfigError;
use crate::schema::{BoardName, Config};
use crate::verify::VerifyError;

/// First eight bytes of every blob.
pub const MAGIC: [u8; 8] = *b"RDCONFIG";
/// The blob format this crate writes and reads. The payload is positional (postcard), so
/// any change to the schema's fields changes this number: a blob of another version is
/// refused as unsupported rather than decoded into the wrong fields. Version 2 added the
/// WireGuard addresses of other RRs and the policies' WireGuard prefix.
pub const FORMAT_VERSION: u16 = 2;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Length of the trailing ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Longest accepted payload.
pub const MAX_PAYLOAD_LEN: usize = 256 * 1024;
/// Longest board string the header holds.
pub const MAX_BOARD_LEN: usize = 32;

/// Key id of an ed25519 public key: the first 8 bytes of SHA-256 over its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The key id of `public_key`.
    pub fn of(public_key: &[u8; 32]) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl core::fmt::Display for KeyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&crate::text::hex::encode(&self.0))
    }
}

/// The decoded fixed header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Anti-rollback serial: a blob with a lower serial than the last applied one is
    /// refused.
    pub serial: u64,
    /// Board compatibility string.
    pub board: BoardName,
    /// Id of the signing key.
    pub key_id: KeyId,
    /// Length of the postcard payload.
    pub payload_len: u32,
}

impl Header {
    /// The 64 header bytes.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        // NOTE(cast): BoardName holds at most 32 bytes.
        out[10..12].copy_from_slice(&(self.board.len() as u16).to_le_bytes());
        out[12..20].copy_from_slice(&self.serial.to_le_bytes());
        out[20..28].copy_from_slice(&self.key_id.0);
        out[28..32].copy_from_slice(&self.payload_len.to_le_bytes());
        out[32..32 + self.board.len()].copy_from_slice(self.board.as_bytes());
        out
    }

    /// Parses the header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Header, VerifyError> {
        if bytes.len() < HEADER_LEN {
            return Err(VerifyError::Truncated {
                len: bytes.len(),
                needed: HEADER_LEN,
            });
        }
        if bytes[0..8] != MAGIC {
            return Err(VerifyError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(VerifyError::UnsupportedVersion(version));
        }
        let board_len = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
        if board_len == 0 || board_len > MAX_BOARD_LEN {
            return Err(VerifyError::MalformedHeader("board length must be 1..=32"));
        }
        let field = &bytes[32..64];
        if field[board_len..].iter().any(|&b| b != 0) {
            return Err(VerifyError::MalformedHeader("board padding is not zero"));
        }
        let board = core::str::from_utf8(&field[..board_len])
            .ok()
            .and_then(|s| BoardName::try_from(s).ok())
            .ok_or(VerifyError::MalformedHeader("board is not UTF-8 text"))?;
        let mut serial = [0u8; 8];
        serial.copy_from_slice(&bytes[12..20]);
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[20..28]);
        let payload_len = u32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]);
        if payload_len as usize > MAX_PAYLOAD_LEN {
            return Err(VerifyError::MalformedHeader("payload longer than 256 KiB"));
        }
        Ok(Header {
            serial: u64::from_le_bytes(serial),
            board,
            key_id: KeyId(key_id),
            payload_len,
        })
    }
}

/// A structurally valid blob: header parsed, lengths consistent. Not yet verified.
#[derive(Clone, Debug)]
pub struct Blob<'a> {
    header: Header,
    signed: &'a [u8],
    signature: [u8; SIGNATURE_LEN],
}

impl<'a> Blob<'a> {
    /// Checks the structure of `bytes`: magic, version, header fields and total length.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, VerifyError> {
        let header = Header::parse(bytes)?;
        let signed_len = HEADER_LEN + header.payload_len as usize;
        let needed = signed_len + SIGNATURE_LEN;
        if bytes.len() < needed {
            return Err(VerifyError::Truncated {
                len: bytes.len(),
                needed,
            });
        }
        if bytes.len() > needed {
            return Err(VerifyError::TrailingBytes(bytes.len() - needed));
        }
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&bytes[signed_len..]);
        Ok(Blob {
            header,
            signed: &bytes[..signed_len],
            signature,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Header and payload: the bytes the signature covers.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.signed
    }

    /// The postcard payload.
    pub fn payload(&self) -> &'a [u8] {
        &self.signed[HEADER_LEN..]
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// Decodes the payload WITHOUT checking the signature, for display only (e.g.
    /// `provision --diff` against what a target holds). Never act on the result; use
    /// [`crate::verify`].
    pub fn decode_unverified(&self) -> Result<Config, VerifyError> {
        let (config, rest) = postcard::take_from_bytes::<Config>(self.payload())
            .map_err(|e| VerifyError::PayloadDecode(e.to_string()))?;
        if !rest.is_empty() {
            return Err(VerifyError::PayloadDecode(format!(
                "{} bytes after the config",
                rest.len()
            )));
        }
        Ok(config)
    }
}

/// Why a config could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The config fails validation; nothing was signed.
    #[error("config is invalid, nothing signed: {}", first(.0))]
    Invalid(Vec<ConfigError>),
    /// The encoded config is larger than a blob may carry.
    #[error("encoded config is {0} bytes, at most {MAX_PAYLOAD_LEN} fit in a blob")]
    TooLarge(usize),
    /// The config could not be encoded (a bug: every schema type encodes).
    #[error("config could not be encoded: {0}")]
    Encode(String),
}

fn first(errors: &[ConfigError]) -> String {
    match errors {
        [] => String::new(),
        [one] => one.to_string(),
        [one, rest @ ..] => format!("{one} (and {} more)", rest.len()),
    }
}

/// Validates `config` and signs it into a blob with `serial`, for the board named in
/// `config.node.board`.
pub fn sign(config: &Config, key: &SigningKey, serial: u64) -> Result<Vec<u8>, SignError> {
    crate::validate(config).map_err(SignError::Invalid)?;
    let payload = postcard::to_allocvec(config).map_err(|e| SignError::Encode(e.to_string()))?;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(SignError::TooLarge(payload.len()));
    }
    let header = Header {
        serial,
        board: config.node.board.clone(),
        key_id: KeyId::of(key.verifying_key().as_bytes()),
        // NOTE(cast): bounded by MAX_PAYLOAD_LEN above.
        payload_len: payload.len() as u32,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + SIGNATURE_LEN);
    out.extend_from_slice(&header.emit());
    out.extend_from_slice(&payload);
    let signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    Ok(out)
}
