//! Text encodings of fixed-size binary values used in the TOML schema.
//!
//! - [`hex`]: lowercase hexadecimal (ed25519 owner keys, SHA-256 digests, key ids).
//! - [`base64`]: standard base64 with padding (WireGuard keys, as `wg` prints them).
//!
//! Decoders never panic; they return a lowercase message that names what was expected.

pub mod base64;
pub mod hex;
