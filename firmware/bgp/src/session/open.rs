//! The OPEN message: what we send, and the checks and capability negotiation applied to
//! the OPEN we receive (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 4760, RFC 2918, RFC 4724).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::session::codes;
use crate::wire::{AS_TRANS, Afi, Capability, GracefulRestart, Notification, Open, ParseCtx, Safi};

/// Restart time advertised in the graceful restart capability by default (seconds).
pub const GRACEFUL_RESTART_TIME: u16 = 120;

/// Our side of graceful restart (RFC 4724 §3), as advertised in every OPEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart Time: how long a peer should keep our routes after our session drops
    /// (seconds, at most 4095).
    pub restart_time: u16,
    /// Restart State bit: set in the OPENs sent while this speaker is coming back from a
    /// restart.
    pub restarting: bool,
    /// Forwarding State bit for IPv4 and IPv6 unicast: the forwarding state of the routes
    /// we advertise survived the previous restart (always true when no restart happened;
    /// a route reflector whose routes point at other routers keeps it true).
    pub forwarding_preserved: bool,
    /// Notification bit (RFC 8538): when the peer sets it too, a session that ends with
    /// a NOTIFICATION other than Cease/Hard Reset keeps the routes as a lost one does.
    pub notification: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            restart_time: GRACEFUL_RESTART_TIME,
            restarting: false,
            forwarding_preserved: true,
            notification: true,
        }
    }
}

/// Which AS the remote side must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedAs {
    /// Exactly this AS.
    Exact(u32),
    /// Any AS other than our own (a dynamic eBGP template without `remote_as`).
    AnyExternal,
}

/// Our side of the session, as needed to build and check OPENs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSide {
    /// Local AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Proposed hold time (seconds; 0 or >= 3).
    pub hold_time: u16,
    /// What the remote AS must be.
    pub expected_as: ExpectedAs,
    /// What our graceful restart capability says.
    pub graceful_restart: GracefulRestartConfig,
}

impl LocalSide {
    /// Is this an internal session (per the expected AS)?
    pub fn internal(&self) -> bool {
        self.expected_as == ExpectedAs::Exact(self.local_as)
    }

    /// The OPEN we send: version 4, MP IPv4 and IPv6 unicast, route refresh, 4-octet AS,
    /// graceful restart for IPv4 and IPv6 unicast as configured.
    pub fn open(&self) -> Open {
        let my_as = u16::try_from(self.local_as).unwrap_or(AS_TRANS);
        Open {
            version: 4,
            my_as,
            hold_time: self.hold_time,
            bgp_id: self.router_id,
            capabilities: vec![
                Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast),
                Capability::Multiprotocol(Afi::Ipv6, Safi::Unicast),
                Capability::RouteRefresh,
                Capability::FourOctetAs(self.local_as),
                Capability::GracefulRestart(GracefulRestart {
                    restarting: self.graceful_restart.restarting,
                    notification: self.graceful_restart.notification,
                    restart_time: self.graceful_restart.restart_time.min(0x0fff),
                    families: vec![
                        (
                            Afi::Ipv4,
                            Safi::Unicast,
                            self.graceful_restart.forwarding_preserved,
                        ),
                        (
                            Afi::Ipv6,
                            Safi::Unicast,
                            self.graceful_restart.forwarding_preserved,
                        ),
                    ],
                }),
            ],
        }
    }
}

/// What both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The remote AS (4-octet when the capability was sent).
    pub remote_as: u32,
    /// The remote BGP identifier.
    pub remote_id: Ipv4Addr,
    /// Negotiated hold time (0 = no hold timer and no keepalives).
    pub hold_time: u16,
    /// Both sides can carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// IPv4 unicast routes may be exchanged.
    pub ipv4: bool,
    /// IPv6 unicast routes may be exchanged.
    pub ipv6: bool,
    /// The peer understands ROUTE-REFRESH.
    pub route_refresh: bool,
    /// The peer advertised graceful restart.
    pub graceful_restart: bool,
    /// The peer's graceful restart capability: Restart Time, Restart State and, per
    /// family, whether it is listed and its Forwarding State bit.
    pub peer_restart: PeerRestart,
    /// Both sides set the graceful restart N bit (RFC 8538): a NOTIFICATION other than
    /// Cease/Hard Reset ends this session the way a lost TCP connection does.
    pub graceful_notification: bool,
    /// The session is iBGP.
    pub internal: bool,
}

/// What a peer's graceful restart capability (RFC 4724 §3) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerRestart {
    /// Restart Time in seconds.
    pub restart_time: u16,
    /// Restart State bit: the peer has just restarted.
    pub restarting: bool,
    /// IPv4 unicast listed: `Some(forwarding state preserved)`.
    pub ipv4: Option<bool>,
    /// IPv6 unicast listed: `Some(forwarding state preserved)`.
    pub ipv6: Option<bool>,
}

impl Negotiated {
    /// How UPDATEs of this session are read and written.
    pub fn parse_ctx(&self) -> ParseCtx {
        ParseCtx {
            four_octet_as: self.four_octet_as,
            internal: self.internal,
        }
    }

    /// Hold timer period, if any.
    pub fn hold(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time)))
    }

    /// Keepalive period (a third of the hold time), if any.
    pub fn keepalive(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from((self.hold_time / 3).max(1))))
    }
}

fn open_error(subcode: u8, data: Vec<u8>) -> Notification {
    Notification {
        code: codes::OPEN_ERROR,
        subcode,
        data,
    }
}

/// Check a received OPEN against our side and negotiate; the error is the NOTIFICATION
/// to send before closing.
pub fn negotiate(local: &LocalSide, open: &Open) -> Result<Negotiated, Notification> {
    if open.version != 4 {
        return Err(open_error(
            codes::OPEN_BAD_VERSION,
            4u16.to_be_bytes().to_vec(),
        ));
    }
    let four_octet = open.capabilities.iter().find_map(|c| match c {
        Capability::FourOctetAs(asn) => Some(*asn),
        _ => None,
    });
    let remote_as = four_octet.unwrap_or(u32::from(open.my_as));
    let as_ok = match local.expected_as {
        ExpectedAs::Exact(asn) => remote_as == asn,
        ExpectedAs::AnyExternal => remote_as != local.local_as,
    };
    if !as_ok || remote_as == 0 {
        return Err(open_error(
            codes::OPEN_BAD_PEER_AS,
            open.my_as.to_be_bytes().to_vec(),
        ));
    }
    let id = open.bgp_id;
    let internal = remote_as == local.local_as;
    if id.is_unspecified()
        || id.is_broadcast()
        || id.is_multicast()
        || (internal && id == local.router_id)
    {
        return Err(open_error(codes::OPEN_BAD_BGP_ID, id.octets().to_vec()));
    }
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(open_error(codes::OPEN_BAD_HOLD_TIME, Vec::new()));
    }
    let mp: Vec<(Afi, Safi)> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol(a, s) => Some((*a, *s)),
            _ => None,
        })
        .collect();
    // RFC 4760 §8: without any multiprotocol capability the peer speaks IPv4 unicast only.
    let ipv4 = mp.is_empty() || mp.contains(&(Afi::Ipv4, Safi::Unicast));
    let ipv6 = mp.contains(&(Afi::Ipv6, Safi::Unicast));
    let gr = open.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(g) => Some(g),
        _ => None,
    });
    Ok(Negotiated {
        remote_as,
        remote_id: id,
        hold_time: local.hold_time.min(open.hold_time),
        four_octet_as: four_octet.is_some(),
        ipv4,
        ipv6,
        route_refresh: open
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::RouteRefresh)),
        graceful_restart: gr.is_some(),
        peer_restart: gr.map(peer_restart).unwrap_or_default(),
        graceful_notification: local.graceful_restart.notification
            && gr.is_some_and(|g| g.notification),
        internal,
    })
}

/// The families a graceful restart capability lists, with their Forwarding State bits.
fn peer_restart(gr: &GracefulRestart) -> PeerRestart {
    let family = |afi: Afi| {
        gr.families
            .iter()
            .find(|(a, s, _)| (*a, *s) == (afi, Safi::Unicast))
            .map(|(_, _, f)| *f)
    };
    PeerRestart {
        restart_time: gr.restart_time,
        restarting: gr.restarting,
        ipv4: family(Afi::Ipv4),
        ipv6: family(Afi::Ipv6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalSide {
        LocalSide {
            local_as: 65000,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            hold_time: 90,
            expected_as: ExpectedAs::Exact(65000),
            graceful_restart: GracefulRestartConfig::default(),
        }
    }

    fn remote_open() -> Open {
        let mut o = LocalSide {
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            ..local()
        }
        .open();
        o.hold_time = 30;
        o
    }

    #[test]
    fn negotiates_lowest_hold_time_and_capabilities() {
        let n = negotiate(&local(), &remote_open()).unwrap();
        assert_eq!(n.hold_time, 30);
        assert_eq!(n.keepalive(), Some(Duration::from_secs(10)));
        assert!(n.four_octet_as && n.ipv4 && n.ipv6 && n.route_refresh && n.graceful_restart);
        assert!(n.graceful_notification);
        assert!(n.internal);
        assert_eq!(n.remote_id, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            n.peer_restart,
            PeerRestart {
                restart_time: GRACEFUL_RESTART_TIME,
                restarting: false,
                ipv4: Some(true),
                ipv6: Some(true),
            }
        );
    }

    #[test]
    fn graceful_restart_capability_follows_the_configuration() {
        let side = LocalSide {
            graceful_restart: GracefulRestartConfig {
                restart_time: 9000,
                restarting: true,
                forwarding_preserved: false,
                notification: false,
            },
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            ..local()
        };
        let n = negotiate(&local(), &side.open()).unwrap();
        assert!(n.graceful_restart && !n.graceful_notification);
        assert_eq!(
            n.peer_restart,
            PeerRestart {
                restart_time: 0x0fff,
                restarting: true,
                ipv4: Some(false),
                ipv6: Some(false),
            }
        );
        let mut o = remote_open();
        o.capabilities
            .retain(|c| !matches!(c, Capability::GracefulRestart(_)));
        let n = negotiate(&local(), &o).unwrap();
        assert!(!n.graceful_restart && !n.graceful_notification);
        assert_eq!(n.peer_restart, PeerRestart::default());
    }

    #[test]
    fn plain_open_means_ipv4_only_two_octet() {
        let mut o = remote_open();
        o.capabilities.clear();
        let n = negotiate(&local(), &o).unwrap();
        assert!(n.ipv4 && !n.ipv6 && !n.four_octet_as && !n.route_refresh);
    }

    #[test]
    fn hold_time_zero_disables_timers() {
        let mut o = remote_open();
        o.hold_time = 0;
        let n = negotiate(&local(), &o).unwrap();
        assert_eq!((n.hold(), n.keepalive()), (None, None));
    }

    #[test]
    fn rejects_bad_opens_with_the_right_subcode() {
        type Mutation = Box<dyn Fn(&mut Open)>;
        let cases: Vec<(Mutation, u8)> = vec![
            (Box::new(|o| o.version = 3), codes::OPEN_BAD_VERSION),
            (Box::new(|o| o.hold_time = 2), codes::OPEN_BAD_HOLD_TIME),
            (
                Box::new(|o| o.bgp_id = Ipv4Addr::UNSPECIFIED),
                codes::OPEN_BAD_BGP_ID,
            ),
            (
                Box::new(|o| o.bgp_id = Ipv4Addr::new(10, 0, 0, 1)),
                codes::OPEN_BAD_BGP_ID,
            ),
            (
                Box::new(|o| {
                    o.my_as = 65001;
                    o.capabilities
                        .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
                }),
                codes::OPEN_BAD_PEER_AS,
            ),
        ];
        for (mutate, subcode) in cases {
            let mut o = remote_open();
            mutate(&mut o);
            let err = negotiate(&local(), &o).unwrap_err();
            assert_eq!(
                (err.code, err.subcode),
                (codes::OPEN_ERROR, subcode),
                "{o:?}"
            );
        }
    }

    #[test]
    fn four_octet_as_comes_from_the_capability() {
        let ext = LocalSide {
            expected_as: ExpectedAs::Exact(4_200_000_000),
            ..local()
        };
        let mut o = remote_open();
        o.my_as = AS_TRANS;
        o.capabilities
            .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
        o.capabilities.push(Capability::FourOctetAs(4_200_000_000));
        let n = negotiate(&ext, &o).unwrap();
        assert_eq!(n.remote_as, 4_200_000_000);
        assert!(!n.internal);
        let any = LocalSide {
            expected_as: ExpectedAs::AnyExternal,
            ..local()
        };
        assert!(negotiate(&any, &o).is_ok());
        assert!(
            negotiate(&any, &remote_open()).is_err(),
            "own AS is not external"
        );
    }
}
