//! Answers to `/v1/routes`: the speaker's paths of one prefix ([`answer`]), or one page of
//! best paths ([`list`]), in the API's form.
//!
//! The core calls these between two inputs: [`answer`] costs O(paths of the prefix),
//! [`list`] one pass over the Loc-RIB keeping at most `limit + 1` prefixes.

use std::net::IpAddr;

use api::routes::{ListedRoute, PathView, RouteListing, RouteView};
use bgp::Speaker;
use bgp::speaker::PathReport;
use bgp::wire::AsSegment;
use ipnet::IpNet;

/// Every path of `prefix` in the Loc-RIB, best first.
pub(crate) fn answer(speaker: &Speaker, prefix: IpNet) -> RouteView {
    RouteView {
        prefix: prefix.to_string(),
        paths: speaker.explain(prefix).into_iter().map(path_view).collect(),
    }
}

/// One page of best paths inside `within`, after `after`, at most `limit`.
pub(crate) fn list(
    speaker: &Speaker,
    within: Option<IpNet>,
    after: Option<IpNet>,
    limit: usize,
) -> RouteListing {
    let page = speaker.list_best(within, after, limit);
    let next = if page.more {
        page.routes.last().map(|(prefix, _)| prefix.to_string())
    } else {
        None
    };
    RouteListing {
        routes: page
            .routes
            .into_iter()
            .map(|(prefix, best)| ListedRoute {
                prefix: prefix.to_string(),
                best: path_view(best),
            })
            .collect(),
        next,
    }
}

fn path_view(report: PathReport) -> PathView {
    let attrs = report.attrs;
    let next_hop = attrs
        .next_hop
        .map(IpAddr::V4)
        .or(attrs.mp_reach.as_ref().map(|m| IpAddr::V6(m.next_hop)));
    PathView {
        from: report.peer,
        best: report.best,
        lost_at: report.lost_at.map(str::to_string),
        next_hop,
        as_path: as_path_text(&attrs.as_path),
        local_pref: attrs.local_pref,
        med: attrs.med,
        communities: attrs
            .communities
            .iter()
            .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
            .collect(),
        originator_id: attrs.originator_id,
        cluster_list: attrs.cluster_list.clone(),
    }
}

/// `65001 65002 {65003,65004} (65005)`: sequences plain, sets in braces, confederation
/// segments in parentheses.
fn as_path_text(path: &[AsSegment]) -> String {
    let join = |asns: &[u32], sep: &str| {
        asns.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(sep)
    };
    path.iter()
        .map(|segment| match segment {
            AsSegment::Sequence(a) => join(a, " "),
            AsSegment::Set(a) => format!("{{{}}}", join(a, ",")),
            AsSegment::ConfedSequence(a) => format!("({})", join(a, " ")),
            AsSegment::ConfedSet(a) => format!("({{{}}})", join(a, ",")),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_paths_read_like_other_bgp_tools() {
        let path = vec![
            AsSegment::Sequence(vec![65001, 65002]),
            AsSegment::Set(vec![65003, 65004]),
            AsSegment::ConfedSequence(vec![65005]),
        ];
        assert_eq!(as_path_text(&path), "65001 65002 {65003,65004} (65005)");
        assert_eq!(as_path_text(&[]), "");
    }
}
