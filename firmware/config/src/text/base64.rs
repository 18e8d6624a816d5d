//! Standard base64 (RFC 4648 §4, with padding) for fixed-size byte arrays.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` as padded standard base64.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes exactly `N` bytes from padded standard base64 (surrounding whitespace ignored).
pub fn decode<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let text = text.trim().as_bytes();
    let expected_len = N.div_ceil(3) * 4;
    if text.len() != expected_len {
        return Err(format!(
            "expected {expected_len} base64 characters ({N} bytes), found {}",
            text.len()
        ));
    }
    let mut out = Vec::with_capacity(N + 2);
    for quad in text.chunks_exact(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in quad {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    pad += 1;
                    0
                }
                _ => {
                    return Err(format!(
                        "`{}` is not a base64 character",
                        char::from(c).escape_default()
                    ));
                }
            };
            if c != b'=' && pad > 0 {
                return Err("base64 padding `=` may only appear at the end".into());
            }
            n = (n << 6) | u32::from(value);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad.min(2)]);
    }
    if out.len() != N {
        return Err(format!("expected {N} bytes of base64, found {}", out.len()));
    }
    let mut array = [0u8; N];
    array.copy_from_slice(&out);
    if encode(&array).as_bytes() != text {
        return Err("non-canonical base64 (unused bits are set)".into());
    }
    Ok(array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foob"), "Zm9vYg==");
        assert_eq!(decode::<4>("Zm9vYg=="), Ok(*b"foob"));
        assert_eq!(decode::<3>("Zm9v"), Ok(*b"foo"));
    }

    #[test]
    fn base64_refuses_wrong_length_characters_and_padding() {
        let key = [7u8; 32];
        let text = encode(&key);
        assert_eq!(text.len(), 44);
        assert_eq!(decode::<32>(&text), Ok(key));
        assert!(decode::<32>(&text[..43]).is_err());
        assert!(decode::<32>(&text.replace('H', "*")).is_err());
        assert!(decode::<32>("=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_err());
        assert!(decode::<4>("Zm9vYg=a").is_err());
    }
}
