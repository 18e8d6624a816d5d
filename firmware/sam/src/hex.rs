//! Lowercase hexadecimal for fixed-size byte strings, and the serde adapter used by every
//! binary field of the JSON transport (nonces, MACs, digests, WireGuard keys).
//!
//! Decoding accepts upper- and lowercase digits and nothing else (no prefix, no
//! whitespace); it never panics on any input.

/// Encodes `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes exactly `2 * N` hex digits into `N` bytes; `None` for any other input.
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// serde adapter: `#[serde(with = "crate::hex::serde_array")]` on a `[u8; N]` field.
pub(crate) mod serde_array {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::decode_array(&text)
            .ok_or_else(|| D::Error::custom(format_args!("expected {} hex digits", 2 * N)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let bytes = [0x00, 0x7f, 0xa5, 0xff];
        assert_eq!(encode(&bytes), "007fa5ff");
        assert_eq!(decode_array::<4>("007fa5ff"), Some(bytes));
        assert_eq!(decode_array::<4>("007FA5FF"), Some(bytes));
        assert_eq!(decode_array::<4>("007fa5f"), None);
        assert_eq!(decode_array::<4>("007fa5fg"), None);
        assert_eq!(decode_array::<4>("0x7fa5ff"), None);
        assert_eq!(decode_array::<2>("éé"), None);
    }
}
