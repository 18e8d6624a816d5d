//! Routing information bases.
