//! Lowercase hexadecimal for fixed-size byte arrays.

/// Encodes `bytes` as lowercase hexadecimal.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes exactly `N` bytes from hexadecimal text (either case, surrounding whitespace
/// ignored).
pub fn decode<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let text = text.trim();
    if text.len() != N * 2 {
        return Err(format!(
            "expected {} hexadecimal digits ({N} bytes), found {} characters",
            N * 2,
            text.len()
        ));
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let high = digit(pair[0])?;
        let low = digit(pair[1])?;
        *slot = (high << 4) | low;
    }
    Ok(out)
}

fn digit(c: u8) -> Result<u8, String> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!(
            "`{}` is not a hexadecimal digit",
            char::from(c).escape_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_bad_digits() {
        let bytes = [0x00, 0x7f, 0x80, 0xff];
        assert_eq!(encode(&bytes), "007f80ff");
        assert_eq!(decode::<4>("007F80ff"), Ok(bytes));
        assert!(decode::<4>("007f80f").is_err());
        assert!(decode::<4>("007f80fg").is_err());
        assert!(decode::<4>("é7f80f").is_err());
    }
}
