//! The leaf's persistent state: versioned JSON (`serde_json`) holding the last verified
//! answer with the request it answered, and each endpoint's next renewal time.
//!
//! On restore the answer is verified again under the configured join token, so a state
//! file edited on disk (or written under a token since rotated away) is never adopted.
//! If the configured claim differs from the stored one (owned routes changed, say), the
//! RR set is still applied (fail-static) and every endpoint is due at once.

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
    adopted: Option<StoredAnswer>,
    endpoints: Vec<StoredSchedule>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAnswer {
    request: EnrollRequest,
    answer: SignedAnswer,
    received_at: u64,
    expires_at: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSchedule {
    endpoint: SocketAddr,
    next_attempt: u64,
}

impl Leaf {
    /// The state bytes (the same bytes the last [`super::LeafOutput::Store`] carried, or
    /// newer).
    pub fn to_bytes(&self) -> Vec<u8> {
        let file = LeafFile {
            format: LEAF_STATE_FORMAT.to_owned(),
            version: LEAF_STATE_VERSION,
            adopted: self.adopted.as_ref().map(|a| StoredAnswer {
                request: a.request.clone(),
                answer: a.answer.clone(),
                received_at: a.received_at,
                expires_at: a.expires_at,
            }),
            endpoints: self
                .schedules
                .iter()
                .map(|s| StoredSchedule {
                    endpoint: s.to,
                    next_attempt: s.next_attempt,
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
        let Some(stored) = file.adopted else {
            return RestoreOutcome::Restored;
        };
        let verified = stored
            .answer
            .verify(&self.config.join_token, &stored.request.claim.nonce)
            && stored.request.verify(&self.config.join_token)
            && stored
                .request
                .digest()
                .is_ok_and(|d| d == stored.answer.answer.claim_digest);
        if !verified {
            return RestoreOutcome::Discarded(
                "stored answer does not verify under the configured join token".to_owned(),
            );
        }
        let claim_changed = stored.request.claim.subject != self.config.subject;
        self.adopted = Some(Adopted {
            request: stored.request,
            answer: stored.answer,
            received_at: stored.received_at,
            expires_at: stored.expires_at,
        });
        if claim_changed {
            return RestoreOutcome::ClaimChanged;
        }
        for schedule in &mut self.schedules {
            if let Some(saved) = file.endpoints.iter().find(|s| s.endpoint == schedule.to) {
                schedule.next_attempt = saved.next_attempt;
            }
        }
        RestoreOutcome::Restored
    }
}
