//! Library of the `bgp-bench` binary: a side-by-side BGP route-reflector benchmark.
//!
//! Layers, bottom to top: [`wire`] and [`prefixes`] (what the benchmark's own peers
//! send and count), [`agent`] (those peers, run inside namespaces as
//! `bgp-bench agent ...`), [`lab`] (namespaces and processes that clean up after
//! themselves), [`daemon`] (starting and asking BIRD, FRR, GoBGP and routerd),
//! [`scenario`] (the measured runs) and [`report`] (tables and JSON lines).

pub mod agent;
pub mod agent_proc;
pub mod daemon;
pub mod error;
pub mod lab;
pub mod prefixes;
pub mod procstat;
pub mod report;
pub mod scenario;
pub mod wire;
