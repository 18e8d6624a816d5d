//! routerd's configuration: schema, validation, and the ed25519-signed config blob.
//!
//! This crate is sans-IO: it reads no files, opens no sockets and reads no clock. Callers
//! pass text or bytes in and get values or bytes out.
//!
//! Operators write TOML ([`schema`], `docs/config.md`). [`load_toml`] / [`check_toml`]
//! parse it and run [`validate`], reporting file, line, column, field path and fix for
//! every problem.

mod error;
mod load;
mod redact;
pub mod schema;
pub mod text;
mod validate;

pub use error::{ConfigError, Location};
pub use load::{check_toml, load_toml};
pub use redact::REDACTED;
pub use schema::*;
pub use validate::validate;

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
        f.write_str(&text::hex::encode(&self.0))
    }
}
