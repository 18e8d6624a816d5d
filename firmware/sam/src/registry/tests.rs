//! Registry tests: acceptance and one test per refusal reason.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use super::*;
use crate::admission::RejectReason;
use crate::answer::Reply;
use crate::claim::{Claim, WireGuardKey};
use crate::fixtures::*;
use crate::token::Tag;

/// A registry whose per-source limit does not get in the way of many attempts.
pub(super) fn unlimited(policies: Vec<Policy>) -> Registry {
    Registry::new(policies)
        .unwrap()
        .with_limits(AttemptLimiter::new(1000, 1, 16), LogLimiter::default())
}

pub(super) fn registry() -> Registry {
    unlimited(vec![policy()])
}

/// Enrolls `request` and asserts it is refused for `reason`, counted once, with the
/// documented HTTP status and wire reason.
pub(super) fn assert_refused(registry: &mut Registry, request: &EnrollRequest, reason: Refusal) {
    let before = registry.counters().get(reason);
    let reply = registry.handle_http(NOW, source(), &request.to_json());
    assert_eq!(reply.status, reason.http_status(), "{reason:?}");
    match &reply.outcome {
        Outcome::Refused { refusal, .. } => assert_eq!(*refusal, reason),
        other => panic!("expected {reason:?}, got {other:?}"),
    }
    match Reply::from_json(&reply.body).unwrap() {
        Reply::Refused(body) => assert_eq!(body.refused, reason.wire_reason()),
        Reply::Answer(_) => panic!("refusal body parsed as an answer"),
    }
    assert_eq!(
        registry.counters().get(reason),
        before + 1,
        "{reason:?} counted once"
    );
}

/// A change to a valid subject and the refusal it must cause.
type Case = (fn(&mut ClaimSubject), Refusal);

pub(super) fn accept(registry: &mut Registry, request: &EnrollRequest) -> SignedAnswer {
    registry
        .enroll(NOW, request)
        .unwrap_or_else(|r| panic!("refused: {r:?}"))
}

#[test]
fn accepted_claim_is_answered_verifiably_and_indexed() {
    let mut registry = registry();
    let request = request(subject(1), 1, NOW);
    let reply = registry.handle_http(NOW, source(), &request.to_json());
    assert_eq!(reply.status, 200);
    let Reply::Answer(signed) = Reply::from_json(&reply.body).unwrap() else {
        panic!("not an answer")
    };
    assert!(signed.verify(&token(), &request.claim.nonce));
    assert!(
        !signed.verify(&token(), &nonce(2)),
        "answer is bound to the request nonce"
    );
    assert!(!signed.verify(&other_token(), &request.claim.nonce));
    let answer = &signed.answer;
    assert_eq!(answer.claim_digest, request.digest().unwrap());
    assert_eq!(answer.rr_set, rr_set());
    assert_eq!((answer.issued_at, answer.expires_at), (NOW, NOW + TTL));
    let claim = registry
        .claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
        .unwrap();
    assert_eq!(claim.subject(), &subject(1));
    assert_eq!(
        registry.admit(Ipv4Addr::new(10, 255, 1, 1), net("198.51.100.1/32")),
        Admission::Accept
    );
    let routes = registry.owned_routes_by_session();
    assert_eq!(
        routes[&Ipv4Addr::new(10, 255, 1, 1)],
        &[net("198.51.100.1/32")][..]
    );
    assert!(matches!(
        reply.outcome,
        Outcome::Accepted { renewal: false, .. }
    ));
}

#[test]
fn refused_rate_limited_per_source() {
    let mut registry =
        registry().with_limits(AttemptLimiter::new(1, 30, 16), LogLimiter::default());
    let first = registry.handle_http(NOW, source(), b"{}");
    assert_eq!(first.status, 400);
    assert_refused(
        &mut registry,
        &request(subject(1), 1, NOW),
        Refusal::RateLimited,
    );
    let reply = registry.handle_http(NOW, source(), b"{}");
    let Reply::Refused(body) = Reply::from_json(&reply.body).unwrap() else {
        panic!()
    };
    assert_eq!(body.retry_after_secs, Some(30));
    let other = registry.handle_http(NOW, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), b"{}");
    assert_eq!(other.status, 400, "another source is not limited");
}

#[test]
fn refusal_log_lines_are_rate_limited_per_reason() {
    let mut registry = Registry::new(vec![policy()])
        .unwrap()
        .with_limits(AttemptLimiter::new(1000, 1, 16), LogLimiter::new(2, 60));
    let decisions: Vec<_> = (0..4)
        .map(
            |_| match registry.handle_http(NOW, source(), b"x").outcome {
                Outcome::Refused { log, .. } => log,
                other => panic!("{other:?}"),
            },
        )
        .collect();
    use crate::refusal::LogDecision::{Log, Suppress};
    assert_eq!(
        decisions,
        [
            Log { suppressed: 0 },
            Log { suppressed: 0 },
            Suppress,
            Suppress
        ]
    );
    let later = registry.handle_http(NOW + 60, source(), b"x").outcome;
    assert!(matches!(
        later,
        Outcome::Refused {
            log: Log { suppressed: 2 },
            ..
        }
    ));
    assert_eq!(
        registry.counters().get(Refusal::Malformed),
        5,
        "all counted"
    );
}

#[test]
fn refused_malformed() {
    let mut registry = registry();
    for body in [
        &b"not json"[..],
        b"{}",
        b"{\"claim\":1,\"mac\":\"00\"}",
        &vec![b' '; 70_000],
    ] {
        let reply = registry.handle_http(NOW, source(), body);
        assert_eq!(reply.status, 400);
    }
    // Owned routes out of canonical order are refused before the MAC is even checked.
    let mut unsorted = subject(1);
    unsorted.owned = vec![net("198.51.100.9/32"), net("198.51.100.8/32")];
    let claim = Claim::new(unsorted, nonce(1), NOW);
    let body = serde_json::to_vec(&EnrollRequest {
        claim,
        mac: Tag([0; 32]),
    })
    .unwrap();
    let reply = registry.handle_http(NOW, source(), &body);
    assert_eq!(reply.status, 400);
    let Outcome::Refused {
        detail: Some(detail),
        ..
    } = reply.outcome
    else {
        panic!("malformed refusals carry a detail for the log")
    };
    assert!(detail.contains("sorted"), "{detail}");
    assert!(
        !String::from_utf8(reply.body).unwrap().contains("sorted"),
        "detail not sent"
    );
    assert_eq!(registry.counters().get(Refusal::Malformed), 5);
}

#[test]
fn refused_unknown_policy_and_bad_mac_look_alike() {
    let mut registry = registry();
    let mut stranger = subject(1);
    stranger.policy = PolicyName::new("nope").unwrap();
    let unknown = request(stranger, 1, NOW);
    assert_refused(&mut registry, &unknown, Refusal::UnknownPolicy);

    let mut tampered = request(subject(1), 2, NOW);
    tampered.claim.subject.owned = vec![net("198.51.100.200/32")];
    assert_refused(&mut registry, &tampered, Refusal::BadMac);
    let wrong_key = Claim::new(subject(1), nonce(3), NOW)
        .sign(&other_token())
        .unwrap();
    assert_refused(&mut registry, &wrong_key, Refusal::BadMac);

    let a = registry.handle_http(NOW, source(), &unknown.to_json());
    let b = registry.handle_http(NOW, source(), &tampered.to_json());
    assert_eq!(
        (a.status, &a.body),
        (b.status, &b.body),
        "no oracle for policy names"
    );
}

#[test]
fn refused_revoked_leaf_until_reinstated() {
    let mut registry = registry();
    accept(&mut registry, &request(subject(1), 1, NOW));
    let sites = PolicyName::new("sites").unwrap();
    let leaf = LeafId::new("leaf-1").unwrap();
    assert_eq!(registry.revoke_leaf(&sites, &leaf), Ok(true));
    assert!(
        registry
            .claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
            .is_none()
    );
    assert_refused(
        &mut registry,
        &request(subject(1), 2, NOW),
        Refusal::RevokedLeaf,
    );
    assert_eq!(registry.reinstate_leaf(&sites, &leaf), Ok(true));
    accept(&mut registry, &request(subject(1), 3, NOW));
}

#[test]
fn refused_revoked_claim_when_replayed() {
    let mut registry = registry();
    let original = request(subject(1), 1, NOW);
    let answer = accept(&mut registry, &original);
    assert!(registry.revoke_claim(answer.answer.claim_digest));
    assert!(
        registry
            .claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
            .is_none()
    );
    assert_refused(&mut registry, &original, Refusal::RevokedClaim);
    // The leaf id itself is not revoked: a fresh claim is accepted.
    accept(&mut registry, &request(subject(1), 2, NOW));
}

#[test]
fn refused_clock_skew_both_ways() {
    let mut registry = registry();
    assert_refused(
        &mut registry,
        &request(subject(1), 1, NOW - SKEW - 1),
        Refusal::ClockSkew,
    );
    assert_refused(
        &mut registry,
        &request(subject(1), 2, NOW + SKEW + 1),
        Refusal::ClockSkew,
    );
    accept(&mut registry, &request(subject(1), 3, NOW - SKEW));
}

#[test]
fn refused_replayed_nonce() {
    let mut registry = registry();
    let original = request(subject(1), 1, NOW);
    accept(&mut registry, &original);
    assert_refused(&mut registry, &original, Refusal::ReplayedNonce);
    let mut other = subject(2);
    other.owned = vec![net("198.51.100.2/32")];
    assert_refused(
        &mut registry,
        &request(other, 1, NOW),
        Refusal::ReplayedNonce,
    );
}

#[test]
fn refused_older_than_current_claim() {
    let mut registry = registry();
    // An on-path attacker holds back the leaf's first request; the leaf retries with a
    // newer one, which is accepted; the delayed one must not roll the claim back.
    let delayed = request(subject(1), 1, NOW - 20);
    let mut newer = subject(1);
    newer.owned = vec![net("198.51.100.60/32")];
    accept(&mut registry, &request(newer.clone(), 2, NOW - 10));
    assert_refused(&mut registry, &delayed, Refusal::OlderThanCurrent);
    let claim = registry
        .claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
        .unwrap();
    assert_eq!(claim.subject(), &newer);
    // The same second is fine (a leaf may renew twice within one second).
    accept(&mut registry, &request(subject(1), 3, NOW - 10));
}

#[test]
fn refused_nonce_is_recorded_even_when_the_claim_is_refused() {
    let mut registry = registry();
    let mut outside = subject(1);
    outside.tunnel_address = Ipv4Addr::new(10, 99, 0, 1);
    let bad = request(outside, 1, NOW);
    assert_refused(&mut registry, &bad, Refusal::TunnelOutsidePrefix);
    assert_refused(&mut registry, &bad, Refusal::ReplayedNonce);
    // A refused request's nonce is kept only while its timestamp is inside the window:
    // at the window's edge it is still refused, one second later the clock check is.
    let edge = NOW + SKEW;
    assert_eq!(registry.enroll(edge, &bad), Err(Refusal::ReplayedNonce));
    registry.expire(edge + 1);
    assert_eq!(registry.enroll(edge + 1, &bad), Err(Refusal::ClockSkew));
    assert_eq!(registry.next_deadline(), None, "nothing left to remember");
}

#[test]
fn refused_fields_outside_the_policy() {
    let mut registry = unlimited(vec![Policy {
        require_wireguard: true,
        ..policy()
    }]);
    let cases: [Case; 9] = [
        (
            |s| s.tunnel_address = Ipv4Addr::new(10, 254, 0, 1),
            Refusal::TunnelOutsidePrefix,
        ),
        (
            |s| s.wireguard_address = Some(Ipv4Addr::new(192, 0, 2, 7)),
            Refusal::WireGuardAddressOutsidePrefix,
        ),
        (
            |s| s.wireguard_address = Some(Ipv4Addr::new(198, 51, 100, 200)),
            Refusal::WireGuardAddressOutsidePrefix,
        ),
        (
            |s| s.wireguard_address = Some(Ipv4Addr::new(10, 255, 9, 9)),
            Refusal::WireGuardAddressOutsidePrefix,
        ),
        (
            |s| s.underlay_endpoint = Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 51820)),
            Refusal::EndpointOutsidePrefix,
        ),
        (
            |s| s.owned = vec![net("198.51.100.0/31")],
            Refusal::OwnedNotHost32,
        ),
        (
            |s| s.owned = vec![net("198.51.100.1/32"), net("203.0.113.5/32")],
            Refusal::OwnedOutsidePool,
        ),
        (|s| s.asn = 65001, Refusal::AsnMismatch),
        (
            |s| {
                s.wireguard_key = None;
                s.wireguard_address = None;
            },
            Refusal::WireGuardKeyMissing,
        ),
    ];
    for (seed, (mutate, reason)) in (1..).zip(cases) {
        let mut s = subject(1);
        mutate(&mut s);
        assert_refused(&mut registry, &request(s, seed, NOW), reason);
    }
    let mut nat = subject(1);
    nat.underlay_endpoint = None;
    accept(&mut registry, &request(nat, 99, NOW));
}

#[test]
fn refused_leaf_id_held_under_another_policy() {
    let mut registry = unlimited(vec![policy(), policy_named("other")]);
    accept(&mut registry, &request(subject(1), 1, NOW));
    let mut elsewhere = subject(2);
    elsewhere.leaf_id = LeafId::new("leaf-1").unwrap();
    elsewhere.policy = PolicyName::new("other").unwrap();
    assert_refused(
        &mut registry,
        &request(elsewhere, 2, NOW),
        Refusal::LeafIdInUse,
    );
}

#[test]
fn refused_collisions_with_other_leaves_and_rrs() {
    let mut registry = registry();
    accept(&mut registry, &request(subject(1), 1, NOW));
    let cases: [Case; 9] = [
        (
            |s| s.tunnel_address = Ipv4Addr::new(10, 255, 1, 1),
            Refusal::TunnelAddressInUse,
        ),
        (
            |s| s.wireguard_address = Some(Ipv4Addr::new(10, 254, 1, 1)),
            Refusal::WireGuardAddressInUse,
        ),
        (
            |s| s.wireguard_address = Some(Ipv4Addr::new(10, 254, 0, 2)),
            Refusal::WireGuardAddressInUse,
        ),
        (
            |s| s.tunnel_address = Ipv4Addr::new(10, 255, 0, 1),
            Refusal::TunnelAddressInUse,
        ),
        (
            |s| s.wireguard_key = Some(WireGuardKey([1; 32])),
            Refusal::WireGuardKeyInUse,
        ),
        (
            |s| s.wireguard_key = Some(WireGuardKey([0xa2; 32])),
            Refusal::WireGuardKeyInUse,
        ),
        (
            |s| s.owned = vec![net("198.51.100.1/32"), net("198.51.100.2/32")],
            Refusal::OwnedRouteInUse,
        ),
        (
            |s| s.router_id = Ipv4Addr::new(10, 255, 1, 1),
            Refusal::RouterIdInUse,
        ),
        (
            |s| s.router_id = Ipv4Addr::new(10, 255, 0, 2),
            Refusal::RouterIdInUse,
        ),
    ];
    for (seed, (mutate, reason)) in (10..).zip(cases) {
        let mut s = subject(2);
        mutate(&mut s);
        assert_refused(&mut registry, &request(s, seed, NOW), reason);
    }
    // leaf-1 is untouched by all these attempts.
    let claim = registry
        .claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
        .unwrap();
    assert_eq!(claim.subject(), &subject(1));
}

#[test]
fn refused_too_many_leaves_but_renewal_still_accepted() {
    let mut registry = registry();
    for n in 1..=3 {
        accept(&mut registry, &request(subject(n), u64::from(n), NOW));
    }
    assert_refused(
        &mut registry,
        &request(subject(4), 4, NOW),
        Refusal::TooManyLeaves,
    );
    let reply = registry.handle_http(
        NOW + 10,
        source(),
        &request(subject(2), 22, NOW + 10).to_json(),
    );
    assert_eq!(reply.status, 200);
    assert!(matches!(
        reply.outcome,
        Outcome::Accepted { renewal: true, .. }
    ));
}

#[test]
fn invalid_policies_are_refused() {
    assert!(matches!(
        Registry::new(vec![policy(), policy()]),
        Err(PolicyError::DuplicateName(_))
    ));
    let overlapping = Policy {
        client_pools: vec![net("10.255.0.0/24")],
        ..policy()
    };
    assert!(matches!(
        Registry::new(vec![overlapping]),
        Err(PolicyError::PoolOverlapsTunnel(..))
    ));
    let short = Policy {
        claim_ttl_secs: 500,
        max_clock_skew_secs: 300,
        ..policy()
    };
    assert!(matches!(
        Registry::new(vec![short]),
        Err(PolicyError::Ttl(_))
    ));
    let mut no_wg = policy();
    no_wg.require_wireguard = true;
    no_wg.rr_set.route_reflectors[1].wireguard_key = None;
    assert!(matches!(
        Registry::new(vec![no_wg]),
        Err(PolicyError::RrWithoutWireGuard(_))
    ));
    let mut no_wg_address = policy();
    no_wg_address.require_wireguard = true;
    no_wg_address.rr_set.route_reflectors[0].wireguard_address = None;
    assert!(matches!(
        Registry::new(vec![no_wg_address]),
        Err(PolicyError::RrWithoutWireGuard(_))
    ));
    let wg_in_pool = Policy {
        wireguard_prefixes: vec![net("198.51.100.128/25")],
        ..policy()
    };
    assert!(matches!(
        Registry::new(vec![wg_in_pool]),
        Err(PolicyError::WireGuardOverlaps(..))
    ));
}

#[test]
fn every_refusal_reason_is_covered_by_a_test_above() {
    // Keeps this file honest when a variant is added: the list below must name them all.
    let covered = [
        Refusal::RateLimited,
        Refusal::Malformed,
        Refusal::UnknownPolicy,
        Refusal::BadMac,
        Refusal::RevokedLeaf,
        Refusal::RevokedClaim,
        Refusal::ClockSkew,
        Refusal::ReplayedNonce,
        Refusal::OlderThanCurrent,
        Refusal::TunnelOutsidePrefix,
        Refusal::EndpointOutsidePrefix,
        Refusal::OwnedNotHost32,
        Refusal::OwnedOutsidePool,
        Refusal::AsnMismatch,
        Refusal::WireGuardKeyMissing,
        Refusal::WireGuardAddressOutsidePrefix,
        Refusal::LeafIdInUse,
        Refusal::TunnelAddressInUse,
        Refusal::WireGuardKeyInUse,
        Refusal::WireGuardAddressInUse,
        Refusal::OwnedRouteInUse,
        Refusal::RouterIdInUse,
        Refusal::TooManyLeaves,
    ];
    assert_eq!(covered, Refusal::ALL);
}

mod lifecycle;
