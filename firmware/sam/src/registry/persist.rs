//! The registry's persistent form: versioned JSON (`serde_json`), written atomically by
//! the daemon and read back after a restart.
//!
//! Stored: accepted claims (with the request, so the digest is recomputed, not trusted),
//! nonce records, revoked leaf ids and revoked digests. Not stored: policies (they come
//! from the signed config), counters and rate-limiter state. On restore each claim is
//! re-checked against the current policy and the uniqueness rules; claims that no longer
//! pass are dropped and listed in the [`RestoreReport`], never silently kept.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{AcceptedClaim, Registry};
use crate::claim::{ClaimDigest, EnrollRequest, Nonce};
use crate::names::{LeafId, PolicyName};
use crate::policy::{Policy, PolicyError};

/// The `format` field of a registry file.
pub const REGISTRY_FORMAT: &str = "routerd-sam-registry";
/// The `version` field this code writes and reads.
pub const REGISTRY_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    format: String,
    version: u32,
    claims: Vec<StoredClaim>,
    nonces: Vec<StoredNonce>,
    revoked_leaves: Vec<StoredLeaf>,
    revoked_digests: Vec<ClaimDigest>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredClaim {
    request: EnrollRequest,
    accepted_at: u64,
    expires_at: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredNonce {
    policy: PolicyName,
    nonce: Nonce,
    forget_after: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredLeaf {
    policy: PolicyName,
    leaf_id: LeafId,
}

/// Why stored registry bytes could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    /// The policies themselves are invalid.
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
    /// The bytes are not a registry file; the daemon should keep the file aside and start
    /// empty (leaves then re-enroll at their next renewal).
    #[error("stored registry is unreadable: {0}")]
    Corrupt(String),
    /// The file has another format or version.
    #[error(
        "stored registry has format {0:?} version {1}, expected {REGISTRY_FORMAT:?} version {REGISTRY_VERSION}"
    )]
    Version(String, u32),
}

/// What a restore had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Claims dropped, with the reason string (a refusal reason, or `unknown-policy`).
    pub dropped_claims: Vec<(PolicyName, LeafId, &'static str)>,
}

impl Registry {
    /// The persistent state as versioned JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut file = RegistryFile {
            format: REGISTRY_FORMAT.to_owned(),
            version: REGISTRY_VERSION,
            claims: Vec::new(),
            nonces: Vec::new(),
            revoked_leaves: Vec::new(),
            revoked_digests: self.revoked_digests.iter().copied().collect(),
        };
        for state in &self.policies {
            let policy = &state.policy.name;
            file.claims
                .extend(state.claims.values().map(|c| StoredClaim {
                    request: c.request.clone(),
                    accepted_at: c.accepted_at,
                    expires_at: c.expires_at,
                }));
            file.nonces.extend(
                state
                    .nonces
                    .iter()
                    .map(|(nonce, forget_after)| StoredNonce {
                        policy: policy.clone(),
                        nonce: *nonce,
                        forget_after: *forget_after,
                    }),
            );
            file.revoked_leaves
                .extend(state.revoked_leaves.iter().map(|leaf_id| StoredLeaf {
                    policy: policy.clone(),
                    leaf_id: leaf_id.clone(),
                }));
        }
        serde_json::to_vec(&file).unwrap_or_else(|_| unreachable!("plain data serializes"))
    }

    /// Rebuilds a registry for `policies` from [`Registry::to_bytes`] output. Call
    /// [`Registry::expire`] with the current time right after.
    pub fn from_bytes(
        policies: Vec<Policy>,
        bytes: &[u8],
    ) -> Result<(Self, RestoreReport), RestoreError> {
        let mut registry = Registry::new(policies)?;
        let file: RegistryFile =
            serde_json::from_slice(bytes).map_err(|e| RestoreError::Corrupt(e.to_string()))?;
        if file.format != REGISTRY_FORMAT || file.version != REGISTRY_VERSION {
            return Err(RestoreError::Version(file.format, file.version));
        }
        let mut report = RestoreReport::default();
        registry.revoked_digests = file.revoked_digests.into_iter().collect();
        for stored in file.revoked_leaves {
            if let Some(index) = registry.policy_index(&stored.policy) {
                registry.policies[index]
                    .revoked_leaves
                    .insert(stored.leaf_id);
            }
        }
        for stored in file.nonces {
            if let Some(index) = registry.policy_index(&stored.policy) {
                registry.policies[index]
                    .nonces
                    .insert(stored.nonce, stored.forget_after);
            }
        }
        for stored in file.claims {
            let subject = &stored.request.claim.subject;
            let drop = |report: &mut RestoreReport, reason| {
                report.dropped_claims.push((
                    subject.policy.clone(),
                    subject.leaf_id.clone(),
                    reason,
                ));
            };
            let Some(index) = registry.policy_index(&subject.policy) else {
                drop(&mut report, "unknown-policy");
                continue;
            };
            let Ok(digest) = stored.request.digest() else {
                drop(&mut report, "malformed");
                continue;
            };
            let state = &registry.policies[index];
            if state.revoked_leaves.contains(&subject.leaf_id) {
                drop(&mut report, "revoked-leaf");
                continue;
            }
            if registry.revoked_digests.contains(&digest) {
                drop(&mut report, "revoked-claim");
                continue;
            }
            let checked = state
                .policy
                .check_subject(subject)
                .and_then(|()| registry.check_unique(index, subject));
            if let Err(refusal) = checked {
                drop(&mut report, refusal.reason());
                continue;
            }
            if state.claims.len() >= state.policy.max_leaves {
                drop(&mut report, "too-many-leaves");
                continue;
            }
            let leaf_id = subject.leaf_id.clone();
            let accepted = AcceptedClaim {
                request: stored.request,
                digest,
                accepted_at: stored.accepted_at,
                expires_at: stored.expires_at,
            };
            registry.policies[index].claims.insert(leaf_id, accepted);
        }
        registry.reindex();
        Ok((registry, report))
    }
}
