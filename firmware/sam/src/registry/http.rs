//! The HTTP face of the registry: one call per `POST /v1/enroll` body, returning the
//! status and JSON body to send (see `docs/sam.md` for the formats and status codes).
//!
//! Order of checks: per-source attempt limit, body parse, then [`Registry::enroll`].
//! The daemon reads at most [`crate::claim::MAX_REQUEST_BYTES`] of body, passes the
//! peer's IP address as `source`, and writes a log line only when
//! [`Outcome::Refused`] carries [`LogDecision::Log`].

use std::net::IpAddr;

use super::Registry;
use crate::answer::RefusalBody;
use crate::claim::{ClaimDigest, EnrollRequest};
use crate::names::{LeafId, PolicyName};
use crate::refusal::{LogDecision, Refusal};

/// What [`Registry::handle_http`] decided, for logging and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The claim was accepted.
    Accepted {
        /// The policy.
        policy: PolicyName,
        /// The leaf.
        leaf_id: LeafId,
        /// Digest of the accepted request.
        digest: ClaimDigest,
        /// Whether it replaced the same leaf's earlier claim.
        renewal: bool,
    },
    /// The request was refused.
    Refused {
        /// Why.
        refusal: Refusal,
        /// Whether to write a log line for it.
        log: LogDecision,
        /// For `malformed`: what is wrong with the body (for the RR's log only).
        detail: Option<String>,
    },
}

/// An HTTP reply for the daemon to send as is (`Content-Type: application/json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// What happened.
    pub outcome: Outcome,
}

impl Registry {
    /// Handles one `POST /v1/enroll` body from `source`: rate limit, parse, enroll,
    /// count, and build the reply.
    pub fn handle_http(&mut self, now: u64, source: IpAddr, body: &[u8]) -> HttpReply {
        let result = match self.limiter.check(now, source) {
            Err(wait) => {
                self.counters.count(Refusal::RateLimited);
                Err((Refusal::RateLimited, Some(wait), None))
            }
            Ok(()) => match EnrollRequest::from_json(body) {
                Err(error) => {
                    self.counters.count(Refusal::Malformed);
                    Err((Refusal::Malformed, None, Some(error.to_string())))
                }
                Ok(request) => self
                    .enroll_counted(now, &request)
                    .map_err(|r| (r, None, None)),
            },
        };
        match result {
            Ok((signed, renewal)) => {
                let answer = &signed.answer;
                HttpReply {
                    status: 200,
                    body: signed.to_json(),
                    outcome: Outcome::Accepted {
                        policy: answer.policy.clone(),
                        leaf_id: answer.leaf_id.clone(),
                        digest: answer.claim_digest,
                        renewal,
                    },
                }
            }
            Err((refusal, retry_after_secs, detail)) => {
                let body = RefusalBody {
                    refused: refusal.wire_reason().to_owned(),
                    retry_after_secs,
                };
                HttpReply {
                    status: refusal.http_status(),
                    body: body.to_json(),
                    outcome: Outcome::Refused {
                        refusal,
                        log: self.log_limiter.decide(now, refusal),
                        detail,
                    },
                }
            }
        }
    }
}
