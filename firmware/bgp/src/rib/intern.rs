//! Interning of attribute sets.
//!
//! Invariant: two equal attribute sets handed out by one [`Interner`] are the same `Arc`,
//! so callers may compare them with `Arc::ptr_eq`. Sets nobody else holds are dropped
//! by [`Interner::purge`], which runs by itself when the set has doubled since the last
//! purge.

use std::collections::HashSet;
use std::sync::Arc;

use crate::rib::Attrs;
use crate::wire::PathAttributes;

/// The set of live attribute sets.
#[derive(Debug, Default)]
pub struct Interner {
    set: HashSet<Attrs>,
    purge_at: usize,
}

/// Purge no earlier than at this many sets.
const MIN_PURGE: usize = 1024;

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Interner {
            set: HashSet::new(),
            purge_at: MIN_PURGE,
        }
    }

    /// The shared copy of `attrs`.
    pub fn intern(&mut self, attrs: PathAttributes) -> Attrs {
        if let Some(a) = self.set.get(&attrs) {
            return Arc::clone(a);
        }
        let a = Arc::new(attrs);
        self.set.insert(Arc::clone(&a));
        if self.set.len() >= self.purge_at {
            self.purge();
        }
        a
    }

    /// The shared copy of an attribute set that may come from elsewhere.
    pub fn intern_arc(&mut self, attrs: &Attrs) -> Attrs {
        match self.set.get(attrs.as_ref()) {
            Some(a) => Arc::clone(a),
            None => {
                self.set.insert(Arc::clone(attrs));
                Arc::clone(attrs)
            }
        }
    }

    /// Drop the sets only the interner holds.
    pub fn purge(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.purge_at = (self.set.len() * 2).max(MIN_PURGE);
    }

    /// Number of distinct live sets.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// No sets at all.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_share_one_arc_and_purge_drops_unused() {
        let mut i = Interner::new();
        let a = i.intern(PathAttributes {
            med: Some(1),
            ..Default::default()
        });
        let b = i.intern(PathAttributes {
            med: Some(1),
            ..Default::default()
        });
        let c = i.intern(PathAttributes {
            med: Some(2),
            ..Default::default()
        });
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        drop(c);
        i.purge();
        assert_eq!(i.len(), 1);
    }
}
