//! The canonical binary writer behind every MAC and digest.
//!
//! Big-endian integers; a variable-length byte string is its length as `u16` followed by
//! its bytes; an optional value is one presence byte (`0` absent, `1` present) followed
//! by the value when present; a list is its count as `u16` followed by the items. The
//! writer only appends, so two different messages of one kind never share an encoding.
//! Callers bound lengths before writing ([`Writer::bytes16`] and [`Writer::count16`]
//! refuse anything longer than `u16::MAX`).

use std::net::{Ipv4Addr, SocketAddrV4};

/// A value longer than a `u16` length prefix can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong;

/// Appends canonical fields to a byte buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a message with its 4-byte magic and 1-byte version.
    pub(crate) fn new(magic: &[u8; 4], version: u8) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(magic);
        buf.push(version);
        Self { buf }
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn ipv4(&mut self, addr: Ipv4Addr) {
        self.raw(&addr.octets());
    }

    pub(crate) fn socket(&mut self, addr: SocketAddrV4) {
        self.ipv4(*addr.ip());
        self.u16(addr.port());
    }

    /// A length-prefixed byte string.
    pub(crate) fn bytes16(&mut self, bytes: &[u8]) -> Result<(), TooLong> {
        let len = u16::try_from(bytes.len()).map_err(|_| TooLong)?;
        self.u16(len);
        self.raw(bytes);
        Ok(())
    }

    /// A list count.
    pub(crate) fn count16(&mut self, count: usize) -> Result<(), TooLong> {
        self.u16(u16::try_from(count).map_err(|_| TooLong)?);
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut w = Writer::new(b"TEST", 7);
        w.u16(0x0102);
        w.bytes16(b"ab").unwrap();
        w.socket(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 51820));
        w.u8(0);
        assert_eq!(
            w.finish(),
            [
                b'T', b'E', b'S', b'T', 7, 1, 2, 0, 2, b'a', b'b', 192, 0, 2, 1, 0xca, 0x6c, 0
            ]
        );
        let mut w = Writer::new(b"TEST", 1);
        assert_eq!(w.bytes16(&vec![0; 65536]), Err(TooLong));
    }
}
