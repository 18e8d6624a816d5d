//! The RR's registry of accepted claims: enrollment, expiry, revocation and the lookups
//! route admission needs.
//!
//! Call order for the daemon: build with [`Registry::new`] (or [`Registry::from_bytes`]
//! after a restart); feed every `POST /v1/enroll` body to [`Registry::handle_http`] (or a
//! parsed request to [`Registry::enroll`]); call [`Registry::expire`] at
//! [`Registry::next_deadline`]; persist [`Registry::to_bytes`] atomically whenever
//! [`Registry::generation`] changed, before relying on the change. Route admission reads
//! [`Registry::admit`] and [`Registry::owned_routes_by_session`].
//!
//! Invariants: across all policies, no two accepted claims share a leaf id, tunnel
//! address, WireGuard key, router id or owned /32, and none uses an RR's tunnel address,
//! router id or WireGuard key; every accepted claim satisfies its policy; a nonce that
//! verified under a policy is refused again until its record is forgotten, which happens
//! only after the nonce's timestamp has left the skew window and, for an accepted claim,
//! the claim has expired; a leaf's claim is only ever replaced by a claim with the same
//! or a later timestamp.

mod http;
mod persist;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::admission::{Admission, admit_route};
use crate::answer::{ANSWER_VERSION, Answer, RrNode, SignedAnswer};
use crate::claim::{ClaimDigest, ClaimSubject, EnrollRequest, Nonce, WireGuardKey};
use crate::limiter::AttemptLimiter;
use crate::names::{LeafId, PolicyName};
use crate::policy::{Policy, PolicyError};
use crate::refusal::{LogLimiter, Refusal, RefusalCounters};
use crate::token::JoinToken;

pub use http::{HttpReply, Outcome};
pub use persist::{REGISTRY_FORMAT, REGISTRY_VERSION, RestoreError, RestoreReport};

/// A claim the registry accepted, with the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedClaim {
    /// The verified request (claim and MAC).
    pub request: EnrollRequest,
    /// Digest of the request.
    pub digest: ClaimDigest,
    /// RR clock at acceptance, unix seconds.
    pub accepted_at: u64,
    /// RR clock when the claim expires unless renewed, unix seconds.
    pub expires_at: u64,
}

impl AcceptedClaim {
    /// What the claim authorizes.
    pub fn subject(&self) -> &ClaimSubject {
        &self.request.claim.subject
    }
}

#[derive(Debug, Clone)]
struct PolicyState {
    policy: Policy,
    claims: BTreeMap<LeafId, AcceptedClaim>,
    /// Nonce → RR time after which the record may be forgotten.
    nonces: BTreeMap<Nonce, u64>,
    revoked_leaves: BTreeSet<LeafId>,
}

/// A policy name that the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no enrollment policy named {0}")]
pub struct UnknownPolicy(pub PolicyName);

/// The RR's enrollment state.
#[derive(Debug, Clone)]
pub struct Registry {
    policies: Vec<PolicyState>,
    revoked_digests: BTreeSet<ClaimDigest>,
    by_tunnel: HashMap<Ipv4Addr, (usize, LeafId)>,
    limiter: AttemptLimiter,
    counters: RefusalCounters,
    log_limiter: LogLimiter,
    generation: u64,
}

impl Registry {
    /// An empty registry for `policies`, with default attempt and log limits.
    pub fn new(policies: Vec<Policy>) -> Result<Self, PolicyError> {
        let mut states: Vec<PolicyState> = Vec::with_capacity(policies.len());
        for policy in policies {
            policy.validate()?;
            if states.iter().any(|s| s.policy.name == policy.name) {
                return Err(PolicyError::DuplicateName(policy.name));
            }
            states.push(PolicyState {
                policy,
                claims: BTreeMap::new(),
                nonces: BTreeMap::new(),
                revoked_leaves: BTreeSet::new(),
            });
        }
        Ok(Self {
            policies: states,
            revoked_digests: BTreeSet::new(),
            by_tunnel: HashMap::new(),
            limiter: AttemptLimiter::default(),
            counters: RefusalCounters::default(),
            log_limiter: LogLimiter::default(),
            generation: 0,
        })
    }

    /// Replaces the per-source attempt limiter and the log limiter.
    pub fn with_limits(mut self, limiter: AttemptLimiter, log_limiter: LogLimiter) -> Self {
        self.limiter = limiter;
        self.log_limiter = log_limiter;
        self
    }

    /// Checks `request` at RR time `now` and, if it passes, records the claim (replacing
    /// the same leaf's earlier claim) and returns the signed answer. Every refusal is
    /// counted. The nonce of a request whose MAC verifies is recorded even when a later
    /// check refuses it.
    pub fn enroll(&mut self, now: u64, request: &EnrollRequest) -> Result<SignedAnswer, Refusal> {
        self.enroll_counted(now, request)
            .map(|(signed, _renewal)| signed)
    }

    /// [`Registry::enroll`], also telling whether the claim replaced the leaf's own.
    pub(crate) fn enroll_counted(
        &mut self,
        now: u64,
        request: &EnrollRequest,
    ) -> Result<(SignedAnswer, bool), Refusal> {
        let result = self.try_enroll(now, request);
        if let Err(refusal) = result {
            self.counters.count(refusal);
        }
        result
    }

    fn try_enroll(
        &mut self,
        now: u64,
        request: &EnrollRequest,
    ) -> Result<(SignedAnswer, bool), Refusal> {
        let claim = &request.claim;
        let subject = &claim.subject;
        let index = self
            .policy_index(&subject.policy)
            .ok_or(Refusal::UnknownPolicy)?;
        let canonical = claim.canonical_bytes().map_err(|_| Refusal::Malformed)?;
        let policy = &self.policies[index].policy;
        let token: JoinToken = policy
            .join_tokens
            .iter()
            .find(|token| token.verify(&[&canonical], &request.mac))
            .cloned()
            .ok_or(Refusal::BadMac)?;
        let digest = request.digest().map_err(|_| Refusal::Malformed)?;
        if self.policies[index]
            .revoked_leaves
            .contains(&subject.leaf_id)
        {
            return Err(Refusal::RevokedLeaf);
        }
        if self.revoked_digests.contains(&digest) {
            return Err(Refusal::RevokedClaim);
        }
        let skew = policy.max_clock_skew_secs;
        let ttl = policy.claim_ttl_secs;
        if claim.timestamp.abs_diff(now) > skew {
            return Err(Refusal::ClockSkew);
        }
        self.expire(now);
        let state = &mut self.policies[index];
        if state.nonces.contains_key(&claim.nonce) {
            return Err(Refusal::ReplayedNonce);
        }
        // Until the timestamp leaves the skew window the record alone refuses a replay;
        // an accepted claim extends it to the claim's expiry below.
        let out_of_window = claim.timestamp.saturating_add(skew).saturating_add(1);
        state.nonces.insert(claim.nonce, out_of_window);
        self.generation += 1;
        let current = state.claims.get(&subject.leaf_id);
        if current.is_some_and(|c| claim.timestamp < c.request.claim.timestamp) {
            return Err(Refusal::OlderThanCurrent);
        }
        let expires_at = now.saturating_add(ttl);
        let policy = &self.policies[index].policy;
        policy.check_subject(subject)?;
        self.check_unique(index, subject)?;
        let state = &self.policies[index];
        let renewal = state.claims.contains_key(&subject.leaf_id);
        if !renewal && state.claims.len() >= state.policy.max_leaves {
            return Err(Refusal::TooManyLeaves);
        }
        let answer = Answer {
            version: ANSWER_VERSION,
            leaf_id: subject.leaf_id.clone(),
            policy: subject.policy.clone(),
            claim_digest: digest,
            rr_set: state.policy.rr_set.clone(),
            issued_at: now,
            expires_at,
        };
        // The policy validated its RR set and expires_at > now (ttl >= 60): signing succeeds.
        let signed = answer
            .sign(&token, &claim.nonce)
            .map_err(|_| Refusal::Malformed)?;
        let accepted = AcceptedClaim {
            request: request.clone(),
            digest,
            accepted_at: now,
            expires_at,
        };
        let state = &mut self.policies[index];
        let replaced = state.claims.insert(subject.leaf_id.clone(), accepted);
        state
            .nonces
            .insert(claim.nonce, out_of_window.max(expires_at));
        if let Some(replaced) = replaced {
            self.by_tunnel.remove(&replaced.subject().tunnel_address);
        }
        let key = (index, subject.leaf_id.clone());
        self.by_tunnel.insert(subject.tunnel_address, key);
        Ok((signed, renewal))
    }

    /// Refuses a subject that collides with another leaf or with an RR.
    fn check_unique(&self, index: usize, subject: &ClaimSubject) -> Result<(), Refusal> {
        let mine = Identity::of_leaf(subject);
        for (i, state) in self.policies.iter().enumerate() {
            for rr in &state.policy.rr_set.route_reflectors {
                Identity::of_rr(rr).check(&mine)?;
            }
            for (leaf_id, other) in &state.claims {
                if i == index && *leaf_id == subject.leaf_id {
                    continue; // the leaf's own earlier claim is being replaced
                }
                if *leaf_id == subject.leaf_id {
                    return Err(Refusal::LeafIdInUse);
                }
                let other = other.subject();
                Identity::of_leaf(other).check(&mine)?;
                if subject
                    .owned
                    .iter()
                    .any(|net| other.owned.binary_search(net).is_ok())
                {
                    return Err(Refusal::OwnedRouteInUse);
                }
            }
        }
        Ok(())
    }

    fn reindex(&mut self) {
        self.by_tunnel.clear();
        for (i, state) in self.policies.iter().enumerate() {
            for (leaf_id, claim) in &state.claims {
                self.by_tunnel
                    .insert(claim.subject().tunnel_address, (i, leaf_id.clone()));
            }
        }
    }

    /// Drops claims whose expiry has passed and nonce records that may be forgotten;
    /// returns the dropped claims' (policy, leaf id) pairs.
    pub fn expire(&mut self, now: u64) -> Vec<(PolicyName, LeafId)> {
        let mut dropped = Vec::new();
        let mut changed = false;
        for state in &mut self.policies {
            let before = state.nonces.len();
            state.nonces.retain(|_, forget_after| *forget_after > now);
            changed |= state.nonces.len() != before;
            state.claims.retain(|leaf_id, claim| {
                let keep = claim.expires_at > now;
                if !keep {
                    dropped.push((state.policy.name.clone(), leaf_id.clone()));
                }
                keep
            });
        }
        if changed || !dropped.is_empty() {
            self.generation += 1;
        }
        if !dropped.is_empty() {
            self.reindex();
        }
        dropped
    }

    /// The next RR time at which [`Registry::expire`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.policies
            .iter()
            .flat_map(|s| {
                s.claims
                    .values()
                    .map(|c| c.expires_at)
                    .chain(s.nonces.values().copied())
            })
            .min()
    }

    /// Revokes `leaf_id` under `policy`: drops its claim and refuses it until reinstated.
    /// Returns whether a claim was dropped.
    pub fn revoke_leaf(
        &mut self,
        policy: &PolicyName,
        leaf_id: &LeafId,
    ) -> Result<bool, UnknownPolicy> {
        let index = self
            .policy_index(policy)
            .ok_or_else(|| UnknownPolicy(policy.clone()))?;
        let state = &mut self.policies[index];
        state.revoked_leaves.insert(leaf_id.clone());
        let dropped = state.claims.remove(leaf_id).is_some();
        self.generation += 1;
        self.reindex();
        Ok(dropped)
    }

    /// Lifts a leaf revocation; returns whether the leaf was revoked.
    pub fn reinstate_leaf(
        &mut self,
        policy: &PolicyName,
        leaf_id: &LeafId,
    ) -> Result<bool, UnknownPolicy> {
        let index = self
            .policy_index(policy)
            .ok_or_else(|| UnknownPolicy(policy.clone()))?;
        let removed = self.policies[index].revoked_leaves.remove(leaf_id);
        self.generation += 1;
        Ok(removed)
    }

    /// Revokes one request by digest (permanently) and drops the claim it carried if that
    /// claim is still current. Returns whether a claim was dropped.
    pub fn revoke_claim(&mut self, digest: ClaimDigest) -> bool {
        self.revoked_digests.insert(digest);
        let mut dropped = false;
        for state in &mut self.policies {
            let before = state.claims.len();
            state.claims.retain(|_, claim| claim.digest != digest);
            dropped |= state.claims.len() != before;
        }
        self.generation += 1;
        self.reindex();
        dropped
    }

    /// The accepted claim whose tunnel address is `addr`: the claim behind a BGP session
    /// from that address.
    pub fn claim_for_tunnel_address(&self, addr: Ipv4Addr) -> Option<&AcceptedClaim> {
        let (index, leaf_id) = self.by_tunnel.get(&addr)?;
        self.policies.get(*index)?.claims.get(leaf_id)
    }

    /// Route admission for a route `prefix` received on the session from `session`
    /// (see [`crate::admission`]).
    pub fn admit(&self, session: Ipv4Addr, prefix: Ipv4Net) -> Admission {
        match self.by_tunnel.get(&session) {
            Some((index, leaf_id)) => {
                let state = &self.policies[*index];
                let claim = state.claims.get(leaf_id).map(|c| c.subject());
                admit_route(claim, &state.policy.client_pools, prefix)
            }
            None => admit_route(None, &[], prefix),
        }
    }

    /// For every accepted claim: its tunnel address and the /32s it owns. The daemon turns
    /// this into per-peer BGP import policy.
    pub fn owned_routes_by_session(&self) -> BTreeMap<Ipv4Addr, &[Ipv4Net]> {
        self.accepted_claims()
            .map(|(_, claim)| {
                (
                    claim.subject().tunnel_address,
                    claim.subject().owned.as_slice(),
                )
            })
            .collect()
    }

    /// Every accepted claim with its policy name.
    pub fn accepted_claims(&self) -> impl Iterator<Item = (&PolicyName, &AcceptedClaim)> {
        self.policies
            .iter()
            .flat_map(|s| s.claims.values().map(move |c| (&s.policy.name, c)))
    }

    /// The policy called `name`.
    pub fn policy(&self, name: &PolicyName) -> Option<&Policy> {
        self.policy_state(name).map(|s| &s.policy)
    }

    /// Refusals counted per reason.
    pub fn counters(&self) -> &RefusalCounters {
        &self.counters
    }

    /// A number that changes whenever the persistent state changes (claims, nonce
    /// records, revocations): persist [`Registry::to_bytes`] when it differs from the
    /// value at the last write.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether `leaf_id` is revoked under `policy`.
    pub fn is_revoked(&self, policy: &PolicyName, leaf_id: &LeafId) -> bool {
        self.policy_state(policy)
            .is_some_and(|s| s.revoked_leaves.contains(leaf_id))
    }

    fn policy_index(&self, name: &PolicyName) -> Option<usize> {
        self.policies.iter().position(|s| s.policy.name == *name)
    }

    fn policy_state(&self, name: &PolicyName) -> Option<&PolicyState> {
        self.policies.iter().find(|s| s.policy.name == *name)
    }
}

#[cfg(test)]
mod tests;

/// What a leaf or an RR holds that no other node of the registry may hold too.
struct Identity {
    tunnel_address: Ipv4Addr,
    router_id: Ipv4Addr,
    wireguard_key: Option<WireGuardKey>,
    wireguard_address: Option<Ipv4Addr>,
}

impl Identity {
    fn of_leaf(subject: &ClaimSubject) -> Identity {
        Identity {
            tunnel_address: subject.tunnel_address,
            router_id: subject.router_id,
            wireguard_key: subject.wireguard_key,
            wireguard_address: subject.wireguard_address,
        }
    }

    fn of_rr(rr: &RrNode) -> Identity {
        Identity {
            tunnel_address: rr.tunnel_address,
            router_id: rr.router_id,
            wireguard_key: rr.wireguard_key,
            wireguard_address: rr.wireguard_address,
        }
    }

    /// The refusal for `claimed` when it holds something this node holds (an absent
    /// WireGuard key or address collides with nothing).
    fn check(&self, claimed: &Identity) -> Result<(), Refusal> {
        if self.tunnel_address == claimed.tunnel_address {
            Err(Refusal::TunnelAddressInUse)
        } else if self.router_id == claimed.router_id {
            Err(Refusal::RouterIdInUse)
        } else if held_by_both(self.wireguard_key, claimed.wireguard_key) {
            Err(Refusal::WireGuardKeyInUse)
        } else if held_by_both(self.wireguard_address, claimed.wireguard_address) {
            Err(Refusal::WireGuardAddressInUse)
        } else {
            Ok(())
        }
    }
}

/// Whether both hold the same value (nothing held collides with nothing).
fn held_by_both<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    a.is_some() && a == b
}
