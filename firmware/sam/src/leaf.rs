//! The leaf's enrollment state machine, sans-IO.
//!
//! States ([`LeafState`]): `Unenrolled` (no RR set, nothing in flight), `Enrolling` (no RR
//! set, a request in flight), `Ready` (a verified RR set that has not expired), `Stale`
//! (the last verified RR set has expired and is kept: fail-static, tunnels and sessions
//! stay up while the leaf keeps retrying).
//!
//! Call order: [`Leaf::new`] with the stored state bytes (if any); then loop: drain
//! [`Leaf::poll_output`] until `None` ([`LeafOutput::Transmit`]: POST the bytes to
//! `http://<to>/v1/enroll` and report the reply body with [`Leaf::handle_response`], or
//! [`Leaf::handle_failure`] if no body arrived; [`LeafOutput::Store`]: write the bytes
//! atomically; [`LeafOutput::Apply`]: build tunnels and BGP sessions for the RR set); wait
//! until [`Leaf::poll_timeout`] and call [`Leaf::handle_timeout`] with fresh random bytes.
//!
//! The leaf enrolls with every configured RR endpoint (RRs do not share registries), one
//! request at a time, and keeps the last verified answer of each. The RR set in use is
//! the union of those answers' RRs (by router id, newest entry wins), so it is the same
//! whether each RR lists all RRs or only itself. Each endpoint renews at 2/3 of the
//! granted TTL and backs off exponentially after a failure. Only an answer whose MAC verifies under the join token
//! for the nonce in flight, and whose claim digest names the request in flight, is ever
//! adopted; anything else counts as a failure and leaves the current RR set in place.

mod state;

use std::collections::VecDeque;
use std::net::SocketAddr;

use thiserror::Error;

use crate::answer::{Reply, RrNode, RrSet, SignedAnswer};
use crate::claim::{Claim, ClaimDigest, ClaimSubject, EnrollRequest, Nonce, ShapeError};
use crate::token::JoinToken;

pub use state::{LEAF_STATE_FORMAT, LEAF_STATE_VERSION, RestoreOutcome};

/// Static configuration of a leaf's enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafConfig {
    /// What the leaf claims.
    pub subject: ClaimSubject,
    /// The policy's join token.
    pub join_token: JoinToken,
    /// The RRs' enrollment listeners.
    pub endpoints: Vec<SocketAddr>,
    /// First retry delay after a failure, seconds.
    pub retry_min_secs: u64,
    /// Longest retry delay, seconds.
    pub retry_max_secs: u64,
    /// How long a request may stay unanswered before it counts as failed, seconds.
    pub request_timeout_secs: u64,
}

impl LeafConfig {
    /// A configuration with the default timings: retries from 5 s doubling up to 300 s,
    /// 20 s request timeout.
    pub fn new(subject: ClaimSubject, join_token: JoinToken, endpoints: Vec<SocketAddr>) -> Self {
        Self {
            subject,
            join_token,
            endpoints,
            retry_min_secs: 5,
            retry_max_secs: 300,
            request_timeout_secs: 20,
        }
    }
}

/// Why a leaf configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeafConfigError {
    /// No RR endpoint.
    #[error("a leaf needs at least one RR enrollment endpoint")]
    NoEndpoints,
    /// The claim cannot be encoded.
    #[error("the claim cannot be encoded: {0}")]
    Claim(#[from] ShapeError),
    /// A timing is zero or the retry range is reversed.
    #[error("retry and timeout durations must be at least 1 s, with min <= max")]
    Timing,
}

/// What the daemon must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafOutput {
    /// POST `request` (JSON) to `http://<to>/v1/enroll`.
    Transmit {
        /// The RR enrollment listener.
        to: SocketAddr,
        /// The request body.
        request: Vec<u8>,
    },
    /// Write `state` atomically to the state directory (replace, then fsync).
    Store {
        /// Opaque state bytes for [`Leaf::new`].
        state: Vec<u8>,
    },
    /// Build (or rebuild) tunnels and BGP sessions for this RR set.
    Apply {
        /// The verified RR set.
        rr_set: RrSet,
    },
}

/// The leaf's enrollment state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafState {
    /// No RR set and no request in flight.
    Unenrolled,
    /// No RR set; a request is in flight.
    Enrolling,
    /// A verified RR set that has not expired.
    Ready,
    /// The RR set expired; it is kept (fail-static) while the leaf retries.
    Stale,
}

/// Why a reply was not adopted. Every error counts as a failure of the endpoint, which
/// is retried after backoff; the current RR set stays in place.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeafError {
    /// A reply arrived while no request was in flight; it is ignored.
    #[error("no enrollment request in flight; reply ignored")]
    NoRequestInFlight,
    /// The body is neither an answer nor a refusal.
    #[error("malformed enrollment reply, retrying after backoff: {0}")]
    MalformedReply(String),
    /// The RR refused the claim.
    #[error("enrollment refused ({0}), retrying after backoff")]
    Refused(String),
    /// The answer's MAC does not verify for the request in flight.
    #[error("answer MAC does not verify, answer dropped, retrying after backoff")]
    BadMac,
    /// The answer verifies but is for another claim, leaf, policy or ASN.
    #[error("answer does not match the claim in flight, retrying after backoff")]
    WrongClaim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Schedule {
    to: SocketAddr,
    next_attempt: u64,
    failures: u32,
    /// The endpoint's last verified answer.
    adopted: Option<Adopted>,
}

/// A verified answer and the request it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Adopted {
    request: EnrollRequest,
    answer: SignedAnswer,
    /// Leaf clock when the answer arrived.
    received_at: u64,
    /// Leaf clock when the answer's TTL runs out.
    expires_at: u64,
}

#[derive(Debug, Clone)]
struct InFlight {
    endpoint: usize,
    request: EnrollRequest,
    deadline: u64,
}

/// A leaf's enrollment state machine.
#[derive(Debug, Clone)]
pub struct Leaf {
    config: LeafConfig,
    schedules: Vec<Schedule>,
    /// The merged RR set last emitted as [`LeafOutput::Apply`].
    current: Option<RrSet>,
    in_flight: Option<InFlight>,
    outputs: VecDeque<LeafOutput>,
    restore: RestoreOutcome,
    last_now: u64,
}

impl Leaf {
    /// A leaf for `config`, resuming from `stored` state bytes (from an earlier
    /// [`LeafOutput::Store`]). A stored RR set that still verifies is applied at once
    /// (queued as [`LeafOutput::Apply`]), even if expired; unreadable state is discarded
    /// and reported by [`Leaf::restore_outcome`].
    pub fn new(mut config: LeafConfig, stored: Option<&[u8]>) -> Result<Self, LeafConfigError> {
        config.subject.normalize();
        if config.endpoints.is_empty() {
            return Err(LeafConfigError::NoEndpoints);
        }
        if let Some(error) = Claim::new(config.subject.clone(), Nonce([0; 16]), 0).shape_error() {
            return Err(error.into());
        }
        if config.retry_min_secs == 0
            || config.request_timeout_secs == 0
            || config.retry_min_secs > config.retry_max_secs
        {
            return Err(LeafConfigError::Timing);
        }
        let schedules = config
            .endpoints
            .iter()
            .map(|to| Schedule {
                to: *to,
                next_attempt: 0,
                failures: 0,
                adopted: None,
            })
            .collect();
        let mut leaf = Self {
            config,
            schedules,
            current: None,
            in_flight: None,
            outputs: VecDeque::new(),
            restore: RestoreOutcome::Fresh,
            last_now: 0,
        };
        if let Some(bytes) = stored {
            leaf.restore = leaf.restore_from(bytes);
        }
        leaf.current = leaf.merged_rr_set();
        if let Some(rr_set) = &leaf.current {
            leaf.outputs.push_back(LeafOutput::Apply {
                rr_set: rr_set.clone(),
            });
        }
        Ok(leaf)
    }

    /// What happened to the stored state given to [`Leaf::new`].
    pub fn restore_outcome(&self) -> &RestoreOutcome {
        &self.restore
    }

    /// The next thing the daemon must do, if any.
    pub fn poll_output(&mut self) -> Option<LeafOutput> {
        self.outputs.pop_front()
    }

    /// When to call [`Leaf::handle_timeout`] next (leaf clock, unix seconds).
    pub fn poll_timeout(&self) -> Option<u64> {
        if let Some(in_flight) = &self.in_flight {
            return Some(in_flight.deadline);
        }
        let next_attempt = self.schedules.iter().map(|s| s.next_attempt).min();
        let expiry = self.expires_at().filter(|e| *e > self.last_now);
        match (next_attempt, expiry) {
            (Some(a), Some(e)) => Some(a.min(e)),
            (a, e) => a.or(e),
        }
    }

    /// Advances time: fails a request past its deadline, and sends the next due request
    /// using `entropy` (16 fresh random bytes) as its nonce.
    pub fn handle_timeout(&mut self, now: u64, entropy: [u8; 16]) {
        self.last_now = self.last_now.max(now);
        if self.in_flight.as_ref().is_some_and(|f| now >= f.deadline) {
            self.handle_failure(now);
        }
        if self.in_flight.is_some() {
            return;
        }
        let due = self
            .schedules
            .iter()
            .enumerate()
            .filter(|(_, s)| s.next_attempt <= now)
            .min_by_key(|(_, s)| s.next_attempt)
            .map(|(i, _)| i);
        let Some(endpoint) = due else { return };
        let claim = Claim::new(self.config.subject.clone(), Nonce(entropy), now);
        // Leaf::new checked the shape of this subject; only nonce and time differ.
        let Ok(request) = claim.sign(&self.config.join_token) else {
            return;
        };
        self.outputs.push_back(LeafOutput::Transmit {
            to: self.schedules[endpoint].to,
            request: request.to_json(),
        });
        let deadline = now.saturating_add(self.config.request_timeout_secs);
        self.in_flight = Some(InFlight {
            endpoint,
            request,
            deadline,
        });
    }

    /// Reports the reply body (any HTTP status) to the request in flight.
    pub fn handle_response(&mut self, now: u64, body: &[u8]) -> Result<(), LeafError> {
        self.last_now = self.last_now.max(now);
        let in_flight = self.in_flight.take().ok_or(LeafError::NoRequestInFlight)?;
        match self.check_reply(&in_flight.request, body) {
            Ok(answer) => {
                self.adopt(now, in_flight, answer);
                Ok(())
            }
            Err(error) => {
                self.fail_endpoint(now, in_flight.endpoint);
                Err(error)
            }
        }
    }

    /// Reports that the request in flight got no reply (connection refused, timeout).
    pub fn handle_failure(&mut self, now: u64) {
        self.last_now = self.last_now.max(now);
        if let Some(in_flight) = self.in_flight.take() {
            self.fail_endpoint(now, in_flight.endpoint);
        }
    }

    /// Makes every endpoint due now, e.g. when the BGP sessions to the RRs stay down
    /// (an RR may have lost its registry). The current RR set is kept.
    pub fn request_renewal(&mut self, now: u64) {
        for schedule in &mut self.schedules {
            schedule.next_attempt = schedule.next_attempt.min(now);
        }
    }

    /// The state at leaf time `now`.
    pub fn state(&self, now: u64) -> LeafState {
        match (self.expires_at(), &self.in_flight) {
            (Some(expires_at), _) if now < expires_at => LeafState::Ready,
            (Some(_), _) => LeafState::Stale,
            (None, Some(_)) => LeafState::Enrolling,
            (None, None) => LeafState::Unenrolled,
        }
    }

    /// The RR set in use (verified; possibly expired, see [`Leaf::state`]).
    pub fn rr_set(&self) -> Option<&RrSet> {
        self.current.as_ref()
    }

    /// Leaf time at which the last unexpired answer runs out: the RR set is `Ready`
    /// until then.
    pub fn expires_at(&self) -> Option<u64> {
        self.answers().map(|a| a.expires_at).max()
    }

    /// Digest of the claim the most recent answer accepted, for status.
    pub fn claim_digest(&self) -> Option<ClaimDigest> {
        self.newest().map(|a| a.answer.answer.claim_digest)
    }

    /// Consecutive failures per endpoint, in configuration order, for status.
    pub fn failures(&self) -> Vec<(SocketAddr, u32)> {
        self.schedules.iter().map(|s| (s.to, s.failures)).collect()
    }

    fn check_reply(&self, request: &EnrollRequest, body: &[u8]) -> Result<SignedAnswer, LeafError> {
        let reply = Reply::from_json(body).map_err(|e| LeafError::MalformedReply(e.0))?;
        let signed = match reply {
            Reply::Refused(refusal) => return Err(LeafError::Refused(refusal.refused)),
            Reply::Answer(signed) => signed,
        };
        if !signed.verify(&self.config.join_token, &request.claim.nonce) {
            return Err(LeafError::BadMac);
        }
        let answer = &signed.answer;
        let subject = &request.claim.subject;
        let matches = request.digest().is_ok_and(|d| d == answer.claim_digest)
            && answer.leaf_id == subject.leaf_id
            && answer.policy == subject.policy
            && answer.rr_set.asn == subject.asn;
        if !matches {
            return Err(LeafError::WrongClaim);
        }
        Ok(signed)
    }

    fn adopt(&mut self, now: u64, in_flight: InFlight, answer: SignedAnswer) {
        let ttl = answer.answer.ttl_secs();
        let schedule = &mut self.schedules[in_flight.endpoint];
        schedule.failures = 0;
        schedule.next_attempt = now.saturating_add((ttl * 2 / 3).max(1));
        schedule.adopted = Some(Adopted {
            request: in_flight.request,
            answer,
            received_at: now,
            expires_at: now.saturating_add(ttl),
        });
        let merged = self.merged_rr_set();
        if merged != self.current {
            self.current = merged;
            if let Some(rr_set) = &self.current {
                self.outputs.push_back(LeafOutput::Apply {
                    rr_set: rr_set.clone(),
                });
            }
        }
        self.outputs.push_back(LeafOutput::Store {
            state: self.to_bytes(),
        });
    }

    fn answers(&self) -> impl Iterator<Item = &Adopted> {
        self.schedules.iter().filter_map(|s| s.adopted.as_ref())
    }

    fn newest(&self) -> Option<&Adopted> {
        self.answers().max_by_key(|a| a.received_at)
    }

    /// The union of every endpoint's RR set: RRs sorted by router id, where two answers
    /// list the same router id the newer entry wins; ASN and cluster id from the newest.
    fn merged_rr_set(&self) -> Option<RrSet> {
        let newest = self.newest()?;
        let mut answers: Vec<&Adopted> = self.answers().collect();
        answers.sort_by_key(|a| std::cmp::Reverse(a.received_at));
        let mut route_reflectors: Vec<RrNode> = Vec::new();
        for adopted in answers {
            for rr in &adopted.answer.answer.rr_set.route_reflectors {
                if !route_reflectors.iter().any(|r| r.router_id == rr.router_id) {
                    route_reflectors.push(rr.clone());
                }
            }
        }
        route_reflectors.sort_by_key(|rr| rr.router_id);
        let rr_set = &newest.answer.answer.rr_set;
        Some(RrSet {
            asn: rr_set.asn,
            cluster_id: rr_set.cluster_id,
            route_reflectors,
        })
    }

    fn fail_endpoint(&mut self, now: u64, endpoint: usize) {
        let schedule = &mut self.schedules[endpoint];
        schedule.failures = schedule.failures.saturating_add(1);
        let shift = (schedule.failures - 1).min(32);
        let delay = self
            .config
            .retry_min_secs
            .saturating_mul(1u64 << shift)
            .min(self.config.retry_max_secs);
        schedule.next_attempt = now.saturating_add(delay);
    }
}

#[cfg(test)]
mod tests;
