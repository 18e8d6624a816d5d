//! Leaf state machine tests, run against real registries acting as RRs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;
use crate::fixtures::*;
use crate::limiter::AttemptLimiter;
use crate::refusal::LogLimiter;
use crate::registry::Registry;

fn endpoint(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)), 8443)
}

fn rr() -> Registry {
    Registry::new(vec![policy()])
        .unwrap()
        .with_limits(AttemptLimiter::new(1000, 1, 16), LogLimiter::default())
}

fn config(endpoints: usize) -> LeafConfig {
    let endpoints = (1..=endpoints)
        .map(|n| endpoint(u8::try_from(n).unwrap()))
        .collect();
    LeafConfig::new(subject(1), token(), endpoints)
}

/// Fresh entropy for each call, as the daemon's random source would give.
fn entropy(counter: &mut u64) -> [u8; 16] {
    *counter += 1;
    nonce(*counter).0
}

fn drain(leaf: &mut Leaf) -> Vec<LeafOutput> {
    std::iter::from_fn(|| leaf.poll_output()).collect()
}

/// Runs the leaf at `now` until nothing is due, delivering each request to the RR with
/// the matching endpoint (`None`: that RR is unreachable). Returns every output seen.
fn run(
    leaf: &mut Leaf,
    rrs: &mut [Option<&mut Registry>],
    now: u64,
    seed: &mut u64,
) -> Vec<LeafOutput> {
    let mut seen = Vec::new();
    for _ in 0..10 {
        leaf.handle_timeout(now, entropy(seed));
        let outputs = drain(leaf);
        if outputs.is_empty() {
            break;
        }
        for output in outputs {
            if let LeafOutput::Transmit { to, request } = &output {
                let index = usize::from(
                    to.ip()
                        .to_string()
                        .rsplit('.')
                        .next()
                        .unwrap()
                        .parse::<u8>()
                        .unwrap(),
                ) - 1;
                match rrs[index].as_deref_mut() {
                    Some(rr) => {
                        let reply = rr.handle_http(
                            now,
                            IpAddr::V4(Ipv4Addr::new(203, 0, 113, 101)),
                            request,
                        );
                        let _ = leaf.handle_response(now, &reply.body);
                    }
                    None => leaf.handle_failure(now),
                }
                seen.extend(drain(leaf));
            }
            seen.push(output);
        }
    }
    seen
}

fn stored(outputs: &[LeafOutput]) -> Option<Vec<u8>> {
    outputs.iter().rev().find_map(|o| match o {
        LeafOutput::Store { state } => Some(state.clone()),
        _ => None,
    })
}

fn applied(outputs: &[LeafOutput]) -> Vec<RrSet> {
    outputs
        .iter()
        .filter_map(|o| match o {
            LeafOutput::Apply { rr_set } => Some(rr_set.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn enrolls_with_every_rr_then_is_ready() {
    let (mut a, mut b) = (rr(), rr());
    let mut leaf = Leaf::new(config(2), None).unwrap();
    let mut seed = 0;
    assert_eq!(leaf.state(NOW), LeafState::Unenrolled);
    assert_eq!(leaf.poll_timeout(), Some(0), "due at once");

    leaf.handle_timeout(NOW, entropy(&mut seed));
    let first = drain(&mut leaf);
    assert!(matches!(&first[..], [LeafOutput::Transmit { to, .. }] if *to == endpoint(1)));
    assert_eq!(leaf.state(NOW), LeafState::Enrolling);
    let LeafOutput::Transmit { request, .. } = &first[0] else {
        unreachable!()
    };
    let reply = a.handle_http(NOW, source(), request);
    leaf.handle_response(NOW, &reply.body).unwrap();
    let outputs = drain(&mut leaf);
    assert_eq!(applied(&outputs), vec![rr_set()]);
    assert!(stored(&outputs).is_some());
    assert_eq!(leaf.state(NOW), LeafState::Ready);

    let outputs = run(&mut leaf, &mut [Some(&mut a), Some(&mut b)], NOW, &mut seed);
    assert!(
        applied(&outputs).is_empty(),
        "same RR set from the second RR: no re-apply"
    );
    for rr in [&a, &b] {
        assert!(
            rr.claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
                .is_some()
        );
    }
    assert_eq!(
        leaf.poll_timeout(),
        Some(NOW + TTL * 2 / 3),
        "renewal at 2/3 of the TTL"
    );
}

#[test]
fn renews_before_expiry_with_a_fresh_nonce() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    run(&mut leaf, &mut [Some(&mut a)], NOW, &mut seed);
    let first_digest = a.accepted_claims().next().unwrap().1.digest;
    let renew_at = leaf.poll_timeout().unwrap();
    assert_eq!(renew_at, NOW + 2400);
    assert!(
        run(&mut leaf, &mut [Some(&mut a)], renew_at - 1, &mut seed).is_empty(),
        "nothing early"
    );
    let outputs = run(&mut leaf, &mut [Some(&mut a)], renew_at, &mut seed);
    assert!(stored(&outputs).is_some());
    let renewed = a.accepted_claims().next().unwrap().1;
    assert_ne!(renewed.digest, first_digest);
    assert_eq!(renewed.expires_at, renew_at + TTL);
    assert_eq!(leaf.expires_at(), Some(renew_at + TTL));
    assert_eq!(
        a.counters().by_reason().values().sum::<u64>(),
        0,
        "no refusals"
    );
}

#[test]
fn expiry_without_rrs_goes_stale_and_keeps_the_rr_set() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    run(&mut leaf, &mut [Some(&mut a)], NOW, &mut seed);
    let mut now = NOW;
    let mut failures = 0;
    while now < NOW + TTL + 600 {
        now = leaf.poll_timeout().unwrap().max(now + 1);
        let outputs = run(&mut leaf, &mut [None], now, &mut seed);
        assert!(
            applied(&outputs).is_empty(),
            "nothing is torn down or replaced"
        );
        failures += outputs
            .iter()
            .filter(|o| matches!(o, LeafOutput::Transmit { .. }))
            .count();
    }
    assert!(failures >= 5, "kept retrying ({failures} attempts)");
    assert_eq!(leaf.state(now), LeafState::Stale);
    assert_eq!(leaf.rr_set(), Some(&rr_set()), "fail-static");
    // The RR returns: the next attempt succeeds and the leaf is ready again.
    let now = leaf.poll_timeout().unwrap();
    run(&mut leaf, &mut [Some(&mut a)], now, &mut seed);
    assert_eq!(leaf.state(now), LeafState::Ready);
}

#[test]
fn failures_back_off_exponentially_up_to_the_cap() {
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    let mut now = NOW;
    let mut delays = Vec::new();
    for _ in 0..9 {
        leaf.handle_timeout(now, entropy(&mut seed));
        assert!(matches!(
            drain(&mut leaf)[..],
            [LeafOutput::Transmit { .. }]
        ));
        leaf.handle_failure(now);
        let next = leaf.poll_timeout().unwrap();
        delays.push(next - now);
        now = next;
    }
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(leaf.failures(), vec![(endpoint(1), 9)]);
    assert_eq!(leaf.state(now), LeafState::Unenrolled);
}

#[test]
fn unanswered_request_fails_at_its_deadline() {
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    leaf.handle_timeout(NOW, entropy(&mut seed));
    drain(&mut leaf);
    assert_eq!(leaf.poll_timeout(), Some(NOW + 20));
    leaf.handle_timeout(NOW + 20, entropy(&mut seed));
    assert!(
        drain(&mut leaf).is_empty(),
        "the retry waits for the backoff"
    );
    assert_eq!(leaf.failures(), vec![(endpoint(1), 1)]);
    assert_eq!(leaf.poll_timeout(), Some(NOW + 25));
}

#[test]
fn tampered_answer_is_refused_and_not_adopted() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    leaf.handle_timeout(NOW, entropy(&mut seed));
    let [LeafOutput::Transmit { request, .. }] = &drain(&mut leaf)[..] else {
        panic!()
    };
    let reply = a.handle_http(NOW, source(), request);
    let text = String::from_utf8(reply.body).unwrap();
    // An on-path attacker redirects the leaf's tunnels to its own endpoint.
    let forged = text.replacen("203.0.113.1:51820", "192.0.2.66:51820", 1);
    assert_ne!(forged, text);
    assert_eq!(
        leaf.handle_response(NOW, forged.as_bytes()),
        Err(LeafError::BadMac)
    );
    assert!(drain(&mut leaf).is_empty(), "nothing applied or stored");
    assert_eq!(leaf.rr_set(), None);
    assert_eq!(leaf.failures(), vec![(endpoint(1), 1)]);
}

#[test]
fn answer_to_an_earlier_request_is_refused() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    leaf.handle_timeout(NOW, entropy(&mut seed));
    let [LeafOutput::Transmit { request, .. }] = &drain(&mut leaf)[..] else {
        panic!()
    };
    let old_reply = a.handle_http(NOW, source(), request);
    leaf.handle_failure(NOW);
    leaf.handle_timeout(NOW + 5, entropy(&mut seed));
    drain(&mut leaf);
    assert_eq!(
        leaf.handle_response(NOW + 5, &old_reply.body),
        Err(LeafError::BadMac)
    );
    assert_eq!(leaf.rr_set(), None);
}

#[test]
fn refusal_is_reported_and_retried() {
    let mut a = rr();
    let mut wrong = config(1);
    wrong.subject.asn = 64999;
    let mut leaf = Leaf::new(wrong, None).unwrap();
    leaf.handle_timeout(NOW, nonce(1).0);
    let [LeafOutput::Transmit { request, .. }] = &drain(&mut leaf)[..] else {
        panic!()
    };
    let reply = a.handle_http(NOW, source(), request);
    assert_eq!(
        leaf.handle_response(NOW, &reply.body),
        Err(LeafError::Refused("asn-mismatch".to_owned()))
    );
    assert_eq!(leaf.poll_timeout(), Some(NOW + 5));
    assert_eq!(
        leaf.handle_response(NOW, &reply.body),
        Err(LeafError::NoRequestInFlight)
    );
}

#[test]
fn restart_from_stored_state_applies_at_once_and_keeps_the_schedule() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    let outputs = run(&mut leaf, &mut [Some(&mut a)], NOW, &mut seed);
    let bytes = stored(&outputs).unwrap();

    let mut restarted = Leaf::new(config(1), Some(&bytes)).unwrap();
    assert_eq!(restarted.restore_outcome(), &RestoreOutcome::Restored);
    assert_eq!(applied(&drain(&mut restarted)), vec![rr_set()]);
    assert_eq!(restarted.state(NOW + 10), LeafState::Ready);
    assert_eq!(
        restarted.poll_timeout(),
        Some(NOW + 2400),
        "no re-enrollment before renewal"
    );
    restarted.handle_timeout(NOW + 10, entropy(&mut seed));
    assert!(drain(&mut restarted).is_empty());
    assert_eq!(restarted.to_bytes(), leaf.to_bytes());
}

#[test]
fn restart_of_both_sides_needs_no_re_enrollment_and_renewal_still_works() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    let outputs = run(&mut leaf, &mut [Some(&mut a)], NOW, &mut seed);
    let leaf_bytes = stored(&outputs).unwrap();
    let first_request = a.accepted_claims().next().unwrap().1.request.clone();
    let rr_bytes = a.to_bytes();

    let (a, report) = Registry::from_bytes(vec![policy()], &rr_bytes).unwrap();
    assert!(report.dropped_claims.is_empty());
    let mut a = a.with_limits(AttemptLimiter::new(1000, 1, 16), LogLimiter::default());
    let mut leaf = Leaf::new(config(1), Some(&leaf_bytes)).unwrap();
    assert!(
        a.claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
            .is_some()
    );
    assert_eq!(leaf.state(NOW + 60), LeafState::Ready);
    // A replay of the leaf's first request is still refused after the RR restart.
    assert_eq!(
        a.enroll(NOW + 60, &first_request),
        Err(crate::Refusal::ReplayedNonce)
    );
    let renew_at = leaf.poll_timeout().unwrap();
    run(&mut leaf, &mut [Some(&mut a)], renew_at, &mut seed);
    assert_eq!(leaf.expires_at(), Some(renew_at + TTL));
}

#[test]
fn changed_claim_keeps_the_rr_set_and_re_enrolls_at_once() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    let bytes = stored(&run(&mut leaf, &mut [Some(&mut a)], NOW, &mut seed)).unwrap();
    let mut changed = config(1);
    changed.subject.owned.push(net("198.51.100.77/32"));
    let mut leaf = Leaf::new(changed, Some(&bytes)).unwrap();
    assert_eq!(leaf.restore_outcome(), &RestoreOutcome::ClaimChanged);
    assert_eq!(applied(&drain(&mut leaf)), vec![rr_set()]);
    assert_eq!(leaf.poll_timeout(), Some(0));
    run(&mut leaf, &mut [Some(&mut a)], NOW + 30, &mut seed);
    let claim = a
        .claim_for_tunnel_address(Ipv4Addr::new(10, 255, 1, 1))
        .unwrap();
    assert_eq!(claim.subject().owned.len(), 2);
}

#[test]
fn tampered_or_foreign_stored_state_is_discarded() {
    let mut a = rr();
    let mut leaf = Leaf::new(config(1), None).unwrap();
    let mut seed = 0;
    let bytes = stored(&run(&mut leaf, &mut [Some(&mut a)], NOW, &mut seed)).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let tampered = text.replacen("203.0.113.2:51820", "192.0.2.66:51820", 1);
    assert_ne!(tampered, text);
    let mut leaf = Leaf::new(config(1), Some(tampered.as_bytes())).unwrap();
    assert!(matches!(
        leaf.restore_outcome(),
        RestoreOutcome::Discarded(_)
    ));
    assert!(drain(&mut leaf).is_empty());
    assert_eq!(leaf.state(NOW), LeafState::Unenrolled);

    let other = LeafConfig {
        join_token: other_token(),
        ..config(1)
    };
    let leaf = Leaf::new(other, Some(&bytes)).unwrap();
    assert!(matches!(
        leaf.restore_outcome(),
        RestoreOutcome::Discarded(_)
    ));
    let leaf = Leaf::new(config(1), Some(b"\xff")).unwrap();
    assert!(matches!(
        leaf.restore_outcome(),
        RestoreOutcome::Discarded(_)
    ));
}

#[test]
fn request_renewal_makes_every_endpoint_due() {
    let (mut a, mut b) = (rr(), rr());
    let mut leaf = Leaf::new(config(2), None).unwrap();
    let mut seed = 0;
    run(&mut leaf, &mut [Some(&mut a), Some(&mut b)], NOW, &mut seed);
    leaf.request_renewal(NOW + 100);
    assert_eq!(leaf.poll_timeout(), Some(NOW + 100));
    let outputs = run(
        &mut leaf,
        &mut [Some(&mut a), Some(&mut b)],
        NOW + 100,
        &mut seed,
    );
    let sent = outputs
        .iter()
        .filter(|o| matches!(o, LeafOutput::Transmit { .. }))
        .count();
    assert_eq!(sent, 2);
}

#[test]
fn invalid_configs_are_refused() {
    assert_eq!(
        Leaf::new(
            LeafConfig {
                endpoints: vec![],
                ..config(1)
            },
            None
        )
        .unwrap_err(),
        LeafConfigError::NoEndpoints
    );
    assert_eq!(
        Leaf::new(
            LeafConfig {
                retry_min_secs: 0,
                ..config(1)
            },
            None
        )
        .unwrap_err(),
        LeafConfigError::Timing
    );
    let mut huge = config(1);
    huge.subject.owned = (0..=crate::claim::MAX_OWNED_ROUTES as u32)
        .map(|i| ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).unwrap())
        .collect();
    assert!(matches!(
        Leaf::new(huge, None),
        Err(LeafConfigError::Claim(_))
    ));
}

#[test]
fn rrs_that_list_only_themselves_are_merged_into_one_set() {
    let only = |n: usize| {
        let mut p = policy();
        p.rr_set.route_reflectors = vec![rr_set().route_reflectors[n].clone()];
        Registry::new(vec![p])
            .unwrap()
            .with_limits(AttemptLimiter::new(1000, 1, 16), LogLimiter::default())
    };
    let (mut a, mut b) = (only(0), only(1));
    let mut leaf = Leaf::new(config(2), None).unwrap();
    let mut seed = 0;
    let outputs = run(&mut leaf, &mut [Some(&mut a), Some(&mut b)], NOW, &mut seed);
    let sets = applied(&outputs);
    assert_eq!(sets.len(), 2);
    assert_eq!(
        sets[0].route_reflectors,
        vec![rr_set().route_reflectors[0].clone()]
    );
    assert_eq!(sets[1], rr_set(), "union of both answers");
    assert_eq!(leaf.rr_set(), Some(&rr_set()));

    // Renewals with unchanged answers apply nothing; a restart restores the union.
    let renew_at = leaf.poll_timeout().unwrap();
    let outputs = run(
        &mut leaf,
        &mut [Some(&mut a), Some(&mut b)],
        renew_at,
        &mut seed,
    );
    assert!(applied(&outputs).is_empty());
    let restarted = Leaf::new(config(2), Some(&stored(&outputs).unwrap())).unwrap();
    assert_eq!(restarted.rr_set(), Some(&rr_set()));
    assert_eq!(restarted.claim_digest(), leaf.claim_digest());
}
