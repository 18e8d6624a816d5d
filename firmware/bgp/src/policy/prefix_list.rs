//! Prefix lists with length ranges ("10.0.0.0/8 ge 24 le 32").

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A prefix and the range of lengths of the routes it matches: a route matches when it
/// lies inside `prefix` and its length is within `ge..=le`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrefixRange {
    /// Covering prefix.
    pub prefix: IpNet,
    /// Shortest matching length.
    pub ge: u8,
    /// Longest matching length.
    pub le: u8,
}

impl PrefixRange {
    /// Exactly this prefix.
    pub fn exact(prefix: IpNet) -> Self {
        let len = prefix.prefix_len();
        PrefixRange {
            prefix: prefix.trunc(),
            ge: len,
            le: len,
        }
    }

    /// This prefix and every more-specific one ("le 32"/"le 128").
    pub fn or_longer(prefix: IpNet) -> Self {
        PrefixRange {
            prefix: prefix.trunc(),
            ge: prefix.prefix_len(),
            le: prefix.max_prefix_len(),
        }
    }

    /// Inside `prefix` with a length in `ge..=le`.
    pub fn range(prefix: IpNet, ge: u8, le: u8) -> Self {
        PrefixRange {
            prefix: prefix.trunc(),
            ge,
            le,
        }
    }

    /// Does `route` match?
    pub fn matches(&self, route: &IpNet) -> bool {
        let len = route.prefix_len();
        len >= self.ge
            && len <= self.le
            && len >= self.prefix.prefix_len()
            && self.prefix.contains(&route.network())
            && matches!(
                (self.prefix, route),
                (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn length_ranges() {
        let r = PrefixRange::range(net("10.0.0.0/8"), 24, 32);
        assert!(r.matches(&net("10.1.2.0/24")));
        assert!(r.matches(&net("10.1.2.3/32")));
        assert!(!r.matches(&net("10.1.0.0/16")), "too short");
        assert!(!r.matches(&net("11.1.2.0/24")), "outside");
        let e = PrefixRange::exact(net("192.0.2.1/32"));
        assert!(e.matches(&net("192.0.2.1/32")));
        assert!(!e.matches(&net("192.0.2.2/32")));
        let l = PrefixRange::or_longer(net("2001:db8::/32"));
        assert!(l.matches(&net("2001:db8:1::/48")));
        assert!(!l.matches(&net("10.0.0.0/8")));
        assert!(
            !PrefixRange::or_longer(net("0.0.0.0/0")).matches(&net("::/0")),
            "families differ"
        );
    }
}
