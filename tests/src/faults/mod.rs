//! Building blocks of the `faults` system tests: a scripted BGP peer that can send any
//! bytes, and routerd nodes with short timers.
//!
//! - [`raw_peer`]: one TCP session driven byte by byte from the test (through `nc` in
//!   the peer's namespace), with the workspace's own BGP codec for framing and parsing.
//! - [`node`]: routerd started from a config written here (hold time chosen by the test)
//!   and queried through its kernel table and status API.
//! - [`sam_lab`]: a SAM fabric (RR and enrolled leaves on the userspace datapath), with
//!   state directories that can be made read-only or full.
//!
//! Everything started here is killed by PID on drop, like the rest of the harness.

pub mod node;
pub mod raw_peer;
pub mod sam_lab;
