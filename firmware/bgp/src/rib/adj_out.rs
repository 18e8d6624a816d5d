//! Adj-RIB-Out of one peer: what was advertised, and what changes are pending.
//!
//! Contract: [`AdjRibOut::stage`] records the route a prefix should have at the peer
//! (`None` = not advertised); staging what was already sent cancels the pending change,
//! so unchanged routes are never re-sent. [`AdjRibOut::take_batch`] hands the pending
//! changes out grouped by attribute set (one group becomes as few UPDATEs as the size
//! limit allows) and records them as sent.

use crate::rib::prefix_hash::FastMap;
use crate::rib::prefix_map::PrefixMap;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::rib::Attrs;

/// Changes to send, grouped by attribute set.
#[derive(Debug, Default)]
pub struct Batch {
    /// IPv4 announcements: one attribute set, many prefixes.
    pub v4: Vec<(Attrs, Vec<Ipv4Net>)>,
    /// IPv6 announcements.
    pub v6: Vec<(Attrs, Vec<Ipv6Net>)>,
    /// IPv4 withdrawals.
    pub withdraw_v4: Vec<Ipv4Net>,
    /// IPv6 withdrawals.
    pub withdraw_v6: Vec<Ipv6Net>,
}

impl Batch {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty()
            && self.v6.is_empty()
            && self.withdraw_v4.is_empty()
            && self.withdraw_v6.is_empty()
    }

    /// Number of prefixes announced or withdrawn.
    pub fn prefixes(&self) -> usize {
        self.v4.iter().map(|g| g.1.len()).sum::<usize>()
            + self.v6.iter().map(|g| g.1.len()).sum::<usize>()
            + self.withdraw_v4.len()
            + self.withdraw_v6.len()
    }

    fn add(&mut self, index: &mut GroupIndex, prefix: IpNet, attrs: Option<&Attrs>) {
        match (prefix, attrs) {
            (IpNet::V4(p), None) => self.withdraw_v4.push(p),
            (IpNet::V6(p), None) => self.withdraw_v6.push(p),
            (IpNet::V4(p), Some(a)) => {
                let i = index.group(a, false, &mut self.v4);
                self.v4[i].1.push(p);
            }
            (IpNet::V6(p), Some(a)) => {
                let i = index.group(a, true, &mut self.v6);
                self.v6[i].1.push(p);
            }
        }
    }
}

/// Where each attribute set's group is in a [`Batch`], remembering the last one asked
/// for (consecutive prefixes mostly share a set).
#[derive(Default)]
struct GroupIndex {
    groups: FastMap<(usize, bool), usize>,
    last: Option<((usize, bool), usize)>,
}

impl GroupIndex {
    /// The index of `attrs`' group in `groups`, added when missing.
    fn group<P>(&mut self, attrs: &Attrs, v6: bool, groups: &mut Vec<(Attrs, Vec<P>)>) -> usize {
        let key = (Arc::as_ptr(attrs) as usize, v6);
        if let Some((k, i)) = self.last
            && k == key
        {
            return i;
        }
        let i = *self.groups.entry(key).or_insert_with(|| {
            groups.push((Arc::clone(attrs), Vec::new()));
            groups.len() - 1
        });
        self.last = Some((key, i));
        i
    }
}

/// Adj-RIB-Out of one peer.
#[derive(Debug, Default)]
pub struct AdjRibOut {
    sent: PrefixMap<Attrs>,
    pending: PrefixMap<Option<Attrs>>,
}

impl AdjRibOut {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// The route `prefix` should have at the peer.
    pub fn stage(&mut self, prefix: IpNet, attrs: Option<Attrs>) {
        if attrs.is_none() && self.sent.is_empty() && self.pending.is_empty() {
            // Nothing advertised, nothing to withdraw (the source peer of a table).
            return;
        }
        let same = match (self.sent.get(&prefix), &attrs) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if same {
            self.pending.remove(&prefix);
        } else {
            self.pending.insert(prefix, attrs);
        }
    }

    /// Anything pending?
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The pending changes, now recorded as sent.
    pub fn take_batch(&mut self) -> Batch {
        let mut batch = Batch::default();
        let mut index = GroupIndex::default();
        for (prefix, attrs) in self.pending.drain() {
            batch.add(&mut index, prefix, attrs.as_ref());
            match attrs {
                Some(a) => self.sent.insert(prefix, a),
                None => self.sent.remove(&prefix),
            };
        }
        batch
    }

    /// Everything advertised of one family (IPv6 when `v6`), for a ROUTE-REFRESH answer.
    pub fn resend(&self, v6: bool) -> Batch {
        let mut batch = Batch::default();
        let mut index = GroupIndex::default();
        for (prefix, attrs) in self.sent.iter() {
            if matches!(prefix, IpNet::V6(_)) == v6 {
                batch.add(&mut index, prefix, Some(attrs));
            }
        }
        batch
    }

    /// Forget everything (session down).
    pub fn clear(&mut self) {
        self.sent.clear();
        self.pending.clear();
    }

    /// Prefixes advertised.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Nothing advertised.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PathAttributes;

    #[test]
    fn groups_by_attribute_set_and_skips_unchanged() {
        let mut out = AdjRibOut::new();
        let a: Attrs = Arc::new(PathAttributes {
            med: Some(1),
            ..Default::default()
        });
        let b: Attrs = Arc::new(PathAttributes {
            med: Some(2),
            ..Default::default()
        });
        for i in 0..100u8 {
            let p: IpNet = format!("10.0.{i}.0/24").parse().unwrap();
            out.stage(p, Some(if i % 2 == 0 { a.clone() } else { b.clone() }));
        }
        let batch = out.take_batch();
        assert_eq!(batch.v4.len(), 2);
        assert_eq!(batch.prefixes(), 100);
        assert_eq!(out.len(), 100);
        // Staging what was sent changes nothing.
        out.stage("10.0.0.0/24".parse().unwrap(), Some(a.clone()));
        assert!(!out.has_pending());
        // Change then revert before sending: nothing to send.
        out.stage("10.0.0.0/24".parse().unwrap(), Some(b.clone()));
        out.stage("10.0.0.0/24".parse().unwrap(), Some(a.clone()));
        assert!(!out.has_pending());
        out.stage("10.0.1.0/24".parse().unwrap(), None);
        out.stage("10.9.0.0/16".parse().unwrap(), None);
        let batch = out.take_batch();
        assert_eq!(
            batch.withdraw_v4,
            vec!["10.0.1.0/24".parse::<Ipv4Net>().unwrap()]
        );
        assert_eq!(out.len(), 99);
        assert_eq!(out.resend(false).prefixes(), 99);
        assert_eq!(out.resend(true).prefixes(), 0);
    }
}
