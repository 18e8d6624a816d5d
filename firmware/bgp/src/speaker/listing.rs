//! Paged listing of the Loc-RIB's best paths, for the daemon's status API.
//!
//! Contract: pages come in the total order of [`IpNet`] (IPv4 before IPv6, then address,
//! then prefix length), so a client that passes the last prefix of a page as `after`
//! gets the next page, and every prefix present throughout the walk is seen exactly once
//! whatever changes meanwhile. One call reads the Loc-RIB once through
//! [`LocRib::iter_best`](crate::rib::loc::LocRib::iter_best) and keeps only the `limit`
//! smallest candidates (O(routes · log limit) time, O(limit) memory); it never changes
//! the speaker.

use std::collections::BinaryHeap;

use ipnet::IpNet;

use super::{PathReport, Speaker};

/// One page of best paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePage {
    /// The page's prefixes in order, each with its best path.
    pub routes: Vec<(IpNet, PathReport)>,
    /// More matching prefixes follow the last one of this page.
    pub more: bool,
}

impl Speaker {
    /// At most `limit` prefixes with their best path, in [`IpNet`] order: only prefixes
    /// inside `within` (when given; itself included) and after `after` (when given).
    pub fn list_best(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
    ) -> RoutePage {
        let within = within.map(|w| w.trunc());
        // The `limit + 1` smallest matching prefixes: the extra one tells whether more follow.
        let keep = limit.saturating_add(1);
        let mut smallest: BinaryHeap<IpNet> = BinaryHeap::with_capacity(keep.min(4096));
        // `to_owned` takes the prefix whether the Loc-RIB yields it by value or by reference.
        let matching = self
            .loc
            .iter_best()
            .map(|(prefix, _)| prefix.to_owned())
            .filter(|p| within.is_none_or(|w| w.contains(p)) && after.is_none_or(|a| *p > a));
        for prefix in matching {
            if smallest.len() < keep {
                smallest.push(prefix);
            } else if smallest.peek().is_some_and(|largest| prefix < *largest) {
                smallest.pop();
                smallest.push(prefix);
            }
        }
        let mut prefixes = smallest.into_sorted_vec();
        let more = prefixes.len() > limit;
        prefixes.truncate(limit);
        let routes = prefixes
            .into_iter()
            .filter_map(|prefix| {
                let best = self.loc.best(&prefix)?;
                Some((
                    prefix,
                    PathReport {
                        peer: self.source_address(best.source),
                        attrs: (*best.attrs).clone(),
                        best: true,
                        lost_at: None,
                    },
                ))
            })
            .collect();
        RoutePage { routes, more }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::speaker::{Input, SpeakerConfig};
    use crate::wire::PathAttributes;

    fn speaker_with(prefixes: &[&str]) -> Speaker {
        let mut speaker = Speaker::new(SpeakerConfig {
            local_as: 65000,
            router_id: "192.0.2.1".parse().unwrap(),
            cluster_id: None,
            local_addresses: Vec::new(),
            multipath: false,
        });
        for p in prefixes {
            speaker.handle_input(
                Instant::now(),
                Input::Announce {
                    prefix: p.parse().unwrap(),
                    attrs: PathAttributes::default(),
                },
            );
        }
        speaker
    }

    fn names(page: &RoutePage) -> Vec<String> {
        page.routes.iter().map(|(p, _)| p.to_string()).collect()
    }

    #[test]
    fn pages_walk_every_prefix_once_in_order() {
        let all = [
            "2001:db8::/32",
            "198.51.100.0/24",
            "10.20.1.0/24",
            "10.20.0.0/16",
            "10.20.0.0/24",
            "192.0.2.0/24",
        ];
        let speaker = speaker_with(&all);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = speaker.list_best(None, after, 2);
            assert!(page.routes.len() <= 2);
            seen.extend(names(&page));
            if !page.more {
                break;
            }
            after = page.routes.last().map(|(p, _)| *p);
        }
        assert_eq!(
            seen,
            [
                "10.20.0.0/16",
                "10.20.0.0/24",
                "10.20.1.0/24",
                "192.0.2.0/24",
                "198.51.100.0/24",
                "2001:db8::/32"
            ]
        );
    }

    #[test]
    fn the_filter_keeps_the_prefix_and_what_it_covers() {
        let speaker = speaker_with(&["10.20.0.0/16", "10.20.7.0/24", "10.21.0.0/24", "10.0.0.0/8"]);
        let page = speaker.list_best(Some("10.20.0.0/16".parse().unwrap()), None, 100);
        assert_eq!(names(&page), ["10.20.0.0/16", "10.20.7.0/24"]);
        assert!(!page.more);
        assert!(page.routes.iter().all(|(_, r)| r.best && r.peer.is_none()));
    }

    #[test]
    fn an_exact_page_says_nothing_more_follows() {
        let speaker = speaker_with(&["192.0.2.0/25", "192.0.2.128/25"]);
        let page = speaker.list_best(None, None, 2);
        assert_eq!(page.routes.len(), 2);
        assert!(!page.more);
        assert!(speaker.list_best(None, None, 0).more);
        assert!(
            speaker
                .list_best(None, Some("192.0.2.128/25".parse().unwrap()), 5)
                .routes
                .is_empty()
        );
    }
}
