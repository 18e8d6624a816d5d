//! The RR side: the enrollment listener's requests go through the [`sam::Registry`],
//! which is persisted after every change; every accepted claim gets a tunnel and an
//! import policy for its session (see [`super::import_policy`]).
//!
//! Call order: [`RrRuntime::start`] (load the registry, expire, bind the listener), then
//! [`RrRuntime::reconcile`] once the speaker has its ranges, then per wake-up
//! [`RrRuntime::on_call`] / [`RrRuntime::on_timer`]. Invariant: the file on disk holds
//! the registry of the last reply sent (it is written before the reply) while the state
//! directory takes writes; when it does not (read-only, full), the RR answers from the
//! registry in memory and [`store::StateFile`] retries the write, with the error in the
//! status until it succeeds.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use bgp::policy::Policy;
use bgp::speaker::{DynamicRange, Input};
use ipnet::Ipv4Net;
use sam::{LogDecision, Outcome, Registry};

use super::http::{EnrollCall, EnrollReply};
use super::import_policy;
use super::store::{self, REGISTRY_FILE};
use crate::transport::{TransportHandle, TunnelPeer, device_name};

/// The RR's SAM state.
pub(crate) struct RrRuntime {
    registry: Registry,
    /// The registry file, retried while unwritable.
    state: store::StateFile,
    generation: u64,
    /// Import policy last sent per session address (owned /32s; `None` = unknown-session).
    policied: BTreeMap<Ipv4Addr, Option<Vec<Ipv4Net>>>,
    ranges: Vec<DynamicRange>,
    wireguard: bool,
}

/// The RR could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RrStartError {
    /// The policies are invalid.
    #[error("sam policies: {0}")]
    Policy(#[from] sam::policy::PolicyError),
    /// The registry file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl RrRuntime {
    /// Loads the registry from `state_dir` (a corrupt file is moved aside and the RR
    /// starts empty) and expires what ran out while it was down.
    pub(crate) fn start(
        policies: Vec<sam::Policy>,
        state_dir: &std::path::Path,
        ranges: Vec<DynamicRange>,
        wireguard: bool,
    ) -> Result<RrRuntime, RrStartError> {
        let path = state_dir.join(REGISTRY_FILE);
        let stored = store::read_state(&path).map_err(|source| RrStartError::Read {
            path: path.clone(),
            source,
        })?;
        let mut registry = match stored {
            None => Registry::new(policies)?,
            Some(bytes) => match Registry::from_bytes(policies.clone(), &bytes) {
                Ok((registry, report)) => {
                    for (policy, leaf, reason) in &report.dropped_claims {
                        tracing::warn!(%policy, %leaf, reason, "stored claim dropped at restore");
                    }
                    tracing::info!(
                        claims = registry.accepted_claims().count(),
                        "enrollment registry restored"
                    );
                    registry
                }
                Err(sam::registry::RestoreError::Policy(e)) => return Err(e.into()),
                Err(error) => {
                    let aside = path.with_extension("json.corrupt");
                    tracing::error!(%error, aside = %aside.display(), "registry file unusable; moved aside, starting empty");
                    let _ = std::fs::rename(&path, &aside);
                    Registry::new(policies)?
                }
            },
        };
        registry.expire(store::unix_now());
        let mut rr = RrRuntime {
            registry,
            state: store::StateFile::new(path, "enrollment registry"),
            generation: 0,
            policied: BTreeMap::new(),
            ranges,
            wireguard,
        };
        rr.generation = rr.registry.generation();
        rr.persist();
        Ok(rr)
    }

    /// Handles one `POST /v1/enroll`: registry, persistence, then the reply.
    pub(crate) fn on_call(
        &mut self,
        call: EnrollCall,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
    ) {
        let now = store::unix_now();
        let reply = self.registry.handle_http(now, call.source, &call.body);
        log_outcome(call.source, &reply.outcome);
        self.after_change(transport, inputs);
        let retry_after = (reply.status == 429)
            .then(|| serde_json::from_slice::<sam::RefusalBody>(&reply.body).ok())
            .flatten()
            .and_then(|b| b.retry_after_secs);
        let _ = call.reply.send(EnrollReply {
            status: reply.status,
            body: reply.body,
            retry_after,
        });
    }

    /// Expires claims and nonce records that ran out.
    pub(crate) fn on_timer(
        &mut self,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
    ) {
        for (policy, leaf) in self.registry.expire(store::unix_now()) {
            tracing::info!(%policy, %leaf, "claim expired");
        }
        self.after_change(transport, inputs);
    }

    /// The registry file (its pending write and last error).
    pub(crate) fn state(&mut self) -> &mut store::StateFile {
        &mut self.state
    }

    /// The last failed write of the registry, until a write succeeds.
    pub(crate) fn state_error(&self) -> Option<&str> {
        self.state.error()
    }

    /// Unix second of the next expiry.
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.registry.next_deadline()
    }

    /// A dynamic peer was admitted: without a claim, it gets the reject-all policy.
    pub(crate) fn on_admitted(&mut self, peer: IpAddr, inputs: &mut Vec<Input<'static>>) {
        let IpAddr::V4(v4) = peer else { return };
        if self.registry.claim_for_tunnel_address(v4).is_none() {
            self.policied.insert(v4, None);
            inputs.push(Input::SetImportPolicy {
                peer,
                policy: import_policy::unknown_session(),
            });
        }
    }

    fn after_change(&mut self, transport: &TransportHandle, inputs: &mut Vec<Input<'static>>) {
        if self.registry.generation() != self.generation {
            self.generation = self.registry.generation();
            self.persist();
            self.reconcile(transport, inputs);
        }
    }

    fn persist(&mut self) {
        self.state.save(self.registry.to_bytes());
    }

    /// Brings tunnels and import policies in line with the accepted claims.
    pub(crate) fn reconcile(
        &mut self,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
    ) {
        let mut tunnels = Vec::new();
        let mut wanted: BTreeMap<Ipv4Addr, Option<Vec<Ipv4Net>>> = BTreeMap::new();
        for (policy_name, claim) in self.registry.accepted_claims() {
            let subject = claim.subject();
            tunnels.push(TunnelPeer {
                device: device_name(&format!("{policy_name}/{}", subject.leaf_id)),
                label: subject.leaf_id.to_string(),
                peer_tunnel: subject.tunnel_address,
                public_key: subject.wireguard_key.map(|k| k.0),
                endpoint: if self.wireguard {
                    subject.underlay_endpoint.map(SocketAddr::V4)
                } else {
                    None
                },
                keepalive: None,
                underlay: subject.underlay_endpoint.map(|e| *e.ip()),
            });
            wanted.insert(subject.tunnel_address, Some(subject.owned.clone()));
        }
        for (addr, owned) in &wanted {
            if self.policied.get(addr) == Some(owned) {
                continue;
            }
            let owned = owned.as_deref().unwrap_or_default();
            let pools = self
                .registry
                .claim_for_tunnel_address(*addr)
                .and_then(|c| self.registry.policy(&c.subject().policy))
                .map(|p| p.client_pools.clone())
                .unwrap_or_default();
            let template = self.template_for(*addr);
            inputs.push(Input::SetImportPolicy {
                peer: IpAddr::V4(*addr),
                policy: import_policy::for_claim(&template, owned, &pools),
            });
        }
        for addr in self.policied.keys() {
            if !wanted.contains_key(addr) && self.policied.get(addr) != Some(&None) {
                inputs.push(Input::SetImportPolicy {
                    peer: IpAddr::V4(*addr),
                    policy: import_policy::unknown_session(),
                });
            }
        }
        for (addr, owned) in &wanted {
            self.policied.insert(*addr, owned.clone());
        }
        for (addr, state) in self.policied.iter_mut() {
            if !wanted.contains_key(addr) {
                *state = None;
            }
        }
        transport.set_tunnels(tunnels);
    }

    fn template_for(&self, addr: Ipv4Addr) -> Policy {
        self.ranges
            .iter()
            .find(|r| r.prefix.contains(&IpAddr::V4(addr)))
            .map(|r| r.template.import.clone())
            .unwrap_or_else(Policy::accept_all)
    }

    /// The registry, for status.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}

fn log_outcome(source: IpAddr, outcome: &Outcome) {
    match outcome {
        Outcome::Accepted {
            policy,
            leaf_id,
            digest,
            renewal,
        } => tracing::info!(%source, %policy, leaf = %leaf_id, %digest, renewal, "claim accepted"),
        Outcome::Refused {
            refusal,
            log: LogDecision::Log { suppressed },
            detail,
        } => {
            tracing::warn!(%source, reason = refusal.reason(), suppressed, detail = detail.as_deref().unwrap_or(""), "enrollment refused")
        }
        Outcome::Refused { .. } => {}
    }
}
