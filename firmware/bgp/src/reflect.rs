//! RFC 4456 route reflection rules.
