//! The leaf's claim, its canonical encoding, and the signed enrollment request.
//!
//! A [`Claim`] is what a leaf asks the RR to authorize: its identity ([`ClaimSubject`]),
//! a fresh random [`Nonce`] and the leaf's clock as unix seconds. The MAC of an
//! [`EnrollRequest`] is HMAC-SHA256 under the join token over [`Claim::canonical_bytes`]
//! and nothing else; the JSON transport form is only a carrier. `docs/sam.md` gives the
//! encoding byte by byte.
//!
//! Invariant: a claim whose [`Claim::shape_error`] is `None` always has a canonical
//! encoding; the RR refuses any other claim as malformed before checking its MAC.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::canonical::Writer;
use crate::names::{LeafId, PolicyName};
use crate::token::{JoinToken, Tag};

/// Version of the claim encoding (the JSON `version` field and the canonical version byte).
pub const CLAIM_VERSION: u8 = 2;
/// The most routes one claim may own.
pub const MAX_OWNED_ROUTES: usize = 1024;
/// The largest enrollment request body the RR reads; the HTTP glue stops reading beyond it.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

const CLAIM_MAGIC: &[u8; 4] = b"SAMC";
const DIGEST_MAGIC: &[u8; 4] = b"SAMD";

/// A WireGuard public key (32 bytes; JSON form: 64 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WireGuardKey(#[serde(with = "crate::hex::serde_array")] pub [u8; 32]);

/// A request nonce: 16 random bytes chosen by the leaf (JSON form: 32 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Nonce(#[serde(with = "crate::hex::serde_array")] pub [u8; 16]);

/// SHA-256 digest identifying one accepted request (claim and MAC); JSON form: hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClaimDigest(#[serde(with = "crate::hex::serde_array")] pub [u8; 32]);

impl std::fmt::Display for ClaimDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", crate::hex::encode(&self.0))
    }
}

/// What a leaf asks to be authorized for: everything in a claim except nonce and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSubject {
    /// The leaf's identity, unique across the RR.
    pub leaf_id: LeafId,
    /// The enrollment policy the leaf joins.
    pub policy: PolicyName,
    /// The leaf's tunnel address: its BGP session address toward the RRs.
    pub tunnel_address: Ipv4Addr,
    /// The leaf's underlay address and WireGuard UDP port; `None` behind NAT (the RR then
    /// learns the endpoint from the WireGuard handshake). The port is ignored without
    /// WireGuard.
    pub underlay_endpoint: Option<SocketAddrV4>,
    /// The client routes the leaf announces: strictly ascending, each meant to be a /32.
    pub owned: Vec<Ipv4Net>,
    /// The leaf's autonomous system number.
    pub asn: u32,
    /// The leaf's BGP router id.
    pub router_id: Ipv4Addr,
    /// The leaf's WireGuard public key, when the transport uses WireGuard.
    pub wireguard_key: Option<WireGuardKey>,
    /// The address of the leaf's WireGuard interface, when the transport uses WireGuard:
    /// IPIP runs between WireGuard addresses, so the RR routes this /32 into WireGuard
    /// toward the leaf and allows only it from the leaf's key.
    #[serde(default)]
    pub wireguard_address: Option<Ipv4Addr>,
}

impl ClaimSubject {
    /// Sorts and deduplicates `owned` into the canonical strictly ascending order.
    pub fn normalize(&mut self) {
        self.owned.sort();
        self.owned.dedup();
    }
}

/// A subject together with the freshness fields of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Encoding version; must equal [`CLAIM_VERSION`].
    pub version: u8,
    /// What the leaf asks for.
    pub subject: ClaimSubject,
    /// Fresh random bytes, never reused by the leaf.
    pub nonce: Nonce,
    /// The leaf's clock when it built the request, unix seconds.
    pub timestamp: u64,
}

/// Why a claim has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// The version is not [`CLAIM_VERSION`].
    #[error("claim version {0} is not supported (expected {CLAIM_VERSION})")]
    Version(u8),
    /// More than [`MAX_OWNED_ROUTES`] owned routes.
    #[error("a claim owns at most {MAX_OWNED_ROUTES} routes, this one lists {0}")]
    TooManyOwned(usize),
    /// The owned routes are not strictly ascending (unsorted or duplicated).
    #[error("owned routes must be sorted and unique")]
    OwnedNotCanonical,
    /// A field is longer than its `u16` length prefix allows.
    #[error("a claim field is too long to encode")]
    TooLong,
    /// A WireGuard key without a WireGuard address, or an address without a key.
    #[error("a WireGuard key and a WireGuard address go together: set both or neither")]
    WireGuardHalf,
}

impl Claim {
    /// A version-1 claim for `subject` with the given nonce and timestamp.
    pub fn new(subject: ClaimSubject, nonce: Nonce, timestamp: u64) -> Self {
        Self {
            version: CLAIM_VERSION,
            subject,
            nonce,
            timestamp,
        }
    }

    /// `None` when the claim can be encoded canonically, otherwise the reason it cannot.
    pub fn shape_error(&self) -> Option<ShapeError> {
        if self.version != CLAIM_VERSION {
            return Some(ShapeError::Version(self.version));
        }
        let owned = &self.subject.owned;
        if owned.len() > MAX_OWNED_ROUTES {
            return Some(ShapeError::TooManyOwned(owned.len()));
        }
        if owned.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Some(ShapeError::OwnedNotCanonical);
        }
        if self.subject.wireguard_key.is_some() != self.subject.wireguard_address.is_some() {
            return Some(ShapeError::WireGuardHalf);
        }
        None
    }

    /// The canonical encoding the MAC covers (see `docs/sam.md`).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, ShapeError> {
        if let Some(error) = self.shape_error() {
            return Err(error);
        }
        let s = &self.subject;
        let too_long = |_| ShapeError::TooLong;
        let mut w = Writer::new(CLAIM_MAGIC, CLAIM_VERSION);
        w.bytes16(s.leaf_id.as_str().as_bytes()).map_err(too_long)?;
        w.bytes16(s.policy.as_str().as_bytes()).map_err(too_long)?;
        w.ipv4(s.tunnel_address);
        match s.underlay_endpoint {
            Some(endpoint) => {
                w.u8(1);
                w.socket(endpoint);
            }
            None => w.u8(0),
        }
        w.count16(s.owned.len()).map_err(too_long)?;
        for net in &s.owned {
            w.ipv4(net.addr());
            w.u8(net.prefix_len());
        }
        w.u32(s.asn);
        w.ipv4(s.router_id);
        match (&s.wireguard_key, s.wireguard_address) {
            (Some(key), Some(address)) => {
                w.u8(1);
                w.raw(&key.0);
                w.ipv4(address);
            }
            _ => w.u8(0),
        }
        w.raw(&self.nonce.0);
        w.u64(self.timestamp);
        Ok(w.finish())
    }

    /// Signs the claim under `token`, producing the request a leaf sends.
    pub fn sign(self, token: &JoinToken) -> Result<EnrollRequest, ShapeError> {
        let mac = token.sign(&[&self.canonical_bytes()?]);
        Ok(EnrollRequest { claim: self, mac })
    }
}

/// Why request bytes could not be read as an [`EnrollRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedRequest {
    /// The body exceeds [`MAX_REQUEST_BYTES`].
    #[error("request body of {0} bytes exceeds the {MAX_REQUEST_BYTES}-byte limit")]
    TooLarge(usize),
    /// The body is not the JSON described in `docs/sam.md`.
    #[error("request is not valid enrollment JSON: {0}")]
    Json(String),
    /// The claim has no canonical form.
    #[error("claim is not canonical: {0}")]
    Shape(#[from] ShapeError),
}

/// A claim and its MAC: the body of `POST /v1/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The claim.
    pub claim: Claim,
    /// HMAC-SHA256 under the join token over the claim's canonical bytes.
    pub mac: Tag,
}

impl EnrollRequest {
    /// Parses a request body; never panics. Checks size, JSON and canonical shape, not
    /// the MAC (that needs the policy's token).
    pub fn from_json(body: &[u8]) -> Result<Self, MalformedRequest> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(MalformedRequest::TooLarge(body.len()));
        }
        let request: Self =
            serde_json::from_slice(body).map_err(|e| MalformedRequest::Json(e.to_string()))?;
        if let Some(error) = request.claim.shape_error() {
            return Err(error.into());
        }
        Ok(request)
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| unreachable!("plain data serializes"))
    }

    /// Whether the MAC verifies under `token`.
    pub fn verify(&self, token: &JoinToken) -> bool {
        match self.claim.canonical_bytes() {
            Ok(canonical) => token.verify(&[&canonical], &self.mac),
            Err(_) => false,
        }
    }

    /// SHA-256 over `"SAMD"`, the canonical claim and the MAC: names this exact request.
    pub fn digest(&self) -> Result<ClaimDigest, ShapeError> {
        let mut hasher = Sha256::new();
        hasher.update(DIGEST_MAGIC);
        hasher.update(self.claim.canonical_bytes()?);
        hasher.update(self.mac.0);
        Ok(ClaimDigest(hasher.finalize().into()))
    }
}

#[cfg(test)]
mod tests;
