//! BGP-4 wire format (RFC 4271 §4, RFC 4760, RFC 6793, RFC 2918, RFC 4724, RFC 1997,
//! RFC 4456, RFC 7606).
//!
//! Contract:
//! - [`frame_len`] inspects a byte stream and says whether one complete message is there.
//! - [`Message::parse`] takes exactly one message (header included) and a [`ParseCtx`]
//!   (negotiated capabilities). It never panics on any input. Errors that must reset the
//!   session come back as [`ParseError`], which names the NOTIFICATION to send. UPDATE
//!   attribute errors that RFC 7606 resolves without a reset come back inside the
//!   [`Update`] (`treat_as_withdraw`, `discarded`).
//! - [`Message::emit`] appends one message to a buffer; `parse(emit(m)) == m` for every
//!   representable `m`.
//!
//! Submodules: `header` (marker, length, type), `open` (OPEN and capabilities),
//! `update` (UPDATE and NLRI), `attribute` (path attributes), `notification`,
//! `error` (error codes and RFC 7606 actions).

mod types;
pub use types::*;

impl Message {
    /// Parse exactly one message (header included).
    ///
    /// Never panics. Session-ending errors return the NOTIFICATION to send.
    pub fn parse(bytes: &[u8], ctx: &ParseCtx) -> Result<Message, ParseError> {
        let _ = (bytes, ctx);
        unimplemented!("wire codec is being written")
    }

    /// Append this message, header included, to `out`.
    pub fn emit(&self, ctx: &ParseCtx, out: &mut Vec<u8>) {
        let _ = (ctx, out);
        unimplemented!("wire codec is being written")
    }
}

/// Length of the first complete message in `buf`: `Ok(None)` when more bytes are needed,
/// `Err` when the header is invalid (bad marker, length outside 19..=4096).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let _ = buf;
    unimplemented!("wire codec is being written")
}
