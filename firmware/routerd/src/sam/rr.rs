//! The RR side: the enrollment listener's requests go through the [`sam::Registry`],
//! which is persisted after every change; every accepted claim gets a tunnel and an
//! import policy for its session (see [`super::import_policy`]).
//!
//! Call order: [`RrRuntime::start`] (load the registry, expire, bind the listener), then
//! [`RrRuntime::reconcile`] once the speaker has its ranges, then per wake-up
//! [`RrRuntime::on_call`] / [`RrRuntime::on_timer`], and per operator command
//! [`RrRuntime::revoke`] / [`RrRuntime::reinstate`] (a revoked leaf loses its claim,
//! tunnel and BGP session at once and is refused `revoked-leaf` until reinstated). Invariant: the file on disk holds
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
    /// Revoked leaves as the registry file lists them, refreshed at every write.
    revoked: Vec<api::revocation::LeafRef>,
    /// Operator revocations since start.
    revocations: u64,
    /// The marker of a running RR in the state directory (see [`RUNNING_MARKER`]).
    running_marker: PathBuf,
    /// Session addresses of the claims accepted before a restart that did not follow a
    /// clean stop: the leaves the speaker waits for before it exports (taken once).
    expected_back: Vec<IpAddr>,
}

/// File in the state directory that exists while an RR runs: found at start, it means
/// the previous run ended without a clean stop (killed, crashed, power lost), so the
/// leaves are keeping its routes stale and it restarts gracefully (RFC 4724 §4.1). A
/// clean stop removes it (the leaves got Cease/Hard Reset and dropped its routes).
const RUNNING_MARKER: &str = "rr-running";

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
    /// starts empty) and expires what ran out while it was down. When the previous run
    /// did not stop cleanly ([`RUNNING_MARKER`]), the session addresses of the claims
    /// left are kept for [`Self::take_expected_back`].
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
        let running_marker = state_dir.join(RUNNING_MARKER);
        let unclean = running_marker.exists();
        let expected_back = match unclean {
            true => registry
                .accepted_claims()
                .map(|(_, c)| IpAddr::V4(c.subject().tunnel_address))
                .collect(),
            false => Vec::new(),
        };
        let mut rr = RrRuntime {
            registry,
            state: store::StateFile::new(path, "enrollment registry"),
            generation: 0,
            policied: BTreeMap::new(),
            ranges,
            wireguard,
            revoked: Vec::new(),
            revocations: 0,
            running_marker,
            expected_back,
        };
        rr.generation = rr.registry.generation();
        rr.persist();
        // After the registry write, which makes the state directory.
        if let Err(error) = std::fs::write(&rr.running_marker, b"") {
            tracing::warn!(%error, path = %rr.running_marker.display(), "cannot mark the RR as running: a crash restart will not be graceful");
        }
        Ok(rr)
    }

    /// The session addresses of the leaves to wait for before exporting, when this start
    /// follows a run that did not stop cleanly (empty otherwise, and after the first call).
    pub(crate) fn take_expected_back(&mut self) -> Vec<IpAddr> {
        std::mem::take(&mut self.expected_back)
    }

    /// A clean stop: the next start is not a graceful restart.
    pub(crate) fn stopped(&self) {
        if let Err(error) = std::fs::remove_file(&self.running_marker) {
            tracing::warn!(%error, path = %self.running_marker.display(), "cannot remove the running marker");
        }
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
        let bytes = self.registry.to_bytes();
        self.revoked = revoked_in(&bytes);
        self.state.save(bytes);
    }

    /// Revokes `leaf` (operator command): drops its claim, persists the registry, removes
    /// its tunnel and tears its BGP session down, so its /32s are withdrawn from every
    /// other leaf in this drain. Its enrollments are refused until [`Self::reinstate`].
    pub(crate) fn revoke(
        &mut self,
        leaf: &api::revocation::LeafRef,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
    ) -> Result<api::revocation::Revoked, api::revocation::EnrollmentRefused> {
        let (policy, leaf_id) = self.names(leaf)?;
        let session = self
            .registry
            .accepted_claims()
            .find(|(p, c)| **p == policy && c.subject().leaf_id == leaf_id)
            .map(|(_, c)| c.subject().tunnel_address);
        let claim_dropped = self
            .registry
            .revoke_leaf(&policy, &leaf_id)
            .map_err(|_| unknown_policy(&leaf.policy))?;
        self.revocations += 1;
        tracing::warn!(%policy, leaf = %leaf_id, claim_dropped, "leaf revoked by the operator");
        self.after_change(transport, inputs);
        if let Some(addr) = session {
            inputs.push(Input::RemovePeer(IpAddr::V4(addr)));
        }
        Ok(api::revocation::Revoked {
            revoked: true,
            claim_dropped,
        })
    }

    /// Revokes one accepted request by digest (operator command), for good. When it is a
    /// leaf's current claim, the claim goes with its tunnel and BGP session as in
    /// [`Self::revoke`]; the leaf may enroll again with a fresh claim, while a replay of
    /// this one is refused `revoked-claim`.
    pub(crate) fn revoke_claim(
        &mut self,
        claim: &api::revocation::ClaimRef,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
    ) -> Result<api::revocation::ClaimRevoked, api::revocation::EnrollmentRefused> {
        let digest = claim.bytes().map(sam::ClaimDigest).map_err(|error| {
            api::revocation::EnrollmentRefused {
                status: 400,
                error,
                hint: "copy the digest from GET /v1/enrollment".into(),
            }
        })?;
        let current = self
            .registry
            .accepted_claims()
            .find(|(_, c)| c.digest == digest)
            .map(|(p, c)| {
                (
                    p.to_string(),
                    c.subject().leaf_id.to_string(),
                    c.subject().tunnel_address,
                )
            });
        self.registry.revoke_claim(digest);
        self.revocations += 1;
        tracing::warn!(%digest, leaf = ?current.as_ref().map(|c| &c.1), "claim revoked by the operator");
        self.after_change(transport, inputs);
        if let Some((_, _, addr)) = &current {
            inputs.push(Input::RemovePeer(IpAddr::V4(*addr)));
        }
        Ok(api::revocation::ClaimRevoked {
            revoked: true,
            claim_dropped_for: current
                .map(|(policy, leaf_id, _)| api::revocation::LeafRef { policy, leaf_id }),
        })
    }

    /// Lifts a revocation (operator command); the leaf enrolls on its next attempt.
    pub(crate) fn reinstate(
        &mut self,
        leaf: &api::revocation::LeafRef,
        transport: &TransportHandle,
        inputs: &mut Vec<Input<'static>>,
    ) -> Result<api::revocation::Reinstated, api::revocation::EnrollmentRefused> {
        let (policy, leaf_id) = self.names(leaf)?;
        let was_revoked = self
            .registry
            .reinstate_leaf(&policy, &leaf_id)
            .map_err(|_| unknown_policy(&leaf.policy))?;
        tracing::info!(%policy, leaf = %leaf_id, was_revoked, "leaf reinstated by the operator");
        self.after_change(transport, inputs);
        Ok(api::revocation::Reinstated {
            reinstated: true,
            was_revoked,
        })
    }

    /// The policy and leaf id of an operator command, checked.
    fn names(
        &self,
        leaf: &api::revocation::LeafRef,
    ) -> Result<(sam::PolicyName, sam::LeafId), api::revocation::EnrollmentRefused> {
        let bad = |field: &str, error: String| api::revocation::EnrollmentRefused {
            status: 400,
            error: format!("`{field}` is not a valid name: {error}"),
            hint: "use the name exactly as the leaf's config spells it".into(),
        };
        let policy =
            sam::PolicyName::new(&leaf.policy).map_err(|e| bad("policy", e.to_string()))?;
        let leaf_id = sam::LeafId::new(&leaf.leaf_id).map_err(|e| bad("leaf_id", e.to_string()))?;
        if self.registry.policy(&policy).is_none() {
            return Err(unknown_policy(&leaf.policy));
        }
        Ok((policy, leaf_id))
    }

    /// Revoked leaves, by policy and leaf id.
    pub(crate) fn revoked(&self) -> &[api::revocation::LeafRef] {
        &self.revoked
    }

    /// Operator revocations since start.
    pub(crate) fn revocations(&self) -> u64 {
        self.revocations
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
                peer_wireguard: subject.wireguard_address,
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

fn unknown_policy(policy: &str) -> api::revocation::EnrollmentRefused {
    api::revocation::EnrollmentRefused {
        status: 404,
        error: format!("no enrollment policy `{policy}` on this route reflector"),
        hint: "GET /v1/enrollment lists the policies of the accepted claims".into(),
    }
}

/// The revoked leaves listed in registry file bytes (empty when the file has none).
fn revoked_in(bytes: &[u8]) -> Vec<api::revocation::LeafRef> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|mut file| {
            let listed = file.get_mut("revoked_leaves")?.take();
            serde_json::from_value(listed).ok()
        })
        .unwrap_or_default()
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

#[cfg(test)]
#[path = "rr_tests.rs"]
mod tests;
