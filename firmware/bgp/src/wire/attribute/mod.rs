//! Path attributes (RFC 4271 §4.3 and §5, RFC 1997, RFC 4456, RFC 4760, RFC 6793) with
//! the RFC 7606 error handling.
//!
//! ```text
//!  +----------------+----------------+--------------------------+-----------------+
//!  | Attr. Flags (1)| Attr. Type (1) | Length (1, or 2 when the | Value (Length)  |
//!  | O T P E 0 0 0 0|                | Extended Length bit E)   |                 |
//!  +----------------+----------------+--------------------------+-----------------+
//! ```
//!
//! Submodules: `parse` (attribute section into [`PathAttributes`] with typed RFC 7606
//! outcomes), `emit` (the reverse, splitting AS4_PATH on 2-octet sessions) and `as_path`
//! (segments, RFC 6793 merge).
//!
//! [`PathAttributes`]: super::types::PathAttributes

pub(super) mod as_path;
pub(super) mod emit;
pub(super) mod parse;

/// Attribute type codes.
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271, RFC 6793).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
}

/// Attribute flag bits.
pub mod flag {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute passed on by a speaker that did not
    /// recognise it.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

use type_code::*;

/// Whether this crate interprets the type code (unknown entries with these codes are
/// never emitted, so a known attribute is never written twice).
pub(super) fn is_known(code: u8) -> bool {
    matches!(
        code,
        ORIGIN..=CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI | AS4_PATH | AS4_AGGREGATOR
    )
}

/// Optional and Transitive bits that the attribute must carry.
pub(super) fn expected_flags(code: u8) -> Option<u8> {
    use flag::{OPTIONAL, TRANSITIVE};
    match code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Some(TRANSITIVE),
        MULTI_EXIT_DISC | ORIGINATOR_ID | CLUSTER_LIST | MP_REACH_NLRI | MP_UNREACH_NLRI => {
            Some(OPTIONAL)
        }
        AGGREGATOR | COMMUNITIES | AS4_PATH | AS4_AGGREGATOR => Some(OPTIONAL | TRANSITIVE),
        _ => None,
    }
}

/// What RFC 7606 §7 prescribes for a malformed attribute of this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnMalformed {
    /// Treat every NLRI of the UPDATE as withdrawn.
    TreatAsWithdraw,
    /// Drop the attribute and go on.
    Discard,
    /// End the session (MP_REACH_NLRI and MP_UNREACH_NLRI: the NLRI cannot be trusted).
    SessionReset,
}

/// RFC 7606 §7 per-type handling (unknown optional attributes are never malformed).
pub(super) fn on_malformed(code: u8) -> OnMalformed {
    match code {
        ATOMIC_AGGREGATE | AGGREGATOR | AS4_PATH | AS4_AGGREGATOR => OnMalformed::Discard,
        MP_REACH_NLRI | MP_UNREACH_NLRI => OnMalformed::SessionReset,
        _ => OnMalformed::TreatAsWithdraw,
    }
}
