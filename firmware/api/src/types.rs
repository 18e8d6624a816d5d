//! The JSON documents of the API.
//!
//! [`Snapshot`] is what the core publishes; [`Status`] and [`PeerList`] are what the
//! endpoints return, derived from a snapshot and aged to the time of the request so uptimes
//! stay right between publications.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Everything the status endpoints serve, published by the core after each drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Daemon version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Operating mode: `leaf` or `rr`.
    pub mode: String,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Local AS.
    pub local_as: u32,
    /// How the running config was verified (`signed by KEY, serial N` or
    /// `unsigned development config`).
    #[serde(default)]
    pub config: String,
    /// Serial of the running config blob (0 for a development config).
    #[serde(default)]
    pub config_serial: u64,
    /// Seconds since the daemon started, at publication time.
    pub uptime_secs: u64,
    /// Prefixes in the Loc-RIB.
    pub loc_rib_routes: u64,
    /// Every peer, configured and dynamic.
    pub peers: Vec<PeerSnapshot>,
    /// Incoming connections refused, by reason (e.g. `no-matching-range`, `range-full`).
    #[serde(default)]
    pub refused_connections: Vec<RejectCount>,
    /// SAM enrollment and tunnels (`None` without a `[sam]` section).
    #[serde(default)]
    pub sam: Option<crate::sam::SamSnapshot>,
    /// A pushed config waiting for its confirm (`None` when the running config is
    /// confirmed).
    #[serde(default)]
    pub config_trial: Option<crate::config_push::ConfigTrial>,
    /// When the snapshot was taken (not serialized); used to age uptimes per request.
    #[serde(skip)]
    pub taken_at: Option<Instant>,
}

/// One peer's state and prefix counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSnapshot {
    /// Peer address.
    pub address: IpAddr,
    /// Remote AS, once known.
    pub remote_as: Option<u32>,
    /// FSM state name (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`).
    pub state: String,
    /// Name of the dynamic range the peer was admitted from, if dynamic.
    pub dynamic: Option<String>,
    /// Seconds in Established (0 otherwise).
    pub uptime_secs: u64,
    /// Prefixes in the Adj-RIB-In.
    pub received: u64,
    /// Prefixes accepted by the import policy.
    pub accepted: u64,
    /// Prefixes rejected, by reason.
    pub rejected: Vec<RejectCount>,
    /// Prefixes advertised to the peer.
    pub advertised: u64,
    /// Last error (NOTIFICATION or connection failure), if any.
    pub last_error: Option<String>,
}

/// A count of rejected prefixes for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectCount {
    /// Why they were rejected.
    pub reason: String,
    /// How many.
    pub count: u64,
}

/// Answer of `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Daemon version.
    pub version: String,
    /// Operating mode: `leaf` or `rr`.
    pub mode: String,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Local AS.
    pub local_as: u32,
    /// How the running config was verified.
    #[serde(default)]
    pub config: String,
    /// Serial of the running config blob (0 for a development config).
    #[serde(default)]
    pub config_serial: u64,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Prefixes in the Loc-RIB.
    pub loc_rib_routes: u64,
    /// Number of peers.
    pub peers_total: usize,
    /// Number of peers in Established.
    pub peers_established: usize,
    /// Incoming connections refused, by reason.
    #[serde(default)]
    pub refused_connections: Vec<RejectCount>,
    /// Which datapath carries the SAM tunnels (`kernel` or `userspace`); absent without SAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<String>,
    /// A pushed config waiting for its confirm; absent when the running config is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_trial: Option<crate::config_push::ConfigTrial>,
    /// Why persistent state could not be written (state directory read-only or full);
    /// absent when everything is on disk. Routing runs from memory meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_error: Option<String>,
}

/// Answer of `/v1/peers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    /// Every peer, in address order.
    pub peers: Vec<PeerSnapshot>,
}

/// Name of the Established state as it appears in [`PeerSnapshot::state`].
pub const ESTABLISHED: &str = "Established";

impl Snapshot {
    /// The snapshot with uptimes advanced by the time elapsed since it was taken.
    fn age_secs(&self, now: Instant) -> u64 {
        self.taken_at
            .map(|t| now.saturating_duration_since(t).as_secs())
            .unwrap_or(0)
    }

    /// `/v1/status` as of `now`.
    pub fn status(&self, now: Instant) -> Status {
        Status {
            version: self.version.clone(),
            mode: self.mode.clone(),
            router_id: self.router_id,
            local_as: self.local_as,
            config: self.config.clone(),
            config_serial: self.config_serial,
            uptime_secs: self.uptime_secs + self.age_secs(now),
            loc_rib_routes: self.loc_rib_routes,
            peers_total: self.peers.len(),
            peers_established: self.peers.iter().filter(|p| p.state == ESTABLISHED).count(),
            refused_connections: self.refused_connections.clone(),
            datapath: self.sam.as_ref().map(|s| s.datapath.clone()),
            config_trial: self
                .config_trial
                .as_ref()
                .map(|t| crate::config_push::ConfigTrial {
                    reverts_in_secs: t.reverts_in_secs.saturating_sub(self.age_secs(now)),
                    ..t.clone()
                }),
            state_error: self.sam.as_ref().and_then(|s| s.state_error.clone()),
        }
    }

    /// `/v1/peers` as of `now`: Established peers' uptimes include the snapshot's age.
    pub fn peer_list(&self, now: Instant) -> PeerList {
        let age = self.age_secs(now);
        let mut peers = self.peers.clone();
        for p in peers.iter_mut().filter(|p| p.state == ESTABLISHED) {
            p.uptime_secs += age;
        }
        peers.sort_by_key(|p| p.address);
        PeerList { peers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer(address: &str, state: &str, uptime: u64) -> PeerSnapshot {
        PeerSnapshot {
            address: address.parse().unwrap(),
            remote_as: Some(65000),
            state: state.into(),
            dynamic: None,
            uptime_secs: uptime,
            received: 2,
            accepted: 2,
            rejected: vec![],
            advertised: 4,
            last_error: None,
        }
    }

    #[test]
    fn status_counts_established_and_ages_uptime() {
        let t0 = Instant::now();
        let snap = Snapshot {
            version: "0.1.0".into(),
            mode: "rr".into(),
            router_id: Ipv4Addr::new(192, 0, 2, 1),
            local_as: 65000,
            config: "signed by 0011223344556677, serial 3".into(),
            config_serial: 3,
            uptime_secs: 10,
            loc_rib_routes: 6,
            peers: vec![
                peer("192.0.2.12", "Established", 5),
                peer("192.0.2.11", "Active", 0),
            ],
            refused_connections: vec![RejectCount {
                reason: "range-full".into(),
                count: 2,
            }],
            sam: None,
            config_trial: None,
            taken_at: Some(t0),
        };
        let st = snap.status(t0 + Duration::from_secs(3));
        assert_eq!(
            (st.uptime_secs, st.peers_total, st.peers_established),
            (13, 2, 1)
        );
        assert_eq!(st.refused_connections[0].count, 2);
        let list = snap.peer_list(t0 + Duration::from_secs(3));
        assert_eq!(list.peers[0].address.to_string(), "192.0.2.11");
        assert_eq!(list.peers[0].uptime_secs, 0);
        assert_eq!(list.peers[1].uptime_secs, 8);
    }
}
