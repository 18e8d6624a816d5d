//! The RR's answer to an accepted claim, its canonical encoding and MAC.
//!
//! An [`Answer`] carries the RR set of the claim's policy, the claim TTL and the digest of
//! the accepted request. Its MAC is HMAC-SHA256 under the join token over
//! [`Answer::canonical_bytes`] followed by the 16 nonce bytes of the claim it answers, so
//! an answer verifies only for the one request the leaf has in flight. A leaf adopts
//! nothing it has not verified with [`SignedAnswer::verify`].

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::canonical::Writer;
use crate::claim::{ClaimDigest, Nonce, WireGuardKey};
use crate::names::{LeafId, PolicyName};
use crate::token::{JoinToken, Tag};

/// Version of the answer encoding.
pub const ANSWER_VERSION: u8 = 2;
/// The most route reflectors one RR set may list.
pub const MAX_ROUTE_REFLECTORS: usize = 64;
/// The largest reply body a leaf reads.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

const ANSWER_MAGIC: &[u8; 4] = b"SAMA";

/// One route reflector as a leaf needs it to build a tunnel and a BGP session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrNode {
    /// The RR's BGP router id, which is also its identity in the set.
    pub router_id: Ipv4Addr,
    /// The RR's underlay address and WireGuard UDP port (port unused without WireGuard).
    pub underlay_endpoint: SocketAddrV4,
    /// The RR's tunnel address: the leaf's BGP session goes to it.
    pub tunnel_address: Ipv4Addr,
    /// The RR's WireGuard public key, when the transport uses WireGuard.
    pub wireguard_key: Option<WireGuardKey>,
    /// The address of the RR's WireGuard interface (the outer IPIP destination), when
    /// the transport uses WireGuard.
    #[serde(default)]
    pub wireguard_address: Option<Ipv4Addr>,
}

/// The route reflectors of a policy and the BGP parameters the leaf peers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrSet {
    /// The ASN of the iBGP domain.
    pub asn: u32,
    /// The RRs' cluster id.
    pub cluster_id: Ipv4Addr,
    /// The route reflectors, in the policy's order.
    pub route_reflectors: Vec<RrNode>,
}

/// The RR's authorization of one claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Encoding version; must equal [`ANSWER_VERSION`].
    pub version: u8,
    /// The leaf the answer is for.
    pub leaf_id: LeafId,
    /// The policy that accepted the claim.
    pub policy: PolicyName,
    /// Digest of the accepted request.
    pub claim_digest: ClaimDigest,
    /// The route reflectors to peer with.
    pub rr_set: RrSet,
    /// RR clock at acceptance, unix seconds.
    pub issued_at: u64,
    /// RR clock when the claim expires unless renewed, unix seconds.
    pub expires_at: u64,
}

/// Why an answer has no canonical form (or is unusable).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnswerShapeError {
    /// The version is not [`ANSWER_VERSION`].
    #[error("answer version {0} is not supported (expected {ANSWER_VERSION})")]
    Version(u8),
    /// The RR set is empty or lists more than [`MAX_ROUTE_REFLECTORS`] RRs.
    #[error("an RR set lists 1 to {MAX_ROUTE_REFLECTORS} route reflectors, this one {0}")]
    RrCount(usize),
    /// `expires_at` is not after `issued_at`.
    #[error("answer expires before it is issued")]
    Lifetime,
    /// An RR has a WireGuard key without a WireGuard address, or the reverse.
    #[error("route reflector {0} has half a WireGuard identity (key and address go together)")]
    WireGuardHalf(Ipv4Addr),
}

impl Answer {
    /// The canonical encoding the MAC covers (see `docs/sam.md`).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, AnswerShapeError> {
        if self.version != ANSWER_VERSION {
            return Err(AnswerShapeError::Version(self.version));
        }
        let rrs = &self.rr_set.route_reflectors;
        if rrs.is_empty() || rrs.len() > MAX_ROUTE_REFLECTORS {
            return Err(AnswerShapeError::RrCount(rrs.len()));
        }
        if self.expires_at <= self.issued_at {
            return Err(AnswerShapeError::Lifetime);
        }
        if let Some(rr) = rrs
            .iter()
            .find(|rr| rr.wireguard_key.is_some() != rr.wireguard_address.is_some())
        {
            return Err(AnswerShapeError::WireGuardHalf(rr.router_id));
        }
        let count = |_| AnswerShapeError::RrCount(rrs.len());
        let mut w = Writer::new(ANSWER_MAGIC, ANSWER_VERSION);
        // Names hold at most 63 bytes: their prefixes always fit.
        w.bytes16(self.leaf_id.as_str().as_bytes()).map_err(count)?;
        w.bytes16(self.policy.as_str().as_bytes()).map_err(count)?;
        w.raw(&self.claim_digest.0);
        w.u32(self.rr_set.asn);
        w.ipv4(self.rr_set.cluster_id);
        w.u64(self.issued_at);
        w.u64(self.expires_at);
        w.count16(rrs.len()).map_err(count)?;
        for rr in rrs {
            w.ipv4(rr.router_id);
            w.socket(rr.underlay_endpoint);
            w.ipv4(rr.tunnel_address);
            match (&rr.wireguard_key, rr.wireguard_address) {
                (Some(key), Some(address)) => {
                    w.u8(1);
                    w.raw(&key.0);
                    w.ipv4(address);
                }
                _ => w.u8(0),
            }
        }
        Ok(w.finish())
    }

    /// Signs the answer for the request that carried `nonce`.
    pub fn sign(self, token: &JoinToken, nonce: &Nonce) -> Result<SignedAnswer, AnswerShapeError> {
        let mac = token.sign(&[&self.canonical_bytes()?, &nonce.0]);
        Ok(SignedAnswer { answer: self, mac })
    }

    /// The claim lifetime the answer grants, in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.expires_at.saturating_sub(self.issued_at)
    }
}

/// An answer and its MAC: the body of a `200 OK` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAnswer {
    /// The answer.
    pub answer: Answer,
    /// HMAC-SHA256 under the join token over the canonical answer and the claim nonce.
    pub mac: Tag,
}

impl SignedAnswer {
    /// Whether the MAC verifies under `token` for the request that carried `nonce`.
    pub fn verify(&self, token: &JoinToken, nonce: &Nonce) -> bool {
        match self.answer.canonical_bytes() {
            Ok(canonical) => token.verify(&[&canonical, &nonce.0], &self.mac),
            Err(_) => false,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| unreachable!("plain data serializes"))
    }
}

/// The body of a refusal reply (any non-200 status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalBody {
    /// The wire reason string (see [`crate::Refusal::wire_reason`]).
    pub refused: String,
    /// For `rate-limited`: seconds until a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl RefusalBody {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| unreachable!("plain data serializes"))
    }
}

/// Any reply body of `POST /v1/enroll`, as the leaf reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// An answer (still to be verified).
    Answer(SignedAnswer),
    /// A refusal (unauthenticated: a leaf treats it like any failure).
    Refused(RefusalBody),
}

/// A reply body that is neither an answer nor a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("reply is not enrollment JSON: {0}")]
pub struct MalformedReply(pub String);

impl Reply {
    /// Parses a reply body; never panics.
    pub fn from_json(body: &[u8]) -> Result<Self, MalformedReply> {
        if body.len() > MAX_REPLY_BYTES {
            return Err(MalformedReply(format!("{} bytes is too large", body.len())));
        }
        serde_json::from_slice(body).map_err(|e| MalformedReply(e.to_string()))
    }
}
