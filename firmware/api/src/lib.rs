//! Control and status API of routerd: the snapshot types, an HTTP JSON server and a
//! small blocking client.
//!
//! Contract:
//! - The daemon's core builds a [`Snapshot`] after each drain of the BGP speaker and
//!   publishes it as an `Arc<Snapshot>` on a `tokio::sync::watch` channel. Building it costs
//!   O(peers), never O(routes).
//! - [`server::serve`] answers requests from the latest published snapshot only: a handler
//!   never waits for the core and never blocks routing.
//! - [`client`] fetches and decodes the same types for `routerd-tool` and tests.
//!
//! Endpoints (all `GET`): `/v1/status` ([`Status`]) and `/v1/peers` ([`PeerList`]) in
//! JSON, `/metrics` in the Prometheus text format ([`metrics`]), and
//! `/v1/routes?prefix=P` ([`routes::RouteView`]), the one endpoint that asks the core;
//! with SAM, `/v1/enrollment` ([`sam::Enrollment`]) and `/v1/tunnels` ([`sam::TunnelList`]).
//! When a token hash is configured every request needs `Authorization: Bearer <token>`.

pub mod client;
pub mod config_push;
pub mod limits;
pub mod metrics;
pub mod routes;
pub mod sam;
pub mod server;
mod types;

pub use types::{ESTABLISHED, PeerList, PeerSnapshot, RejectCount, Snapshot, Status};
