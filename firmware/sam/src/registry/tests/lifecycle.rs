//! Registry lifecycle tests: renewal, expiry, restart from stored bytes, token rotation,
//! and a property test of route admission over randomly enrolled claims.

use proptest::prelude::*;

use super::*;

#[test]
fn renewal_replaces_the_leafs_own_claim_and_frees_old_routes() {
    let mut registry = registry();
    accept(&mut registry, &request(subject(1), 1, NOW));
    let generation = registry.generation();
    let mut moved = subject(1);
    moved.owned = vec![net("198.51.100.50/32")];
    let renewed = registry
        .enroll(NOW + 100, &request(moved, 2, NOW + 100))
        .unwrap();
    assert_eq!(renewed.answer.expires_at, NOW + 100 + TTL);
    assert!(registry.generation() > generation);
    let session = Ipv4Addr::new(10, 255, 1, 1);
    assert_eq!(
        registry.admit(session, net("198.51.100.1/32")),
        Admission::Reject(RejectReason::NotOwned)
    );
    assert_eq!(
        registry.admit(session, net("198.51.100.50/32")),
        Admission::Accept
    );
    // The freed /32 can now be claimed by another leaf.
    let mut taker = subject(2);
    taker.owned = vec![net("198.51.100.1/32")];
    registry
        .enroll(NOW + 100, &request(taker, 3, NOW + 100))
        .unwrap();
    assert_eq!(registry.accepted_claims().count(), 2);
}

#[test]
fn expired_claims_are_dropped_and_sessions_become_unknown() {
    let mut registry = registry();
    accept(&mut registry, &request(subject(1), 1, NOW));
    assert_eq!(registry.next_deadline(), Some(NOW + TTL));
    assert!(registry.expire(NOW + TTL - 1).is_empty());
    let dropped = registry.expire(NOW + TTL);
    assert_eq!(
        dropped,
        vec![(
            PolicyName::new("sites").unwrap(),
            LeafId::new("leaf-1").unwrap()
        )]
    );
    assert_eq!(
        registry.admit(Ipv4Addr::new(10, 255, 1, 1), net("198.51.100.1/32")),
        Admission::Reject(RejectReason::UnknownSession)
    );
    assert_eq!(
        registry.next_deadline(),
        None,
        "nonce record forgotten with the claim"
    );
}

#[test]
fn restart_keeps_claims_nonces_and_revocations() {
    let mut registry = registry();
    let first = request(subject(1), 1, NOW);
    accept(&mut registry, &first);
    let second = request(subject(2), 2, NOW);
    let revoked = accept(&mut registry, &second);
    registry.revoke_claim(revoked.answer.claim_digest);
    let sites = PolicyName::new("sites").unwrap();
    registry
        .revoke_leaf(&sites, &LeafId::new("leaf-3").unwrap())
        .unwrap();
    let bytes = registry.to_bytes();

    let (restored, report) = Registry::from_bytes(vec![policy()], &bytes).unwrap();
    let mut restored =
        restored.with_limits(AttemptLimiter::new(1000, 1, 16), LogLimiter::default());
    assert!(report.dropped_claims.is_empty(), "{report:?}");
    assert_eq!(restored.to_bytes(), bytes, "restore is lossless");
    assert_eq!(
        restored.admit(Ipv4Addr::new(10, 255, 1, 1), net("198.51.100.1/32")),
        Admission::Accept,
        "sessions return without re-enrollment"
    );
    assert_refused(&mut restored, &first, Refusal::ReplayedNonce);
    assert_refused(&mut restored, &second, Refusal::RevokedClaim);
    assert_refused(
        &mut restored,
        &request(subject(3), 3, NOW),
        Refusal::RevokedLeaf,
    );
}

#[test]
fn restore_drops_claims_the_current_policy_no_longer_allows() {
    let mut registry = registry();
    accept(&mut registry, &request(subject(1), 1, NOW));
    accept(&mut registry, &request(subject(2), 2, NOW));
    let narrower = Policy {
        client_pools: vec![net("198.51.100.2/32")],
        ..policy()
    };
    let (restored, report) = Registry::from_bytes(vec![narrower], &registry.to_bytes()).unwrap();
    assert_eq!(
        report.dropped_claims,
        vec![(
            PolicyName::new("sites").unwrap(),
            LeafId::new("leaf-1").unwrap(),
            "owned-outside-pool"
        )]
    );
    assert_eq!(restored.accepted_claims().count(), 1);
    let (_, report) =
        Registry::from_bytes(vec![policy_named("renamed")], &registry.to_bytes()).unwrap();
    assert_eq!(report.dropped_claims.len(), 2);
}

#[test]
fn restore_rejects_corrupt_and_foreign_files() {
    assert!(matches!(
        Registry::from_bytes(vec![policy()], b"\x00garbage"),
        Err(RestoreError::Corrupt(_))
    ));
    let foreign = br#"{"format":"x","version":9,"claims":[],"nonces":[],"revoked_leaves":[],"revoked_digests":[]}"#;
    assert!(matches!(
        Registry::from_bytes(vec![policy()], foreign),
        Err(RestoreError::Version(..))
    ));
}

#[test]
fn token_rotation_accepts_old_and_new_and_answers_with_the_verifying_token() {
    let rotated = Policy {
        join_tokens: vec![other_token(), token()],
        ..policy()
    };
    let mut registry = Registry::new(vec![rotated]).unwrap();
    let old = request(subject(1), 1, NOW);
    let answer = registry.enroll(NOW, &old).unwrap();
    assert!(answer.verify(&token(), &old.claim.nonce));
    let new = Claim::new(subject(2), nonce(2), NOW)
        .sign(&other_token())
        .unwrap();
    let answer = registry.enroll(NOW, &new).unwrap();
    assert!(answer.verify(&other_token(), &new.claim.nonce));
}

fn host(n: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 51, 100, n), 32).unwrap()
}

proptest! {
    #[test]
    fn no_session_gets_a_route_its_claim_does_not_own(
        leaves in proptest::collection::vec((1u8..8, proptest::collection::vec(0u8..16, 0..4)), 1..8),
        announcements in proptest::collection::vec((1u8..8, 0u8..20, prop_oneof![Just(32u8), 0u8..=32]), 1..32),
    ) {
        let mut registry = registry();
        for (seed, (tunnel, hosts)) in (1u64..).zip(leaves) {
            let mut s = subject(u8::try_from(seed).unwrap());
            s.tunnel_address = Ipv4Addr::new(10, 255, 1, tunnel);
            s.owned = hosts.into_iter().map(host).collect();
            s.normalize();
            // Collisions and capacity make some enrollments fail; that is part of the test.
            let _ = registry.enroll(NOW, &request(s, seed, NOW));
        }
        for (tunnel, last, len) in announcements {
            let session = Ipv4Addr::new(10, 255, 1, tunnel);
            let prefix = Ipv4Net::new(Ipv4Addr::new(198, 51, 100, last), len).unwrap();
            let verdict = registry.admit(session, prefix);
            let claim = registry.claim_for_tunnel_address(session);
            if verdict == Admission::Accept {
                let claim = claim.expect("accepted only for a known session");
                prop_assert!(claim.subject().owned.contains(&prefix));
                prop_assert_eq!(prefix.prefix_len(), 32);
            }
            if let Some(claim) = claim {
                if claim.subject().owned.contains(&prefix) {
                    prop_assert_eq!(verdict, Admission::Accept);
                }
            } else {
                prop_assert_eq!(verdict, Admission::Reject(RejectReason::UnknownSession));
            }
        }
    }
}

#[test]
fn renewal_that_moves_the_tunnel_address_moves_the_session() {
    let mut registry = registry();
    accept(&mut registry, &request(subject(1), 1, NOW));
    let mut moved = subject(1);
    moved.tunnel_address = Ipv4Addr::new(10, 255, 2, 1);
    accept(&mut registry, &request(moved, 2, NOW));
    let route = net("198.51.100.1/32");
    assert_eq!(
        registry.admit(Ipv4Addr::new(10, 255, 1, 1), route),
        Admission::Reject(RejectReason::UnknownSession)
    );
    assert_eq!(
        registry.admit(Ipv4Addr::new(10, 255, 2, 1), route),
        Admission::Accept
    );
    // The old address is free for another leaf.
    let mut taker = subject(2);
    taker.tunnel_address = Ipv4Addr::new(10, 255, 1, 1);
    accept(&mut registry, &request(taker, 3, NOW));
    let (restored, _) = Registry::from_bytes(vec![policy()], &registry.to_bytes()).unwrap();
    for addr in [Ipv4Addr::new(10, 255, 1, 1), Ipv4Addr::new(10, 255, 2, 1)] {
        assert_eq!(
            restored
                .claim_for_tunnel_address(addr)
                .map(|c| &c.subject().leaf_id),
            registry
                .claim_for_tunnel_address(addr)
                .map(|c| &c.subject().leaf_id)
        );
    }
}
