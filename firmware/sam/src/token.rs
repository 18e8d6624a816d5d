//! The join token (the shared HMAC key of one enrollment policy) and the MAC tag type.
//!
//! Invariant: a [`JoinToken`] never appears in `Debug` output, and tags are compared only
//! through [`JoinToken::verify`], which uses the constant-time `Mac::verify_slice`.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The shortest join token accepted, in bytes (128 bits of secret).
pub const MIN_TOKEN_LEN: usize = 16;

/// A join token shorter than [`MIN_TOKEN_LEN`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "a join token needs at least {MIN_TOKEN_LEN} bytes, this one has {0}; generate a longer random token"
)]
pub struct WeakToken(pub usize);

/// The secret key of an enrollment policy: HMAC-SHA256 key for claims and answers.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken(Vec<u8>);

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinToken(<redacted>)")
    }
}

/// An HMAC-SHA256 tag; JSON form is 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag(#[serde(with = "crate::hex::serde_array")] pub [u8; 32]);

impl JoinToken {
    /// Wraps the token bytes; refuses tokens shorter than [`MIN_TOKEN_LEN`].
    pub fn new(bytes: &[u8]) -> Result<Self, WeakToken> {
        if bytes.len() < MIN_TOKEN_LEN {
            return Err(WeakToken(bytes.len()));
        }
        Ok(Self(bytes.to_vec()))
    }

    fn mac_over(&self, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        for part in parts {
            mac.update(part);
        }
        mac
    }

    /// The tag over the concatenation of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> Tag {
        Tag(self.mac_over(parts).finalize().into_bytes().into())
    }

    /// Whether `tag` is the tag over `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &Tag) -> bool {
        self.mac_over(parts).verify_slice(&tag.0).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2 uses a 4-byte key; pad the check through the raw type.
        let token = JoinToken(b"Jefe".to_vec());
        let tag = token.sign(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            crate::hex::encode(&tag.0),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(token.verify(&[b"what do ya want for nothing?"], &tag));
        let mut bad = tag;
        bad.0[31] ^= 1;
        assert!(!token.verify(&[b"what do ya want for nothing?"], &bad));
    }

    #[test]
    fn short_tokens_refused_and_redacted() {
        assert_eq!(JoinToken::new(b"short"), Err(WeakToken(5)));
        let token = JoinToken::new(b"0123456789abcdef").unwrap();
        assert_eq!(format!("{token:?}"), "JoinToken(<redacted>)");
    }
}
