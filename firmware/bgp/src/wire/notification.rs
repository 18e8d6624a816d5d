//! NOTIFICATION (RFC 4271 §4.5) and ROUTE-REFRESH (RFC 2918 §3) bodies.
//!
//! ```text
//! NOTIFICATION:  | Error code (1) | Error subcode (1) | Data (variable) |
//! ROUTE-REFRESH: | AFI (2) | Reserved (1) | SAFI (1) |
//! ```
//!
//! The header check guarantees the fixed part is present, so these never fail.

use super::types::{Afi, Notification, RouteRefresh, Safi};

/// Parses a NOTIFICATION body (at least 2 octets).
pub(super) fn parse(body: &[u8]) -> Notification {
    Notification {
        code: body[0],
        subcode: body[1],
        data: body[2..].to_vec(),
    }
}

/// Appends a NOTIFICATION body.
pub(super) fn emit(msg: &Notification, out: &mut Vec<u8>) {
    out.extend_from_slice(&[msg.code, msg.subcode]);
    out.extend_from_slice(&msg.data);
}

/// Parses a ROUTE-REFRESH body (exactly 4 octets); the reserved octet is ignored.
pub(super) fn parse_route_refresh(body: &[u8]) -> RouteRefresh {
    RouteRefresh {
        afi: Afi::from(u16::from_be_bytes([body[0], body[1]])),
        safi: Safi::from(body[3]),
    }
}

/// Appends a ROUTE-REFRESH body.
pub(super) fn emit_route_refresh(msg: &RouteRefresh, out: &mut Vec<u8>) {
    out.extend_from_slice(&u16::from(msg.afi).to_be_bytes());
    out.extend_from_slice(&[0, u8::from(msg.safi)]);
}
