//! Sans-IO BGP-4 speaker (RFC 4271 family) for routerd.
//!
//! Layering, bottom to top:
//! - [`wire`]: messages as views and representations (`parse`/`emit`); never panics on input.
//! - [`session`]: the RFC 4271 §8 finite state machine of one connection, OPEN checks
//!   and capability negotiation, idle-hold backoff; timers as deadlines.
//! - [`rib`]: interned attribute sets, Adj-RIB-In per peer, Loc-RIB with the §9.1.2
//!   decision process and RFC 4456 tie-breaks, Adj-RIB-Out grouping prefixes that share
//!   an attribute set.
//! - [`policy`]: pure import/export functions (prefix lists, communities, next-hop-self).
//! - [`reflect`]: RFC 4456 route reflection and iBGP/eBGP export rules.
//! - [`speaker`]: the one object the daemon drives: peers, connections, collision
//!   detection, dynamic peers, max-prefix, UPDATE processing and export.
//!
//! The crate performs no I/O, spawns no tasks and never reads a clock: every call takes
//! `now` and the speaker reports its next deadline. Drain contract: after any
//! `handle_*` call, call [`speaker::Speaker::poll_output`] until it returns `None`, then
//! wait until [`speaker::Speaker::poll_timeout`] or the next input.
#![forbid(unsafe_code)]

pub mod policy;
pub mod reflect;
pub mod rib;
pub mod session;
pub mod speaker;
pub mod wire;

pub use speaker::{Input, Output, Speaker};
