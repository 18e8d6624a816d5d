//! Small value types of the schema: bounded names, MAC addresses, BGP communities,
//! keys, digests and secrets.
//!
//! Invariant: every type here has one text form (used in TOML and JSON) and one compact
//! binary form (used in the postcard payload of the blob); serde picks the form with
//! `is_human_readable()`, so the same type round-trips through both.

use core::fmt;
use core::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::text::{base64, hex};

/// A Linux interface name: at most 15 bytes (IFNAMSIZ minus the terminating NUL).
pub type IfName = heapless::String<15>;
/// A short identifier: node name, leaf id, policy name (at most 63 bytes).
pub type Name = heapless::String<63>;
/// A board compatibility string such as `pve-x86_64` (at most 32 bytes).
pub type BoardName = heapless::String<32>;
/// A filesystem path (at most 255 bytes).
pub type PathText = heapless::String<255>;
/// A reason text attached to a policy rejection (at most 63 bytes).
pub type ReasonText = heapless::String<63>;
/// A SAM join token: the shared HMAC secret, as text (at most 128 bytes).
pub type JoinToken = heapless::String<128>;

/// Serializes a fixed byte array as text (human-readable formats) or raw bytes (postcard).
fn serialize_fixed<S: Serializer>(
    bytes: &[u8],
    to_text: fn(&[u8]) -> String,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&to_text(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

/// Deserializes a fixed byte array from text (human-readable formats) or raw bytes.
fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
    what: &'static str,
    from_text: fn(&str) -> Result<[u8; N], String>,
) -> Result<[u8; N], D::Error> {
    struct FixedVisitor<const N: usize> {
        what: &'static str,
        from_text: fn(&str) -> Result<[u8; N], String>,
    }
    impl<const N: usize> Visitor<'_> for FixedVisitor<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.what)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            (self.from_text)(v).map_err(|e| E::custom(format!("invalid {}: {e}", self.what)))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }
    }
    let visitor = FixedVisitor { what, from_text };
    if deserializer.is_human_readable() {
        deserializer.deserialize_str(visitor)
    } else {
        deserializer.deserialize_bytes(visitor)
    }
}

/// An Ethernet MAC address, written `52:54:00:12:34:56`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for slot in &mut out {
            let part = parts.next().ok_or("expected six `:`-separated octets")?;
            if part.len() != 2 {
                return Err("each octet is two hexadecimal digits".into());
            }
            *slot = hex::decode::<1>(part)?[0];
        }
        if parts.next().is_some() {
            return Err("expected six `:`-separated octets".into());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(
            &self.0,
            |b| MacAddr(b.try_into().unwrap_or([0; 6])).to_string(),
            serializer,
        )
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed(d, "MAC address like 52:54:00:12:34:56", |s| {
            s.parse().map(|m: MacAddr| m.0)
        })
        .map(MacAddr)
    }
}

/// A standard BGP community (RFC 1997), written `65000:100`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// The community `high:low`.
    pub fn new(high: u16, low: u16) -> Self {
        Community((u32::from(high) << 16) | u32::from(low))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Community {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (high, low) = s
            .split_once(':')
            .ok_or("expected `ASN:VALUE`, e.g. 65000:100")?;
        let high: u16 = high
            .parse()
            .map_err(|_| "the part before `:` must be 0..=65535")?;
        let low: u16 = low
            .parse()
            .map_err(|_| "the part after `:` must be 0..=65535")?;
        Ok(Community::new(high, low))
    }
}

impl Serialize for Community {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Community {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            text.parse()
                .map_err(|e| de::Error::custom(format!("invalid community: {e}")))
        } else {
            u32::deserialize(d).map(Community)
        }
    }
}

/// An ed25519 public key allowed to sign the next config blob, written as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustedKey(pub [u8; 32]);

impl TrustedKey {
    /// The key id: the first 8 bytes of SHA-256 over the public key bytes.
    pub fn key_id(&self) -> crate::KeyId {
        crate::KeyId::of(&self.0)
    }
}

impl fmt::Display for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({self})")
    }
}

impl FromStr for TrustedKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        hex::decode::<32>(s).map(TrustedKey)
    }
}

impl Serialize for TrustedKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, hex::encode, serializer)
    }
}

impl<'de> Deserialize<'de> for TrustedKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed(
            d,
            "ed25519 public key (64 hexadecimal digits)",
            hex::decode::<32>,
        )
        .map(TrustedKey)
    }
}

/// A SHA-256 digest, written as 64 hex digits (the control API token hash).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, hex::encode, serializer)
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed(
            d,
            "SHA-256 digest (64 hexadecimal digits)",
            hex::decode::<32>,
        )
        .map(Sha256Digest)
    }
}

/// A 32-byte WireGuard (Curve25519) key, written in base64 as `wg genkey` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WgKey(pub [u8; 32]);

impl fmt::Display for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64::encode(&self.0))
    }
}

impl fmt::Debug for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WgKey({self})")
    }
}

impl FromStr for WgKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        base64::decode::<32>(s).map(WgKey)
    }
}

impl Serialize for WgKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fixed(&self.0, base64::encode, serializer)
    }
}

impl<'de> Deserialize<'de> for WgKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_fixed(
            d,
            "WireGuard key (44 base64 characters, as `wg genkey` prints)",
            base64::decode::<32>,
        )
        .map(WgKey)
    }
}

/// A secret value: serialized as is (it travels inside the signed blob), but its `Debug`
/// form never shows it. [`crate::Config::redacted`] hides it in printed configs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value itself; call this only where the secret is used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_community_text_forms_round_trip() {
        let mac: MacAddr = "52:54:00:AB:cd:0f".parse().unwrap();
        assert_eq!(mac.to_string(), "52:54:00:ab:cd:0f");
        assert!("52:54:00:ab:cd".parse::<MacAddr>().is_err());
        assert!("52:54:00:ab:cd:0f:00".parse::<MacAddr>().is_err());
        assert!("52-54-00-ab-cd-0f".parse::<MacAddr>().is_err());
        let c: Community = "65000:100".parse().unwrap();
        assert_eq!(c, Community::new(65000, 100));
        assert_eq!(c.to_string(), "65000:100");
        assert!("65536:1".parse::<Community>().is_err());
        assert!("100".parse::<Community>().is_err());
    }

    #[test]
    fn secret_debug_hides_the_value() {
        let s = Secret::new(JoinToken::try_from("hunter2hunter2hunter2").unwrap());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose().as_str(), "hunter2hunter2hunter2");
    }
}
