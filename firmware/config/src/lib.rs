//! routerd's configuration: schema, validation, and the ed25519-signed config blob.
//!
//! This crate is sans-IO: it reads no files, opens no sockets and reads no clock. Callers
//! pass text or bytes in and get values or bytes out.
//!
//! # Life of a config
//! 1. An operator writes TOML ([`schema`], `docs/config.md`). [`load_toml`] /
//!    [`check_toml`] parse it and run [`validate`], reporting file, line, column, field
//!    path and fix for every problem.
//! 2. `routerd-tool provision` signs it with [`sign`] into a blob: a 64-byte header
//!    (magic, format version, serial, board, key id), the postcard payload and an
//!    ed25519 signature over both ([`blob`]).
//! 3. The blob is stored in one of two A/B slots of the config partition ([`slots`]).
//! 4. At boot, routerd takes the newest valid slot and calls [`verify`] with the keys
//!    it trusts, its board string and the last applied serial ([`serial_record`]). Only
//!    a [`Verified<Config>`] comes out; it is the only form the daemon accepts. The
//!    config's own `trusted_keys` become the trust set for the next blob
//!    ([`Verified::next_trust`]).
//!
//! The same [`validate`] runs offline and at boot: [`verify`] calls it on every payload.

pub mod blob;
mod error;
mod load;
mod redact;
pub mod schema;
pub mod serial_record;
pub mod slots;
pub mod text;
mod validate;
mod verify;

pub use blob::{KeyId, SignError, sign};
pub use error::{ConfigError, Location};
pub use load::{check_toml, load_toml};
pub use redact::REDACTED;
pub use schema::*;
pub use validate::validate;
pub use verify::{Provenance, TrustError, TrustedKeys, Verified, VerifyError, development, verify};

/// The ed25519 key types used to sign and verify blobs.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
