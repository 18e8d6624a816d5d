//! Property: guessing the join token from one source is slowed to the limiter's rate
//! and leaves a bounded trail in the log, while other sources are not held up.
//!
//! Each guess is a well-formed enrollment request whose MAC was made with a random
//! wrong token (what someone without the token can send), passed through
//! [`Registry::handle_http`] as the daemon calls it: the first `BURST` guesses from a
//! source get `401` (bad MAC), every further one within the same refill period `429`
//! with a retry hint; a second source still gets its own answers; log lines per reason
//! stay within the log limiter's allowance.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use proptest::prelude::*;
use sam::{
    AttemptLimiter, ClaimSubject, JoinToken, Leaf, LeafConfig, LeafId, LeafOutput, LogDecision,
    LogLimiter, Outcome, Policy, PolicyName, Refusal, Registry, RrNode, RrSet,
};

const NOW: u64 = 1_800_000_000;
const BURST: u32 = 5;
const REFILL_SECS: u64 = 12;
const LOG_LINES: u32 = 3;
const REAL_TOKEN: &[u8] = b"the-real-join-token-0123";

fn registry() -> Registry {
    let rr = RrNode {
        router_id: Ipv4Addr::new(10, 255, 0, 1),
        underlay_endpoint: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 51820),
        tunnel_address: Ipv4Addr::new(10, 255, 0, 1),
        wireguard_key: None,
        wireguard_address: None,
    };
    let policy = Policy {
        name: PolicyName::new("sites").expect("valid name"),
        join_tokens: vec![JoinToken::new(REAL_TOKEN).expect("long enough")],
        tunnel_prefixes: vec!["10.255.0.0/20".parse().expect("prefix")],
        client_pools: vec!["198.51.100.0/24".parse().expect("prefix")],
        endpoint_prefixes: vec![],
        require_wireguard: false,
        wireguard_prefixes: vec![],
        rr_set: RrSet {
            asn: 65000,
            cluster_id: Ipv4Addr::new(10, 255, 0, 254),
            route_reflectors: vec![rr],
        },
        max_leaves: 64,
        claim_ttl_secs: 86400,
        max_clock_skew_secs: 300,
    };
    Registry::new(vec![policy])
        .expect("valid policy")
        .with_limits(
            AttemptLimiter::new(BURST, REFILL_SECS, 64),
            LogLimiter::new(LOG_LINES, 60),
        )
}

/// A well-formed request MAC-ed with `guess` instead of the real token.
fn guess_request(guess: &[u8], nonce: [u8; 16]) -> Vec<u8> {
    let subject = ClaimSubject {
        leaf_id: LeafId::new("leaf-a").expect("valid name"),
        policy: PolicyName::new("sites").expect("valid name"),
        tunnel_address: Ipv4Addr::new(10, 255, 1, 10),
        underlay_endpoint: None,
        owned: vec!["198.51.100.10/32".parse().expect("prefix")],
        asn: 65000,
        router_id: Ipv4Addr::new(10, 255, 1, 10),
        wireguard_key: None,
        wireguard_address: None,
    };
    let rr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 4179);
    let token = JoinToken::new(guess).expect("guess is long enough");
    let mut leaf = Leaf::new(LeafConfig::new(subject, token, vec![rr]), None).expect("leaf");
    leaf.handle_timeout(NOW, nonce);
    while let Some(out) = leaf.poll_output() {
        if let LeafOutput::Transmit { request, .. } = out {
            return request;
        }
    }
    panic!("the leaf sent no request");
}

/// The refusal of a reply that is to be written to the log.
fn logged(outcome: &Outcome) -> Option<Refusal> {
    match outcome {
        Outcome::Refused {
            refusal,
            log: LogDecision::Log { .. },
            ..
        } => Some(*refusal),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn token_guessing_is_rate_limited_and_logged_boundedly(
        guesses in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 16..40), any::<[u8; 16]>()),
            (BURST as usize + 1)..40,
        ),
    ) {
        prop_assume!(guesses.iter().all(|(g, _)| g.as_slice() != REAL_TOKEN));
        let mut registry = registry();
        let attacker = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66));
        let bystander = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
        let mut statuses = Vec::new();
        let mut lines = Vec::new();
        for (guess, nonce) in &guesses {
            let reply = registry.handle_http(NOW, attacker, &guess_request(guess, *nonce));
            statuses.push(reply.status);
            lines.extend(logged(&reply.outcome));
            let accepted = matches!(reply.outcome, Outcome::Accepted { .. });
            prop_assert!(!accepted, "a guess was accepted");
        }
        let burst = BURST as usize;
        prop_assert!(statuses[..burst].iter().all(|s| *s == 401), "{:?}", statuses);
        prop_assert!(statuses[burst..].iter().all(|s| *s == 429), "{:?}", statuses);
        prop_assert_eq!(
            registry.counters().get(Refusal::RateLimited),
            (guesses.len() - burst) as u64
        );
        // The log: each reason is logged, at most LOG_LINES lines per reason.
        for reason in [Refusal::BadMac, Refusal::RateLimited] {
            let n = lines.iter().filter(|r| **r == reason).count();
            prop_assert!(n >= 1 && n <= LOG_LINES as usize, "{:?}: {} lines", reason, n);
        }

        // Another source is not held up by the attacker's bucket.
        let reply = registry.handle_http(NOW, bystander, &guess_request(b"another-wrong-token-000", [1; 16]));
        prop_assert_eq!(reply.status, 401);
        // Once a token has refilled, the attacker gets one more real answer, no more.
        let later = NOW + REFILL_SECS;
        let reply = registry.handle_http(later, attacker, &guess_request(b"another-wrong-token-001", [2; 16]));
        prop_assert_eq!(reply.status, 401);
        let reply = registry.handle_http(later, attacker, &guess_request(b"another-wrong-token-002", [3; 16]));
        prop_assert_eq!(reply.status, 429);
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        prop_assert!(body.contains("retry_after_secs"), "{}", body);
    }
}
