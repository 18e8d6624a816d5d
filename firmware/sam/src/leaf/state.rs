//! The leaf's persistent state: versioned JSON (`serde_json`) holding, per RR endpoint,
//! its next renewal time and its last verified answer with the request it answered.
//!
//! On restore every answer is verified again under the configured join token, so a state
//! file edited on disk (or written under a token since rotated away) is never adopted:
//! if any stored answer fails, the whole file is discarded. Endpoints no longer
//! configured are dropped. If the configured claim differs from the stored one (owned
//! routes changed, say), the RR set is still applied (fail-static) and every endpoint is
//! due at once.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{Adopted, Leaf};
use crate::answer::SignedAnswer;
use crate::claim::EnrollRequest;

/// The `format` field of a leaf state file.
pub const LEAF_STATE_FORMAT: &str = "routerd-sam-leaf";
/// The `version` field this code writes and reads.
pub const LEAF_STATE_VERSION: u32 = 1;

/// What happened to the stored state given to [`Leaf::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// No stored state was given.
    Fresh,
    /// The RR set and renewal times were restored.
    Restored,
    /// The RR set was restored, but the claim changed: re-enrolling at once.
    ClaimChanged,
    /// The stored state was unusable and ignored; the leaf enrolls from scratch.
    Discarded(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeafFile {
    format: String,
    version: u32,
    endpoints: Vec<StoredEndpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEndpoint {
    endpoint: SocketAddr,
    next_attempt: u64,
    answer: Option<StoredAnswer>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAnswer {
    request: EnrollRequest,
    answer: SignedAnswer,
    received_at: u64,
    expires_at: u64,
}

impl Leaf {
    /// The state bytes (the same bytes the last [`super::LeafOutput::Store`] carried, or
    /// newer).
    pub fn to_bytes(&self) -> Vec<u8> {
        let file = LeafFile {
            format: LEAF_STATE_FORMAT.to_owned(),
            version: LEAF_STATE_VERSION,
            endpoints: self
                .schedules
                .iter()
                .map(|s| StoredEndpoint {
                    endpoint: s.to,
                    next_attempt: s.next_attempt,
                    answer: s.adopted.as_ref().map(|a| StoredAnswer {
                        request: a.request.clone(),
                        answer: a.answer.clone(),
                        received_at: a.received_at,
                        expires_at: a.expires_at,
                    }),
                })
                .collect(),
        };
        serde_json::to_vec(&file).unwrap_or_else(|_| unreachable!("plain data serializes"))
    }

    pub(super) fn restore_from(&mut self, bytes: &[u8]) -> RestoreOutcome {
        let file: LeafFile = match serde_json::from_slice(bytes) {
            Ok(file) => file,
            Err(error) => return RestoreOutcome::Discarded(format!("unreadable: {error}")),
        };
        if file.format != LEAF_STATE_FORMAT || file.version != LEAF_STATE_VERSION {
            return RestoreOutcome::Discarded(format!(
                "format {:?} version {} is not {LEAF_STATE_FORMAT:?} version {LEAF_STATE_VERSION}",
                file.format, file.version
            ));
        }
        let token = &self.config.join_token;
        let verified = file
            .endpoints
            .iter()
            .filter_map(|e| e.answer.as_ref())
            .all(|stored| {
                stored.answer.verify(token, &stored.request.claim.nonce)
                    && stored.request.verify(token)
                    && stored
                        .request
                        .digest()
                        .is_ok_and(|d| d == stored.answer.answer.claim_digest)
            });
        if !verified {
            return RestoreOutcome::Discarded(
                "a stored answer does not verify under the configured join token".to_owned(),
            );
        }
        let mut claim_changed = false;
        for stored in file.endpoints {
            let Some(schedule) = self.schedules.iter_mut().find(|s| s.to == stored.endpoint) else {
                continue;
            };
            schedule.next_attempt = stored.next_attempt;
            schedule.adopted = stored.answer.map(|a| {
                claim_changed |= a.request.claim.subject != self.config.subject;
                Adopted {
                    request: a.request,
                    answer: a.answer,
                    received_at: a.received_at,
                    expires_at: a.expires_at,
                }
            });
        }
        if claim_changed {
            for schedule in &mut self.schedules {
                schedule.next_attempt = 0;
            }
            return RestoreOutcome::ClaimChanged;
        }
        RestoreOutcome::Restored
    }
}
