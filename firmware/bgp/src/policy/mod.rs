//! Import and export policy as pure functions.
//!
//! A [`Policy`] is an ordered list of [`Rule`]s and a default verdict. For a route
//! (prefix and attributes), the rules are tried in order: a rule whose [`Match`] holds
//! applies its [`Modification`]s and then either decides ([`Verdict`]) or lets the next
//! rules continue. When no rule decides, the default verdict applies (modifications made
//! so far are kept on accept). Evaluation reads nothing but its arguments.
//!
//! Rejections carry a reason name; the speaker counts rejected prefixes per peer and
//! reason. Max-prefix limits are per-peer settings, not policy rules.

mod prefix_list;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::wire::PathAttributes;

pub use prefix_list::PrefixRange;

/// A standard community (RFC 1997) from its two halves.
pub const fn community(asn: u16, value: u16) -> u32 {
    ((asn as u32) << 16) | value as u32
}

/// A condition on communities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommunityMatch {
    /// At least one of these is present.
    Any(Vec<u32>),
    /// All of these are present.
    All(Vec<u32>),
    /// None of these is present.
    None(Vec<u32>),
}

impl CommunityMatch {
    fn holds(&self, present: &[u32]) -> bool {
        match self {
            CommunityMatch::Any(c) => c.iter().any(|c| present.contains(c)),
            CommunityMatch::All(c) => c.iter().all(|c| present.contains(c)),
            CommunityMatch::None(c) => !c.iter().any(|c| present.contains(c)),
        }
    }
}

/// When a rule applies: every given condition must hold (an empty match always holds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The prefix must match one of these ranges (`None`: any prefix).
    #[serde(default)]
    pub prefixes: Option<Vec<PrefixRange>>,
    /// Conditions on COMMUNITIES.
    #[serde(default)]
    pub communities: Vec<CommunityMatch>,
}

impl Match {
    /// Does the route match?
    pub fn holds(&self, prefix: &IpNet, attrs: &PathAttributes) -> bool {
        self.prefixes
            .as_ref()
            .is_none_or(|l| l.iter().any(|r| r.matches(prefix)))
            && self.communities.iter().all(|c| c.holds(&attrs.communities))
    }
}

/// A change a rule makes to a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Modification {
    /// Add a community (once).
    AddCommunity(u32),
    /// Remove a community.
    RemoveCommunity(u32),
    /// Rewrite NEXT_HOP to our own session address (meaningful on export).
    NextHopSelf,
    /// Set LOCAL_PREF.
    SetLocalPref(u32),
    /// Set or clear MULTI_EXIT_DISC.
    SetMed(Option<u32>),
}

/// Accept or reject a route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Accept.
    #[default]
    Accept,
    /// Reject, counted under this reason name.
    Reject(String),
}

/// One rule of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// When the rule applies.
    #[serde(default)]
    pub when: Match,
    /// Changes applied when it does.
    #[serde(default)]
    pub modify: Vec<Modification>,
    /// Decision when it applies; `None` continues with the next rule.
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

/// A policy: ordered rules, then a default verdict. The default policy accepts
/// everything unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Rules, tried in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Verdict when no rule decides.
    #[serde(default)]
    pub default: Verdict,
}

/// The result of evaluating a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'p> {
    /// Accepted.
    Accept {
        /// Changed attributes, or `None` when unchanged.
        attrs: Option<Box<PathAttributes>>,
        /// The route's NEXT_HOP must be set to our own address.
        next_hop_self: bool,
    },
    /// Rejected with this reason name.
    Reject(&'p str),
}

impl Policy {
    /// Accept everything unchanged.
    pub fn accept_all() -> Self {
        Policy::default()
    }

    /// Accept only prefixes matching `allowed`, reject every other one with `reason`.
    pub fn allow_only(allowed: impl IntoIterator<Item = PrefixRange>, reason: &str) -> Self {
        Policy {
            rules: vec![Rule {
                when: Match {
                    prefixes: Some(allowed.into_iter().collect()),
                    communities: Vec::new(),
                },
                modify: Vec::new(),
                verdict: Some(Verdict::Accept),
            }],
            default: Verdict::Reject(reason.to_string()),
        }
    }

    /// Is this the accept-everything-unchanged policy?
    pub fn is_accept_all(&self) -> bool {
        self.rules.is_empty() && self.default == Verdict::Accept
    }

    /// Whether the outcome can depend on the prefix (some rule matches prefixes). When
    /// it cannot, every prefix sharing an attribute set gets the same outcome.
    pub fn depends_on_prefix(&self) -> bool {
        self.rules.iter().any(|r| r.when.prefixes.is_some())
    }

    /// Evaluate the policy for one route.
    pub fn evaluate<'p>(&'p self, prefix: &IpNet, attrs: &PathAttributes) -> Outcome<'p> {
        let mut changed: Option<Box<PathAttributes>> = None;
        let mut next_hop_self = false;
        for rule in &self.rules {
            let current = changed.as_deref().unwrap_or(attrs);
            if !rule.when.holds(prefix, current) {
                continue;
            }
            for m in &rule.modify {
                if *m == Modification::NextHopSelf {
                    next_hop_self = true;
                    continue;
                }
                let a = changed.get_or_insert_with(|| Box::new(attrs.clone()));
                match *m {
                    Modification::AddCommunity(c) => {
                        if !a.communities.contains(&c) {
                            a.communities.push(c);
                        }
                    }
                    Modification::RemoveCommunity(c) => a.communities.retain(|x| *x != c),
                    Modification::SetLocalPref(lp) => a.local_pref = Some(lp),
                    Modification::SetMed(med) => a.med = med,
                    Modification::NextHopSelf => {}
                }
            }
            match &rule.verdict {
                None => {}
                Some(Verdict::Accept) => {
                    return Outcome::Accept {
                        attrs: changed,
                        next_hop_self,
                    };
                }
                Some(Verdict::Reject(reason)) => return Outcome::Reject(reason),
            }
        }
        match &self.default {
            Verdict::Accept => Outcome::Accept {
                attrs: changed,
                next_hop_self,
            },
            Verdict::Reject(reason) => Outcome::Reject(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn default_policy_accepts_unchanged() {
        let a = PathAttributes {
            communities: vec![1],
            ..Default::default()
        };
        assert_eq!(
            Policy::default().evaluate(&net("10.0.0.0/8"), &a),
            Outcome::Accept {
                attrs: None,
                next_hop_self: false
            }
        );
        assert!(Policy::default().is_accept_all());
    }

    #[test]
    fn allow_only_rejects_others_with_reason() {
        let p = Policy::allow_only([PrefixRange::exact(net("192.0.2.1/32"))], "not-owned");
        let a = PathAttributes::default();
        assert!(matches!(
            p.evaluate(&net("192.0.2.1/32"), &a),
            Outcome::Accept { .. }
        ));
        assert_eq!(
            p.evaluate(&net("192.0.2.2/32"), &a),
            Outcome::Reject("not-owned")
        );
    }

    #[test]
    fn community_match_and_modifications() {
        let blackhole = community(65535, 666);
        let tag = community(64512, 121);
        let p = Policy {
            rules: vec![
                Rule {
                    when: Match {
                        prefixes: None,
                        communities: vec![CommunityMatch::Any(vec![blackhole])],
                    },
                    modify: vec![],
                    verdict: Some(Verdict::Reject("blackhole".into())),
                },
                Rule {
                    when: Match {
                        prefixes: Some(vec![PrefixRange::range(net("10.0.0.0/8"), 8, 24)]),
                        communities: vec![CommunityMatch::None(vec![tag])],
                    },
                    modify: vec![
                        Modification::AddCommunity(tag),
                        Modification::RemoveCommunity(7),
                        Modification::SetLocalPref(200),
                        Modification::NextHopSelf,
                    ],
                    verdict: None,
                },
            ],
            default: Verdict::Accept,
        };
        let a = PathAttributes {
            communities: vec![7, blackhole],
            ..Default::default()
        };
        assert_eq!(
            p.evaluate(&net("10.1.0.0/16"), &a),
            Outcome::Reject("blackhole")
        );
        let a = PathAttributes {
            communities: vec![7],
            ..Default::default()
        };
        match p.evaluate(&net("10.1.0.0/16"), &a) {
            Outcome::Accept {
                attrs: Some(m),
                next_hop_self: true,
            } => {
                assert_eq!(m.communities, vec![tag]);
                assert_eq!(m.local_pref, Some(200));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Outside the prefix range: unchanged.
        assert_eq!(
            p.evaluate(&net("10.1.1.1/32"), &a),
            Outcome::Accept {
                attrs: None,
                next_hop_self: false
            }
        );
    }
}
