//! BGP-4 wire format (RFC 4271 §4, RFC 4760, RFC 6793, RFC 2918, RFC 4724, RFC 1997,
//! RFC 4456, RFC 5492, RFC 7606).
//!
//! Contract:
//! - [`frame_len`] inspects a byte stream and says whether one complete message is there.
//! - [`Message::parse`] takes exactly one message (header included) and a [`ParseCtx`]
//!   (negotiated capabilities). It never panics on any input. Errors that must reset the
//!   session come back as [`ParseError`], which names the NOTIFICATION to send. UPDATE
//!   attribute errors that RFC 7606 resolves without a reset come back inside the
//!   [`Update`] (`treat_as_withdraw`, `discarded`). When `treat_as_withdraw` is set, the
//!   caller withdraws every prefix in `nlri`, `withdrawn`, `attrs.mp_reach` and
//!   `attrs.mp_unreach` and ignores the attributes.
//! - [`Message::emit`] appends one message to a buffer; `parse(emit(m)) == m` for every
//!   representable `m` (see `docs/bgp.md` for the few normalisations: prefixes with
//!   host bits cleared, LOCAL_PREF only on internal sessions, unknown attributes passed
//!   on as optional transitive with Partial set, AS_TRANS rules on 2-octet sessions).
//!   The caller keeps an UPDATE within [`MAX_MESSAGE_LEN`]; the `pack_*` functions do so.
//! - Parsing and emitting allocate per message and per attribute, never per prefix beyond
//!   the pushes into the prefix `Vec`s.
//!
//! Submodules: `header` (marker, length, type), `open` (OPEN and capabilities),
//! `update` (UPDATE framing), `attribute` (path attributes and RFC 7606 outcomes),
//! `nlri` (prefix encoding), `notification` (NOTIFICATION and ROUTE-REFRESH), `error`
//! (NOTIFICATION codes and subcodes), `pack` (Adj-RIB-Out packing), `end_of_rib`
//! (RFC 4724 markers), `family` (AFI/SAFI numbers).

mod attribute;
mod end_of_rib;
pub mod error;
mod family;
pub mod header;
mod nlri;
mod notification;
mod open;
mod pack;
mod types;
mod update;

pub use attribute::{flag, type_code};
pub use end_of_rib::{emit_end_of_rib, end_of_rib_family};
pub use pack::{pack_updates, pack_updates_v6, pack_withdrawals, pack_withdrawals_v6};
pub use types::*;

impl Message {
    /// Parse exactly one message (header included).
    ///
    /// Never panics. Session-ending errors return the NOTIFICATION to send.
    pub fn parse(bytes: &[u8], ctx: &ParseCtx) -> Result<Message, ParseError> {
        let kind = header::check(bytes)?;
        let body = &bytes[HEADER_LEN..];
        Ok(match kind {
            header::OPEN => Message::Open(open::parse(body)?),
            header::UPDATE => Message::Update(update::parse(body, ctx)?),
            header::NOTIFICATION => Message::Notification(notification::parse(body)),
            header::KEEPALIVE => Message::Keepalive,
            _ => Message::RouteRefresh(notification::parse_route_refresh(body)),
        })
    }

    /// Append this message, header included, to `out`.
    pub fn emit(&self, ctx: &ParseCtx, out: &mut Vec<u8>) {
        let kind = match self {
            Message::Open(_) => header::OPEN,
            Message::Update(_) => header::UPDATE,
            Message::Notification(_) => header::NOTIFICATION,
            Message::Keepalive => header::KEEPALIVE,
            Message::RouteRefresh(_) => header::ROUTE_REFRESH,
        };
        let start = header::begin(out, kind);
        match self {
            Message::Open(msg) => open::emit(msg, out),
            Message::Update(msg) => update::emit(msg, ctx, out),
            Message::Notification(msg) => notification::emit(msg, out),
            Message::Keepalive => {}
            Message::RouteRefresh(msg) => notification::emit_route_refresh(msg, out),
        }
        header::finish(out, start);
    }
}

/// Length of the first complete message in `buf`: `Ok(None)` when more bytes are needed,
/// `Err` when the header is invalid (bad marker, length outside 19..=4096).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    Ok(header::frame(buf)?.filter(|&len| buf.len() >= len))
}
