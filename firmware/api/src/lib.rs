//! Control and status API of routerd: the snapshot types, an HTTP JSON server and a
//! small blocking client.
//!
//! Contract:
//! - The daemon's core builds a [`Snapshot`] after each drain of the BGP speaker and
//!   publishes it as an `Arc<Snapshot>` on a `tokio::sync::watch` channel. Building it costs
//!   O(peers), never O(routes).
//! - [`server::serve`] answers the status endpoints from the latest published snapshot
//!   only: such a handler never waits for the core. Route queries ([`routes`]), config
//!   commands ([`config_push`]) and revocations ([`revocation`]) go to the core on bounded channels and are answered
//!   between two of its inputs, with a deadline (`503` when the core is busy).
//! - Every request passes the [`limits`] (rate `429`, body size `413`), the source
//!   allowlist (`403`) and, when a token hash is configured, the bearer token (`401`).
//! - [`client`] fetches and decodes the same types for `routerd-tool` and tests.
//!
//! Endpoints: `GET /v1/status` ([`Status`]) and `GET /v1/peers` ([`PeerList`]) in JSON,
//! `GET /metrics` in the Prometheus text format ([`metrics`]), `GET /v1/routes` (one
//! prefix explained, [`routes::RouteView`], or a page of best paths,
//! [`routes::RouteListing`]), with SAM `GET /v1/enrollment` ([`sam::Enrollment`]) and
//! `GET /v1/tunnels` ([`sam::TunnelList`]), `GET /v1/kernel` ([`kernel::KernelView`]), and `POST /v1/config` /
//! `POST /v1/config/confirm` ([`config_push`]), and on a SAM RR
//! `POST /v1/enrollment/revoke` / `POST /v1/enrollment/reinstate` ([`revocation`]). `docs/api.md` describes them for
//! operators.

pub mod client;
pub mod config_push;
pub mod kernel;
pub mod limits;
pub mod metrics;
pub mod revocation;
pub mod routes;
pub mod sam;
pub mod server;
mod types;

pub use types::{ESTABLISHED, PeerList, PeerSnapshot, RejectCount, Snapshot, Status};
