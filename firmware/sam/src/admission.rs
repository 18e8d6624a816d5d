//! Route admission on the RR: which /32s a leaf's BGP session may announce.
//!
//! [`admit_route`] is a pure function of the claim behind the session (found by the
//! session's tunnel address, see [`crate::Registry::claim_for_tunnel_address`]), the
//! policy's client pools and the announced prefix. It accepts exactly the /32s the claim
//! owns and that lie in a pool; everything else is rejected with a reason whose string
//! the BGP speaker uses as its counter name. Checks run in this order: unknown session,
//! not a /32, outside the pools, not owned. The RR applies the same verdict before
//! reflecting, so a route a leaf does not own never reaches another leaf.

use ipnet::Ipv4Net;

use crate::claim::ClaimSubject;

/// Why a route was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// The /32 is in a pool but the session's claim does not own it.
    NotOwned,
    /// The prefix lies outside every client pool of the claim's policy.
    OutsidePool,
    /// The prefix is not a /32.
    NotHost32,
    /// No accepted claim has the session's tunnel address.
    UnknownSession,
}

impl RejectReason {
    /// Every reason, in counter order.
    pub const ALL: [RejectReason; 4] = [
        RejectReason::NotOwned,
        RejectReason::OutsidePool,
        RejectReason::NotHost32,
        RejectReason::UnknownSession,
    ];

    /// The stable counter name: `not-owned`, `outside-pool`, `not-a-32`, `unknown-session`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotOwned => "not-owned",
            RejectReason::OutsidePool => "outside-pool",
            RejectReason::NotHost32 => "not-a-32",
            RejectReason::UnknownSession => "unknown-session",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict for one announced prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Install and reflect the route.
    Accept,
    /// Drop the route and count the reason.
    Reject(RejectReason),
}

/// Decides whether the session whose claim is `claim` (`None`: no accepted claim) may
/// announce `prefix`, given the claim policy's client `pools`.
///
/// Accepts only when `prefix` is a /32 inside a pool that appears in `claim.owned`.
/// `claim.owned` is searched with a binary search: accepted claims keep it strictly
/// ascending. An unsorted list can only cause a false rejection, never an acceptance of
/// a route the claim does not list.
pub fn admit_route(claim: Option<&ClaimSubject>, pools: &[Ipv4Net], prefix: Ipv4Net) -> Admission {
    let Some(claim) = claim else {
        return Admission::Reject(RejectReason::UnknownSession);
    };
    if prefix.prefix_len() != 32 {
        return Admission::Reject(RejectReason::NotHost32);
    }
    if !pools.iter().any(|pool| pool.contains(&prefix)) {
        return Admission::Reject(RejectReason::OutsidePool);
    }
    match claim.owned.binary_search(&prefix) {
        Ok(_) => Admission::Accept,
        Err(_) => Admission::Reject(RejectReason::NotOwned),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::fixtures::{net, subject};

    #[test]
    fn verdicts_and_reason_names() {
        let claim = subject(1);
        let pools = [net("198.51.100.0/24")];
        let verdict = |prefix| admit_route(Some(&claim), &pools, net(prefix));
        assert_eq!(verdict("198.51.100.1/32"), Admission::Accept);
        assert_eq!(
            verdict("198.51.100.2/32"),
            Admission::Reject(RejectReason::NotOwned)
        );
        assert_eq!(
            verdict("192.0.2.1/32"),
            Admission::Reject(RejectReason::OutsidePool)
        );
        assert_eq!(
            verdict("198.51.100.0/24"),
            Admission::Reject(RejectReason::NotHost32)
        );
        assert_eq!(
            verdict("0.0.0.0/0"),
            Admission::Reject(RejectReason::NotHost32)
        );
        assert_eq!(
            admit_route(None, &pools, net("198.51.100.1/32")),
            Admission::Reject(RejectReason::UnknownSession)
        );
        let names: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            ["not-owned", "outside-pool", "not-a-32", "unknown-session"]
        );
    }

    fn small_net() -> impl Strategy<Value = Ipv4Net> {
        // A narrow address space so random claims and announcements collide often.
        (0u32..64, prop_oneof![Just(32u8), 24u8..=32, 0u8..=32])
            .prop_map(|(host, len)| Ipv4Net::new(Ipv4Addr::from(0xc633_6400 + host), len).unwrap())
    }

    proptest! {
        #[test]
        fn never_accepts_a_prefix_the_claim_does_not_own(
            owned in proptest::collection::vec(small_net(), 0..8),
            sort in any::<bool>(),
            pools in proptest::collection::vec(small_net(), 0..3),
            announced in small_net(),
        ) {
            let mut claim = subject(1);
            claim.owned = owned;
            if sort {
                claim.normalize();
            }
            let verdict = admit_route(Some(&claim), &pools, announced);
            if verdict == Admission::Accept {
                prop_assert_eq!(announced.prefix_len(), 32);
                prop_assert!(claim.owned.contains(&announced));
                prop_assert!(pools.iter().any(|p| p.contains(&announced)));
            }
            if sort && announced.prefix_len() == 32
                && claim.owned.contains(&announced)
                && pools.iter().any(|p| p.contains(&announced))
            {
                prop_assert_eq!(verdict, Admission::Accept);
            }
            prop_assert_eq!(
                admit_route(None, &pools, announced),
                Admission::Reject(RejectReason::UnknownSession)
            );
        }
    }
}
