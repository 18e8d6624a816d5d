//! Route values ([`RouteChange`], [`NextHop`]) and their rtnetlink encoding.
//!
//! Encoding is pure: it turns a change into an `RTM_NEWROUTE`/`RTM_DELROUTE` message for a
//! given table, with interface names already resolved to indexes. Decoding turns a dumped
//! route back into an [`InstalledRoute`].

use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteNextHopFlags, RouteProtocol, RouteScope, RouteType,
};

use crate::KernelError;

/// The protocol tag routerd puts on its routes (`bgp` in `/etc/iproute2/rt_protos`).
pub const PROTOCOL_BGP: u8 = 186;

/// The interface a next hop leaves through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Device {
    /// By interface index.
    Index(u32),
    /// By name; resolved when the change is applied.
    Name(String),
}

/// One next hop of a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Gateway address; `None` for a directly connected (device-only) route.
    pub via: Option<IpAddr>,
    /// Output interface; required when `onlink` is set.
    pub dev: Option<Device>,
    /// Treat the gateway as on-link even without a covering interface route
    /// (`ip route ... onlink`), as tunnel next hops need.
    pub onlink: bool,
}

/// One change to the routing table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteChange {
    /// Install the prefix, replacing whatever route for it is in the table. Several next
    /// hops make an ECMP (multipath) route.
    Replace {
        /// Destination.
        prefix: IpNet,
        /// At least one next hop.
        next_hops: Vec<NextHop>,
    },
    /// Remove our route for the prefix. Removing an absent route is not an error.
    Delete {
        /// Destination.
        prefix: IpNet,
    },
}

impl RouteChange {
    /// The destination this change is about.
    pub fn prefix(&self) -> IpNet {
        match self {
            RouteChange::Replace { prefix, .. } | RouteChange::Delete { prefix } => *prefix,
        }
    }
}

/// A route read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRoute {
    /// Destination.
    pub prefix: IpNet,
    /// Next hops, with interfaces as indexes.
    pub next_hops: Vec<NextHop>,
    /// Routing table id.
    pub table: u32,
    /// Protocol tag.
    pub protocol: u8,
}

/// A next hop with its interface name already resolved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResolvedHop {
    pub(crate) via: Option<IpAddr>,
    pub(crate) ifindex: Option<u32>,
    pub(crate) onlink: bool,
}

fn family_of(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

/// The header and destination/table attributes shared by add and delete.
fn base_message(prefix: &IpNet, table: u32, protocol: u8) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: family_of(prefix),
        destination_prefix_length: prefix.prefix_len(),
        table: if table < 256 {
            table as u8
        } else {
            RouteHeader::RT_TABLE_UNSPEC
        },
        protocol: RouteProtocol::from(protocol),
        ..RouteHeader::default()
    };
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.network(),
        )));
    msg.attributes.push(RouteAttribute::Table(table));
    msg
}

/// `RTM_NEWROUTE` body for a replace.
pub(crate) fn replace_message(
    prefix: &IpNet,
    hops: &[ResolvedHop],
    table: u32,
    protocol: u8,
) -> Result<RouteMessage, KernelError> {
    let mut msg = base_message(prefix, table, protocol);
    msg.header.kind = RouteType::Unicast;
    let family_ok = |ip: &IpAddr| ip.is_ipv4() == prefix.addr().is_ipv4();
    match hops {
        [] => {
            return Err(KernelError::Invalid {
                reason: format!("route {prefix} has no next hop"),
            });
        }
        [hop] => {
            let gateway = hop.via.filter(family_ok);
            if hop.via.is_some() && gateway.is_none() {
                return Err(KernelError::Invalid {
                    reason: format!("route {prefix}: next hop family differs from prefix"),
                });
            }
            msg.header.scope = if gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            };
            if let Some(gw) = gateway {
                msg.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
            }
            if let Some(index) = hop.ifindex {
                msg.attributes.push(RouteAttribute::Oif(index));
            }
            if hop.onlink {
                msg.header.flags |= RouteFlags::Onlink;
            }
        }
        many => {
            msg.header.scope = RouteScope::Universe;
            let mut encoded = Vec::with_capacity(many.len());
            for hop in many {
                let mut nh = RouteNextHop::default();
                if let Some(gw) = hop.via {
                    if !family_ok(&gw) {
                        return Err(KernelError::Invalid {
                            reason: format!("route {prefix}: next hop family differs from prefix"),
                        });
                    }
                    nh.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
                }
                nh.interface_index = hop.ifindex.unwrap_or(0);
                if hop.onlink {
                    nh.flags |= RouteNextHopFlags::Onlink;
                }
                encoded.push(nh);
            }
            msg.attributes.push(RouteAttribute::MultiPath(encoded));
        }
    }
    Ok(msg)
}

/// `RTM_DELROUTE` body: matches only routes carrying `protocol` in `table`.
pub(crate) fn delete_message(prefix: &IpNet, table: u32, protocol: u8) -> RouteMessage {
    let mut msg = base_message(prefix, table, protocol);
    msg.header.scope = RouteScope::NoWhere;
    msg
}

fn address(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// Decodes a dumped route; `None` for routes that are not plain unicast IP routes.
pub(crate) fn decode(msg: &RouteMessage) -> Option<InstalledRoute> {
    let mut table = u32::from(msg.header.table);
    let mut destination = None;
    let mut single = NextHop {
        via: None,
        dev: None,
        onlink: msg.header.flags.contains(RouteFlags::Onlink),
    };
    let mut multipath = Vec::new();
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => destination = address(a),
            RouteAttribute::Gateway(a) => single.via = address(a),
            RouteAttribute::Oif(i) => single.dev = Some(Device::Index(*i)),
            RouteAttribute::MultiPath(hops) => {
                for nh in hops {
                    let via = nh.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => address(g),
                        _ => None,
                    });
                    multipath.push(NextHop {
                        via,
                        dev: (nh.interface_index != 0).then_some(Device::Index(nh.interface_index)),
                        onlink: nh.flags.contains(RouteNextHopFlags::Onlink),
                    });
                }
            }
            _ => {}
        }
    }
    let len = msg.header.destination_prefix_length;
    let prefix = match (msg.header.address_family, destination) {
        (_, Some(addr)) => IpNet::new(addr, len).ok()?,
        (AddressFamily::Inet, None) => IpNet::new(IpAddr::from([0u8; 4]), 0).ok()?,
        (AddressFamily::Inet6, None) => IpNet::new(IpAddr::from([0u16; 8]), 0).ok()?,
        _ => return None,
    };
    let next_hops = if multipath.is_empty() {
        vec![single]
    } else {
        multipath
    };
    Some(InstalledRoute {
        prefix,
        next_hops,
        table,
        protocol: u8::from(msg.header.protocol),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(via: &str, ifindex: u32) -> ResolvedHop {
        ResolvedHop {
            via: Some(via.parse().unwrap()),
            ifindex: Some(ifindex),
            onlink: true,
        }
    }

    #[test]
    fn replace_then_decode_round_trips_single_and_multipath() {
        let prefix: IpNet = "203.0.113.7/32".parse().unwrap();
        for hops in [
            vec![hop("192.0.2.1", 3)],
            vec![hop("192.0.2.1", 3), hop("192.0.2.2", 4)],
        ] {
            let msg = replace_message(&prefix, &hops, 1000, PROTOCOL_BGP).unwrap();
            let back = decode(&msg).unwrap();
            assert_eq!(back.prefix, prefix);
            assert_eq!(back.table, 1000);
            assert_eq!(back.protocol, PROTOCOL_BGP);
            assert_eq!(back.next_hops.len(), hops.len());
            for (got, want) in back.next_hops.iter().zip(&hops) {
                assert_eq!(got.via, want.via);
                assert_eq!(got.dev, want.ifindex.map(Device::Index));
                assert!(got.onlink);
            }
        }
    }

    #[test]
    fn replace_refuses_empty_and_mixed_family_next_hops() {
        let prefix: IpNet = "203.0.113.7/32".parse().unwrap();
        assert!(replace_message(&prefix, &[], 100, PROTOCOL_BGP).is_err());
        let v6 = ResolvedHop {
            via: Some("2001:db8::1".parse().unwrap()),
            ifindex: None,
            onlink: false,
        };
        assert!(replace_message(&prefix, &[v6], 100, PROTOCOL_BGP).is_err());
        assert!(replace_message(&prefix, &[v6, v6], 100, PROTOCOL_BGP).is_err());
    }

    #[test]
    fn small_tables_use_the_header_byte_and_large_ones_only_the_attribute() {
        let prefix: IpNet = "198.51.100.0/24".parse().unwrap();
        assert_eq!(delete_message(&prefix, 100, PROTOCOL_BGP).header.table, 100);
        let big = delete_message(&prefix, 70000, PROTOCOL_BGP);
        assert_eq!(big.header.table, 0);
        assert!(big.attributes.contains(&RouteAttribute::Table(70000)));
    }
}
