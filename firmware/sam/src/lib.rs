//! SAM enrollment, sans-IO: leaf claims, RR admission of claims and routes, and
//! authenticated RR sets.
//!
//! Two sides share this crate:
//! - The RR holds a [`Registry`] built from its [`Policy`]s. The daemon feeds it the body
//!   of every `POST /v1/enroll` with [`Registry::handle_http`] and sends back the
//!   [`HttpReply`]; it persists [`Registry::to_bytes`] whenever [`Registry::generation`]
//!   changes, and asks [`Registry::admit`] about every route a leaf announces.
//! - The leaf runs a [`Leaf`] state machine: the daemon drains [`Leaf::poll_output`]
//!   (send a request, store state, apply an RR set), reports replies with
//!   [`Leaf::handle_response`] / [`Leaf::handle_failure`], and calls
//!   [`Leaf::handle_timeout`] at [`Leaf::poll_timeout`] with fresh random bytes.
//!
//! Nothing here opens sockets, reads clocks or files, or draws random numbers: time
//! comes in as unix seconds and randomness as bytes. Every message that crosses the
//! underlay is authenticated with HMAC-SHA256 under the policy's join token over a
//! canonical binary encoding ([`Claim::canonical_bytes`], [`Answer::canonical_bytes`]);
//! nothing depends on the secrecy of the channel. `docs/sam.md` is the protocol
//! reference.

pub mod admission;
pub mod answer;
mod canonical;
pub mod claim;
#[cfg(test)]
mod fixtures;
pub mod hex;
pub mod leaf;
pub mod limiter;
pub mod names;
pub mod policy;
pub mod refusal;
pub mod registry;
pub mod token;

pub use admission::{Admission, RejectReason, admit_route};
pub use answer::{Answer, RefusalBody, Reply, RrNode, RrSet, SignedAnswer};
pub use claim::{Claim, ClaimDigest, ClaimSubject, EnrollRequest, Nonce, WireGuardKey};
pub use leaf::{Leaf, LeafConfig, LeafOutput, LeafState};
pub use limiter::AttemptLimiter;
pub use names::{LeafId, PolicyName};
pub use policy::Policy;
pub use refusal::{LogDecision, LogLimiter, Refusal, RefusalCounters};
pub use registry::{AcceptedClaim, HttpReply, Outcome, Registry};
pub use token::{JoinToken, Tag};
