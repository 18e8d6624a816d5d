//! Publishing the status snapshot the API serves.
//!
//! After each drain the core calls [`StatusPublisher::after_drain`]. A snapshot costs
//! O(peers) (it reads [`bgp::Speaker::peers`] and the Loc-RIB size, never the routes), and
//! to keep that cost bounded it is rebuilt soon after a peer event (at once, or
//! [`PEER_EVENT_GAP`] after the last snapshot: a thousand peers establishing at once
//! would otherwise cost a thousand snapshots of a thousand peers each), and otherwise at
//! most once per [`PUBLISH_INTERVAL`], the core calling [`StatusPublisher::tick`] on that
//! interval and [`StatusPublisher::publish_due`] when [`StatusPublisher::soon`] says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{PeerSnapshot, RejectCount, Snapshot};
use bgp::Speaker;
use bgp::speaker::PeerStatus;
use tokio::sync::watch;

use crate::router_config::RouterConfig;

/// Longest time a published snapshot lags behind the speaker.
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_millis(250);
/// Least time between two snapshots published for peer events.
pub(crate) const PEER_EVENT_GAP: Duration = Duration::from_millis(20);

/// Builds and publishes snapshots.
pub(crate) struct StatusPublisher {
    tx: watch::Sender<Arc<Snapshot>>,
    /// The fields that never change while running (identity, config), peers empty.
    identity: Snapshot,
    started: Instant,
    last: Instant,
    dirty: bool,
    /// A peer event waits for its snapshot (published at `last + PEER_EVENT_GAP`).
    peer_event_pending: bool,
    /// A pushed config waiting for its confirm, with its revert deadline.
    trial: Option<(api::config_push::ConfigTrial, Instant)>,
}

impl StatusPublisher {
    /// A publisher with an empty first snapshot; the receiver goes to the API server.
    pub(crate) fn new(config: &RouterConfig) -> (StatusPublisher, watch::Receiver<Arc<Snapshot>>) {
        let now = Instant::now();
        let identity = Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            mode: config.mode.as_str().to_string(),
            router_id: config.speaker.router_id,
            local_as: config.speaker.local_as,
            config: config.provenance.clone(),
            config_serial: config.serial,
            uptime_secs: 0,
            loc_rib_routes: 0,
            peers: Vec::new(),
            refused_connections: Vec::new(),
            sam: None,
            config_trial: None,
            taken_at: Some(now),
        };
        let (tx, rx) = watch::channel(Arc::new(identity.clone()));
        let publisher = StatusPublisher {
            tx,
            identity,
            started: now,
            last: now,
            dirty: false,
            peer_event_pending: false,
            trial: None,
        };
        (publisher, rx)
    }

    /// Called after every drain; `peer_event` when a peer changed state or was admitted or
    /// removed.
    pub(crate) fn after_drain(&mut self, speaker: &Speaker, peer_event: bool) {
        self.dirty = true;
        self.peer_event_pending |= peer_event;
        let since = self.last.elapsed();
        if (self.peer_event_pending && since >= PEER_EVENT_GAP) || since >= PUBLISH_INTERVAL {
            self.publish(speaker);
        }
    }

    /// When the snapshot of a peer event held back by [`PEER_EVENT_GAP`] is due (the
    /// core then calls [`StatusPublisher::publish_due`]); `None` when none waits.
    pub(crate) fn soon(&self) -> Option<Instant> {
        self.peer_event_pending.then(|| self.last + PEER_EVENT_GAP)
    }

    /// Publishes the snapshot [`StatusPublisher::soon`] announced.
    pub(crate) fn publish_due(&mut self, speaker: &Speaker) {
        if self.peer_event_pending {
            self.publish(speaker);
        }
    }

    /// Called every [`PUBLISH_INTERVAL`]: publishes what the last drains changed.
    pub(crate) fn tick(&mut self, speaker: &Speaker) {
        if self.dirty {
            self.publish(speaker);
        }
    }

    /// Replaces SAM's part of the snapshots; it goes out with the next publication.
    pub(crate) fn set_sam(&mut self, sam: Option<api::sam::SamSnapshot>) {
        if self.identity.sam != sam {
            self.identity.sam = sam;
            self.dirty = true;
        }
    }

    /// Replaces the running config's provenance and serial, and the pushed config
    /// waiting for its confirm; published at once.
    pub(crate) fn set_config(
        &mut self,
        speaker: &Speaker,
        provenance: String,
        serial: u64,
        trial: Option<api::config_push::ConfigTrial>,
    ) {
        self.identity.config = provenance;
        self.identity.config_serial = serial;
        let now = Instant::now();
        self.trial = trial.map(|t| {
            let deadline = now + Duration::from_secs(t.reverts_in_secs);
            (t, deadline)
        });
        self.publish(speaker);
    }

    /// Builds and publishes a snapshot now.
    pub(crate) fn publish(&mut self, speaker: &Speaker) {
        let now = Instant::now();
        let snapshot = Snapshot {
            uptime_secs: now.duration_since(self.started).as_secs(),
            loc_rib_routes: speaker.loc_rib_len() as u64,
            peers: speaker.peers().into_iter().map(peer_snapshot).collect(),
            refused_connections: speaker
                .refusals()
                .into_iter()
                .map(|(reason, count)| RejectCount { reason, count })
                .collect(),
            config_trial: self
                .trial
                .as_ref()
                .map(|(t, deadline)| api::config_push::ConfigTrial {
                    reverts_in_secs: deadline.saturating_duration_since(now).as_secs(),
                    ..t.clone()
                }),
            taken_at: Some(now),
            ..self.identity.clone()
        };
        self.tx.send_replace(Arc::new(snapshot));
        self.last = now;
        self.dirty = false;
        self.peer_event_pending = false;
    }
}

fn peer_snapshot(p: PeerStatus) -> PeerSnapshot {
    PeerSnapshot {
        address: p.address,
        remote_as: p.remote_as,
        state: p.state,
        dynamic: p.dynamic,
        uptime_secs: p.uptime_secs,
        received: p.received,
        accepted: p.accepted,
        rejected: p
            .rejected
            .into_iter()
            .map(|(reason, count)| RejectCount { reason, count })
            .collect(),
        advertised: p.advertised,
        last_error: p.last_error,
    }
}
