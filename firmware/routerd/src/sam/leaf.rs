//! The leaf side: the [`sam::Leaf`] state machine driven by the daemon loop, BGP sessions
//! and tunnels toward every RR of the verified RR set, and the leaf's FIB rule.
//!
//! Call order: [`LeafRuntime::start`] (load the stored state; a stored RR set is applied
//! at once, fail-static), then per wake-up [`LeafRuntime::on_timer`] or
//! [`LeafRuntime::on_reply`]; the core calls [`LeafRuntime::on_peer_state`] for session
//! changes and routes every FIB change through [`LeafRuntime::map_fib`].
//!
//! FIB rule: a route learned from the RRs is installed with the RR tunnel addresses of
//! the Established sessions as next hops (ECMP; all RRs of the set when none is up, so
//! traffic keeps its path while sessions come back); never the leaf's own /32s, and
//! never a prefix covering its own or the RRs' tunnel addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp::policy::Policy;
use bgp::speaker::{FibChange, Input, PeerConfig, PeerKind};
use ipnet::{IpNet, Ipv4Net};
use sam::{Leaf, LeafOutput, RrSet};
use tokio::sync::mpsc;

use super::Wake;
use super::settings::{SamSettings, is_protected};
use super::store::{self, LEAF_FILE};
use crate::transport::{TransportHandle, TunnelPeer, device_name};

/// Time between connection attempts to an RR.
const CONNECT_RETRY: Duration = Duration::from_secs(5);
/// With an RR set but no session up for this long, the leaf enrolls again at once (an
/// RR that lost its registry has no tunnel for it).
const SESSIONS_DOWN_RENEWAL_SECS: u64 = 60;

/// The leaf's SAM state.
pub(crate) struct LeafRuntime {
    leaf: Leaf,
    /// The enrollment state file (RR set, claim digest), retried while unwritable.
    state: store::StateFile,
    wakes: mpsc::UnboundedSender<Wake>,
    settings: SamSettings,
    /// RRs of the applied set, by tunnel address.
    rrs: BTreeMap<Ipv4Addr, sam::RrNode>,
    /// RR sessions in Established.
    up: BTreeSet<Ipv4Addr>,
    /// Prefixes installed through the RRs.
    installed: BTreeSet<IpNet>,
    owned: Vec<Ipv4Net>,
    subject: sam::ClaimSubject,
    last_error: Option<String>,
    /// Unix second since which no RR session is up (with an RR set).
    down_since: Option<u64>,
    /// A renewal was already asked for in this down period.
    renewal_asked: bool,
}

impl LeafRuntime {
    /// Loads the stored enrollment state from `state_dir`.
    pub(crate) fn start(
        settings: SamSettings,
        config: sam::LeafConfig,
        state_dir: &std::path::Path,
        wakes: mpsc::UnboundedSender<Wake>,
    ) -> Result<LeafRuntime, String> {
        let path = state_dir.join(LEAF_FILE);
        let stored =
            store::read_state(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let owned = config.subject.owned.clone();
        let subject = config.subject.clone();
        let leaf = Leaf::new(config, stored.as_deref()).map_err(|e| e.to_string())?;
        tracing::info!(restore = ?leaf.restore_outcome(), "leaf enrollment state loaded");
        Ok(LeafRuntime {
            leaf,
            state: store::StateFile::new(path, "enrollment state"),
            wakes,
            settings,
            rrs: BTreeMap::new(),
            up: BTreeSet::new(),
            installed: BTreeSet::new(),
            owned,
            subject,
            last_error: None,
            down_since: None,
            renewal_asked: false,
        })
    }

    /// Acts on everything the state machine asks for.
    pub(crate) fn drive(
        &mut self,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
        fib: &mut Vec<FibChange>,
    ) {
        while let Some(output) = self.leaf.poll_output() {
            match output {
                LeafOutput::Transmit { to, request } => {
                    tracing::debug!(%to, "enrollment request sent");
                    let wakes = self.wakes.clone();
                    tokio::spawn(async move {
                        let body = super::http::post_enroll(to, request).await;
                        let _ = wakes.send(Wake::Reply { body });
                    });
                }
                LeafOutput::Store { state } => {
                    self.state.save(state);
                }
                LeafOutput::Apply { rr_set } => self.apply(&rr_set, transport, inputs, fib),
            }
        }
    }

    /// The state machine's timer.
    pub(crate) fn on_timer(&mut self) {
        let now = store::unix_now();
        if let Some(since) = self.down_since
            && !self.renewal_asked
            && now >= since + SESSIONS_DOWN_RENEWAL_SECS
        {
            tracing::warn!(
                down_secs = now - since,
                "no session to any RR; enrolling again"
            );
            self.leaf.request_renewal(now);
            self.renewal_asked = true;
        }
        match store::nonce_entropy() {
            Ok(entropy) => self.leaf.handle_timeout(now, entropy),
            Err(error) => {
                tracing::error!(%error, "no randomness for a claim nonce; enrollment waits")
            }
        }
    }

    /// The reply to the request in flight (`None`: none arrived).
    pub(crate) fn on_reply(&mut self, body: Option<Vec<u8>>) {
        let now = store::unix_now();
        match body {
            Some(body) => match self.leaf.handle_response(now, &body) {
                Ok(()) => {
                    tracing::info!(expires_at = ?self.leaf.expires_at(), "enrolled");
                    self.last_error = None;
                }
                Err(error) => {
                    tracing::warn!(%error, "enrollment failed");
                    self.last_error = Some(error.to_string());
                }
            },
            None => {
                self.leaf.handle_failure(now);
                self.last_error = Some("no reply from the RR enrollment endpoint".into());
            }
        }
    }

    /// The enrollment state file (its pending write and last error).
    pub(crate) fn state(&mut self) -> &mut store::StateFile {
        &mut self.state
    }

    /// The last failed write of the enrollment state, until a write succeeds.
    pub(crate) fn state_error(&self) -> Option<&str> {
        self.state.error()
    }

    /// Unix second of the next timer.
    pub(crate) fn deadline(&self) -> Option<u64> {
        let renewal = self
            .down_since
            .filter(|_| !self.renewal_asked)
            .map(|since| since + SESSIONS_DOWN_RENEWAL_SECS);
        match (self.leaf.poll_timeout(), renewal) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn track_sessions(&mut self) {
        if self.rrs.is_empty() || !self.up.is_empty() {
            self.down_since = None;
            self.renewal_asked = false;
        } else if self.down_since.is_none() {
            self.down_since = Some(store::unix_now());
        }
    }

    fn apply(
        &mut self,
        rr_set: &RrSet,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
        fib: &mut Vec<FibChange>,
    ) {
        let own = self.settings.transport.tunnel_address;
        let new: BTreeMap<Ipv4Addr, sam::RrNode> = rr_set
            .route_reflectors
            .iter()
            .filter(|r| r.tunnel_address != own)
            .map(|r| (r.tunnel_address, r.clone()))
            .collect();
        for addr in self.rrs.keys().filter(|a| !new.contains_key(a)) {
            inputs.push(Input::RemovePeer(IpAddr::V4(*addr)));
            self.up.remove(addr);
        }
        for (addr, node) in &new {
            if self.rrs.get(addr) == Some(node) {
                continue;
            }
            inputs.push(Input::AddPeer(PeerConfig {
                remote: IpAddr::V4(*addr),
                port: self.settings.bgp_port,
                remote_as: Some(rr_set.asn),
                local: Some(IpAddr::V4(own)),
                kind: if rr_set.asn == self.settings.local_as {
                    PeerKind::Internal
                } else {
                    PeerKind::External
                },
                rr_client: false,
                passive: false,
                hold_time: self.settings.hold_time,
                connect_retry: CONNECT_RETRY,
                next_hop_self: false,
                import: Policy::accept_all(),
                export: Policy::accept_all(),
                max_prefix: None,
            }));
        }
        let wireguard = self.settings.transport.wireguard.as_ref();
        let tunnels = new
            .values()
            .map(|rr| TunnelPeer {
                device: device_name(&format!("rr/{}", rr.router_id)),
                label: rr.router_id.to_string(),
                peer_tunnel: rr.tunnel_address,
                public_key: rr.wireguard_key.map(|k| k.0),
                peer_wireguard: rr.wireguard_address,
                endpoint: wireguard.map(|_| SocketAddr::V4(rr.underlay_endpoint)),
                keepalive: wireguard.and_then(|w| w.keepalive),
                underlay: Some(*rr.underlay_endpoint.ip()),
            })
            .collect();
        transport.set_tunnels(tunnels);
        tracing::info!(rrs = ?new.keys().collect::<Vec<_>>(), "RR set applied");
        self.rrs = new;
        self.track_sessions();
        self.reinstall(fib);
    }

    /// An RR session changed state.
    pub(crate) fn on_peer_state(
        &mut self,
        peer: IpAddr,
        established: bool,
        fib: &mut Vec<FibChange>,
    ) {
        let IpAddr::V4(addr) = peer else { return };
        if !self.rrs.contains_key(&addr) {
            return;
        }
        let changed = if established {
            self.up.insert(addr)
        } else {
            self.up.remove(&addr)
        };
        if changed {
            self.track_sessions();
            self.reinstall(fib);
        }
    }

    fn next_hops(&self) -> Vec<IpAddr> {
        let hops: Vec<IpAddr> = self.up.iter().map(|a| IpAddr::V4(*a)).collect();
        if hops.is_empty() {
            self.rrs.keys().map(|a| IpAddr::V4(*a)).collect()
        } else {
            hops
        }
    }

    fn reinstall(&self, fib: &mut Vec<FibChange>) {
        let next_hops = self.next_hops();
        for prefix in &self.installed {
            fib.push(FibChange::Replace {
                prefix: *prefix,
                next_hops: next_hops.clone(),
            });
        }
    }

    fn protected(&self, prefix: &IpNet) -> bool {
        let IpNet::V4(v4) = prefix else { return true };
        let mut addresses: Vec<Ipv4Addr> = self.rrs.keys().copied().collect();
        addresses.extend(self.rrs.values().filter_map(|rr| rr.wireguard_address));
        addresses.push(self.settings.transport.tunnel_address);
        if let Some(w) = &self.settings.transport.wireguard {
            addresses.push(w.address);
        }
        is_protected(*v4, &addresses, &self.owned)
    }

    /// The leaf's form of a speaker FIB change (see the module contract).
    pub(crate) fn map_fib(&mut self, change: FibChange, fib: &mut Vec<FibChange>) {
        match change {
            FibChange::Replace { prefix, .. } => {
                if self.protected(&prefix) {
                    tracing::debug!(%prefix, "route not installed: own or tunnel address");
                    return;
                }
                self.installed.insert(prefix);
                fib.push(FibChange::Replace {
                    prefix,
                    next_hops: self.next_hops(),
                });
            }
            FibChange::Withdraw { prefix } => {
                if self.installed.remove(&prefix) {
                    fib.push(FibChange::Withdraw { prefix });
                }
            }
        }
    }

    /// The state machine, for status.
    pub(crate) fn leaf(&self) -> &Leaf {
        &self.leaf
    }

    /// The last enrollment error, for status.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether the session to the RR at `tunnel_address` is Established.
    pub(crate) fn is_up(&self, tunnel_address: Ipv4Addr) -> bool {
        self.up.contains(&tunnel_address)
    }

    /// What the leaf claims.
    pub(crate) fn subject(&self) -> &sam::ClaimSubject {
        &self.subject
    }
}

#[cfg(test)]
#[path = "leaf_tests.rs"]
mod tests;
