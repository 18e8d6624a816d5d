//! `POST /v1/enrollment/revoke` and `POST /v1/enrollment/reinstate`: an operator throws a
//! leaf out of an RR's enrollment registry, or lets it back in.
//! `POST /v1/enrollment/revoke-claim`: an operator revokes one accepted request by its
//! claim digest (as `GET /v1/enrollment` lists it), for good: that exact request is
//! refused `revoked-claim` when replayed, while the leaf may enroll again with a fresh
//! claim (for instance after its join token or key was rotated).
//!
//! Contract: the handler parses the JSON body into a [`LeafRef`] (a bad body is answered
//! `400` naming the field, before the core sees anything) and passes it to the core as
//! an [`EnrollmentCommand`] on a bounded channel; the core answers on the command's
//! oneshot with a [`Revoked`] / [`Reinstated`] or an [`EnrollmentRefused`] (`409` on a
//! router that is not a SAM RR, `404` for an unknown policy). On revoke the core drops
//! the leaf's claim, persists the registry, removes the leaf's tunnel and BGP session
//! (its /32s are withdrawn from every other leaf) and refuses the leaf's enrollments
//! with `revoked-leaf` until it is reinstated; the revocation survives restarts.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The body of both endpoints: which leaf, under which enrollment policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafRef {
    /// The enrollment policy the leaf enrolls under.
    pub policy: String,
    /// The leaf id of its claims.
    pub leaf_id: String,
}

impl LeafRef {
    /// Parses a request body; the error names the missing or malformed field.
    pub fn parse(body: &[u8]) -> Result<LeafRef, String> {
        let parsed: LeafRef = serde_json::from_slice(body).map_err(|e| {
            format!("the body must be {{\"policy\": \"...\", \"leaf_id\": \"...\"}}: {e}")
        })?;
        for (field, value) in [("policy", &parsed.policy), ("leaf_id", &parsed.leaf_id)] {
            if value.trim().is_empty() {
                return Err(format!("`{field}` is empty"));
            }
        }
        Ok(parsed)
    }
}

/// The body of `POST /v1/enrollment/revoke-claim`: the digest of one accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRef {
    /// `sha256:` and 64 hex digits, or the 64 hex digits alone.
    pub digest: String,
}

impl ClaimRef {
    /// Parses a request body; the error names the field and the expected form.
    pub fn parse(body: &[u8]) -> Result<ClaimRef, String> {
        let parsed: ClaimRef = serde_json::from_slice(body)
            .map_err(|e| format!("the body must be {{\"digest\": \"sha256:...\"}}: {e}"))?;
        parsed.bytes()?;
        Ok(parsed)
    }

    /// The 32 digest bytes; the error says what is wrong with `digest`.
    pub fn bytes(&self) -> Result<[u8; 32], String> {
        let hex = self.digest.strip_prefix("sha256:").unwrap_or(&self.digest);
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`digest` must be `sha256:` and 64 hex digits (as GET /v1/enrollment lists it), not {:?}",
                self.digest
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|e| format!("`digest`: {e}"))?;
        }
        Ok(out)
    }
}

/// A request for the core.
#[derive(Debug)]
pub enum EnrollmentCommand {
    /// Revoke one accepted request by digest, permanently.
    RevokeClaim {
        /// The request's digest.
        claim: ClaimRef,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<ClaimRevoked, EnrollmentRefused>>,
    },
    /// Revoke the leaf: drop its claim and refuse it until reinstated.
    Revoke {
        /// The leaf.
        leaf: LeafRef,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Revoked, EnrollmentRefused>>,
    },
    /// Lift a revocation.
    Reinstate {
        /// The leaf.
        leaf: LeafRef,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Reinstated, EnrollmentRefused>>,
    },
}

/// Answer of `POST /v1/enrollment/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Always `true`: the leaf is revoked now (also when it already was).
    pub revoked: bool,
    /// Whether the leaf had an accepted claim that was dropped (its tunnel, session and
    /// routes went with it).
    pub claim_dropped: bool,
}

/// Answer of `POST /v1/enrollment/revoke-claim`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRevoked {
    /// Always `true`: the digest is revoked now (also when it already was).
    pub revoked: bool,
    /// The leaf whose current claim it was, when it was a current claim (that claim was
    /// dropped with its tunnel, session and routes); `None` for an old or unknown digest.
    pub claim_dropped_for: Option<LeafRef>,
}

/// Answer of `POST /v1/enrollment/reinstate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reinstated {
    /// Always `true`: the leaf may enroll again on its next attempt.
    pub reinstated: bool,
    /// Whether the leaf was revoked before this call.
    pub was_revoked: bool,
}

/// A refused revoke or reinstate: the HTTP status and an error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRefused {
    /// `409` (not a SAM RR), `404` (unknown policy), `400` (malformed name) or `500`.
    pub status: u16,
    /// What went wrong.
    pub error: String,
    /// What to do next.
    pub hint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_body_parses() {
        let leaf = LeafRef::parse(br#"{"policy":"clients","leaf_id":"site-b"}"#).unwrap();
        assert_eq!(leaf.policy, "clients");
        assert_eq!(leaf.leaf_id, "site-b");
    }

    #[test]
    fn a_bad_body_names_the_field() {
        let missing = LeafRef::parse(br#"{"policy":"clients"}"#).unwrap_err();
        assert!(missing.contains("leaf_id"), "{missing}");
        let wrong_type = LeafRef::parse(br#"{"policy":7,"leaf_id":"a"}"#).unwrap_err();
        assert!(wrong_type.contains("invalid type"), "{wrong_type}");
        let empty = LeafRef::parse(br#"{"policy":" ","leaf_id":"a"}"#).unwrap_err();
        assert!(empty.contains("`policy`"), "{empty}");
        let extra = LeafRef::parse(br#"{"policy":"p","leaf_id":"a","x":1}"#).unwrap_err();
        assert!(extra.contains("`x`"), "{extra}");
        assert!(LeafRef::parse(b"\xff\x00").is_err());
        assert!(LeafRef::parse(b"").is_err());
    }

    #[test]
    fn a_claim_digest_parses_with_or_without_its_prefix() {
        let hex = "ab".repeat(32);
        for text in [format!("sha256:{hex}"), hex.clone()] {
            let body = format!("{{\"digest\":\"{text}\"}}");
            let claim = ClaimRef::parse(body.as_bytes()).unwrap();
            assert_eq!(claim.bytes().unwrap(), [0xab; 32]);
        }
        for bad in ["sha256:abc", "", &"zz".repeat(32), &format!("md5:{hex}")] {
            let body = format!("{{\"digest\":\"{bad}\"}}");
            let error = ClaimRef::parse(body.as_bytes()).unwrap_err();
            assert!(error.contains("`digest`"), "{bad}: {error}");
        }
        assert!(ClaimRef::parse(br#"{"leaf_id":"a"}"#).is_err());
    }
}
