//! `POST /v1/config` and `POST /v1/config/confirm`: signed config push in try mode.
//!
//! Contract: the handler passes the request body (a signed blob, at most
//! [`crate::limits::Limits::max_body_bytes`]) and the local address the request came in
//! on to the core as a [`ConfigCommand`] and answers with the core's reply. The core
//! verifies the blob exactly as at boot, switches to it, and reverts to the previous
//! config after the new config's `try_revert_secs` unless a confirm arrives; only a
//! confirmed config is written to persistent storage. While a pushed config waits for
//! its confirm, [`ConfigTrial`] is part of every snapshot (and of `/v1/status`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// A request for the core.
#[derive(Debug)]
pub enum ConfigCommand {
    /// Verify `blob` and run it in try mode.
    Push {
        /// The signed config blob.
        blob: Vec<u8>,
        /// The local address the request came in on (`None` when unknown).
        arrived_on: Option<SocketAddr>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<PushAccepted, PushRefused>>,
    },
    /// Keep the config being tried and write it to persistent storage.
    Confirm {
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Confirmed, PushRefused>>,
    },
}

/// Answer of an accepted `POST /v1/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAccepted {
    /// Serial of the config now running.
    pub serial: u64,
    /// Serial it replaced (and returns to without a confirm).
    pub previous_serial: u64,
    /// Seconds until the revert unless `POST /v1/config/confirm` arrives.
    pub reverts_in_secs: u64,
    /// Changes that take effect only at the next start (after a confirm), one line each.
    pub not_applied_live: Vec<String>,
}

/// Answer of an accepted `POST /v1/config/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    /// Serial of the confirmed config.
    pub serial: u64,
    /// Where it was written (files or partitions).
    pub written_to: Vec<String>,
}

/// A refused push or confirm: the HTTP status and an error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRefused {
    /// `409` (state does not allow it), `422` (the blob was refused) or `500` (storage).
    pub status: u16,
    /// What went wrong.
    pub error: String,
    /// What to do next.
    pub hint: String,
}

/// A pushed config waiting for its confirm, as snapshots and `/v1/status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigTrial {
    /// Serial of the config being tried.
    pub serial: u64,
    /// Serial of the config it reverts to.
    pub previous_serial: u64,
    /// Seconds until the revert (at publication time in a snapshot).
    pub reverts_in_secs: u64,
}
