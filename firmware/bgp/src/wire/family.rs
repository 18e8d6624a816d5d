//! Address family numbers (RFC 4760 §3, IANA registries) to and from [`Afi`]/[`Safi`].
//!
//! Invariant: `Afi::from(u16::from(a)) == a` for every `a` built by `Afi::from`; the
//! `Other` variants never hold a value that has a named variant when built this way.

use super::types::{Afi, Safi};

impl From<u16> for Afi {
    fn from(value: u16) -> Self {
        match value {
            1 => Afi::Ipv4,
            2 => Afi::Ipv6,
            other => Afi::Other(other),
        }
    }
}

impl From<Afi> for u16 {
    fn from(afi: Afi) -> Self {
        match afi {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
            Afi::Other(value) => value,
        }
    }
}

impl From<u8> for Safi {
    fn from(value: u8) -> Self {
        match value {
            1 => Safi::Unicast,
            other => Safi::Other(other),
        }
    }
}

impl From<Safi> for u8 {
    fn from(safi: Safi) -> Self {
        match safi {
            Safi::Unicast => 1,
            Safi::Other(value) => value,
        }
    }
}
