//! Fixtures shared by the API's loopback tests.

use std::net::Ipv4Addr;
use std::time::Instant;

use api::Snapshot;

/// The snapshot of a router in `mode` (`leaf` or `rr`) with BGP identifier
/// `router_id`, no peers, no routes and no SAM section, taken now.
pub(crate) fn quiet_snapshot(mode: &str, router_id: Ipv4Addr) -> Snapshot {
    Snapshot {
        version: "0.1.0".into(),
        mode: mode.into(),
        router_id,
        local_as: 65000,
        config: "unsigned development config".into(),
        config_serial: 0,
        uptime_secs: 1,
        loc_rib_routes: 0,
        peers: vec![],
        refused_connections: vec![],
        sam: None,
        config_trial: None,
        taken_at: Some(Instant::now()),
    }
}
