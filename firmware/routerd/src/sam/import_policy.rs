//! The RR's per-session import policies, compiled from the registry.
//!
//! For a session whose tunnel address has an accepted claim the policy is the range's
//! configured template policy restricted to the claim's owned /32s, followed by the SAM
//! verdicts in the order of `docs/sam.md` section 7: `not-a-32`, then `not-owned` for a
//! /32 inside the claim policy's client pools, then `outside-pool`. A session without a
//! claim rejects everything as `unknown-session`. The speaker counts rejections per
//! reason, per peer.

use bgp::policy::{Match, Policy, PrefixRange, Rule, Verdict};
use ipnet::{IpNet, Ipv4Net};

/// Reason for routes from a session that no accepted claim stands behind.
pub(crate) const UNKNOWN_SESSION: &str = "unknown-session";

/// Rejects every route as `unknown-session`.
pub(crate) fn unknown_session() -> Policy {
    Policy {
        rules: Vec::new(),
        default: Verdict::Reject(UNKNOWN_SESSION.to_string()),
    }
}

/// The policy for a session whose claim owns `owned` under a policy with client pools
/// `pools`, layered on the range's configured `template`.
pub(crate) fn for_claim(template: &Policy, owned: &[Ipv4Net], pools: &[Ipv4Net]) -> Policy {
    let owned_ranges: Vec<PrefixRange> = owned
        .iter()
        .map(|&p| PrefixRange::exact(IpNet::V4(p)))
        .collect();
    let owned_matching = |list: &Option<Vec<PrefixRange>>| -> Vec<PrefixRange> {
        match list {
            None => owned_ranges.clone(),
            Some(list) => owned_ranges
                .iter()
                .filter(|o| list.iter().any(|r| r.matches(&o.prefix)))
                .cloned()
                .collect(),
        }
    };
    // The template decides about owned routes only: each rule keeps its match on
    // communities, changes and verdict, its prefixes narrowed to the owned /32s.
    let mut rules: Vec<Rule> = template
        .rules
        .iter()
        .map(|r| Rule {
            when: Match {
                prefixes: Some(owned_matching(&r.when.prefixes)),
                communities: r.when.communities.clone(),
            },
            modify: r.modify.clone(),
            verdict: r.verdict.clone(),
        })
        .collect();
    rules.push(Rule {
        when: Match {
            prefixes: Some(owned_ranges.clone()),
            communities: Vec::new(),
        },
        modify: Vec::new(),
        verdict: Some(template.default.clone()),
    });
    let reject = |prefixes: Vec<PrefixRange>, reason: &str| Rule {
        when: Match {
            prefixes: Some(prefixes),
            communities: Vec::new(),
        },
        modify: Vec::new(),
        verdict: Some(Verdict::Reject(reason.to_string())),
    };
    let any_v4 = IpNet::V4(Ipv4Net::default());
    rules.push(reject(vec![PrefixRange::range(any_v4, 0, 31)], "not-a-32"));
    rules.push(reject(
        pools
            .iter()
            .map(|&p| PrefixRange::range(IpNet::V4(p), 32, 32))
            .collect(),
        "not-owned",
    ));
    Policy {
        rules,
        default: Verdict::Reject("outside-pool".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp::policy::Outcome;
    use bgp::wire::PathAttributes;

    fn verdict(policy: &Policy, prefix: &str) -> String {
        match policy.evaluate(&prefix.parse().unwrap(), &PathAttributes::default()) {
            Outcome::Accept { .. } => "accept".into(),
            Outcome::Reject(reason) => reason.into(),
        }
    }

    fn pool_policy() -> Policy {
        let pool: IpNet = "10.20.0.0/16".parse().unwrap();
        let mut p = Policy::allow_only([PrefixRange::range(pool, 32, 32)], "outside-pool");
        p.default = Verdict::Reject("outside-pool".into());
        p
    }

    #[test]
    fn only_owned_slash32s_pass_and_each_refusal_names_its_reason() {
        let owned = ["10.20.1.10/32".parse().unwrap()];
        let pools = ["10.20.0.0/16".parse().unwrap()];
        let p = for_claim(&pool_policy(), &owned, &pools);
        assert_eq!(verdict(&p, "10.20.1.10/32"), "accept");
        assert_eq!(verdict(&p, "10.20.9.9/32"), "not-owned");
        assert_eq!(verdict(&p, "10.20.1.0/24"), "not-a-32");
        assert_eq!(verdict(&p, "192.0.2.1/32"), "outside-pool");
        assert_eq!(
            verdict(&unknown_session(), "10.20.1.10/32"),
            UNKNOWN_SESSION
        );
    }

    #[test]
    fn the_template_still_decides_about_owned_routes() {
        let owned = ["10.20.1.10/32".parse().unwrap()];
        let pools = ["10.20.0.0/16".parse().unwrap()];
        let strict = Policy {
            rules: Vec::new(),
            default: Verdict::Reject("template-says-no".into()),
        };
        let p = for_claim(&strict, &owned, &pools);
        assert_eq!(verdict(&p, "10.20.1.10/32"), "template-says-no");
        assert_eq!(verdict(&p, "10.20.9.9/32"), "not-owned");
        let open = for_claim(&Policy::accept_all(), &owned, &pools);
        assert_eq!(verdict(&open, "10.20.1.10/32"), "accept");
        assert_eq!(verdict(&open, "10.20.2.0/24"), "not-a-32");
    }
}
