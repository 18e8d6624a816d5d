//! Differential tests against zettabgp for OPEN, NOTIFICATION, ROUTE-REFRESH and
//! KEEPALIVE, in both directions (UPDATE is in `wire_differential.rs`, with the list of
//! zettabgp 0.6.0 limits: unknown capabilities are dropped on decode, no RFC 9072 OPEN
//! parameters, NOTIFICATION data held as one u16 so two data octets are compared).

mod wire_zetta;

use std::net::Ipv4Addr;

use bgp::wire::{
    Afi, Capability, GracefulRestart, Message, Notification, Open, ParseCtx, RouteRefresh, Safi,
};
use proptest::collection::vec;
use proptest::prelude::*;
use wire_zetta::{session, zetta_body, zetta_encode};
use zettabgp::prelude::*;

fn zetta_caps(caps: &[Capability]) -> Vec<BgpCapability> {
    caps.iter()
        .filter_map(|cap| match cap {
            Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast) => Some(BgpCapability::SafiIPv4u),
            Capability::Multiprotocol(Afi::Ipv6, Safi::Unicast) => Some(BgpCapability::SafiIPv6u),
            Capability::RouteRefresh => Some(BgpCapability::CapRR),
            Capability::FourOctetAs(asn) => Some(BgpCapability::CapASN32(*asn)),
            Capability::GracefulRestart(gr) => Some(BgpCapability::CapGR {
                restart_time: gr.restart_time,
                restart_state: gr.restarting,
                afis: gr
                    .families
                    .iter()
                    .map(|(a, s, f)| BgpCapGR {
                        afi: u16::from(*a),
                        safi: u8::from(*s),
                        forwarding_state: *f,
                    })
                    .collect(),
            }),
            Capability::Unknown { .. } => None,
            Capability::Multiprotocol(..) => unreachable!("not generated"),
        })
        .collect()
}

fn capability() -> impl Strategy<Value = Capability> {
    let family = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| (Afi::from(a), Safi::from(s)));
    prop_oneof![
        Just(Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast)),
        Just(Capability::Multiprotocol(Afi::Ipv6, Safi::Unicast)),
        Just(Capability::RouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            0u16..4096,
            vec((family, any::<bool>()), 0..4)
        )
            .prop_map(|(restarting, restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restarting,
                    notification: false,
                    restart_time,
                    families: families.into_iter().map(|((a, s), f)| (a, s, f)).collect(),
                })
            }),
        // Codes zettabgp does not know, so it skips them.
        (200u8..=250, vec(any::<u8>(), 0..8))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn opens_agree_in_both_directions(
        my_as in any::<u16>(),
        hold_time in prop_oneof![Just(0u16), 3u16..],
        id in 1u32..,
        caps in vec(capability(), 0..12),
    ) {
        let ctx = ParseCtx { four_octet_as: true, internal: true };
        let params = session(&ctx);
        let ours = Open { version: 4, my_as, hold_time, bgp_id: Ipv4Addr::from(id), capabilities: caps.clone() };
        let mut bytes = Vec::new();
        Message::Open(ours.clone()).emit(&ctx, &mut bytes);
        let (kind, body) = zetta_body(&params, &bytes);
        prop_assert_eq!(kind, BgpMessageType::Open);
        let mut decoded = BgpOpenMessage::new();
        decoded.decode_from(&params, body).expect("zettabgp decodes our OPEN");
        prop_assert_eq!(decoded.as_num, u32::from(my_as));
        prop_assert_eq!(decoded.hold_time, hold_time);
        prop_assert_eq!(decoded.router_id, ours.bgp_id);
        prop_assert_eq!(&decoded.caps, &zetta_caps(&caps));

        // And back: zettabgp's encoding parses to the capabilities it knows.
        let bytes = zetta_encode(&params, BgpMessageType::Open, &decoded);
        let Ok(Message::Open(parsed)) = Message::parse(&bytes, &ctx) else {
            panic!("we reject zettabgp's OPEN");
        };
        let known: Vec<Capability> = caps.into_iter().filter(|c| !matches!(c, Capability::Unknown { .. })).collect();
        prop_assert_eq!(parsed, Open { capabilities: known, ..ours });
    }

    #[test]
    fn notifications_and_route_refresh_agree_in_both_directions(
        code in any::<u8>(),
        subcode in any::<u8>(),
        data in any::<u16>(),
        afi in any::<u16>(),
        safi in any::<u8>(),
    ) {
        let ctx = ParseCtx { four_octet_as: true, internal: true };
        let params = session(&ctx);
        let ours = Notification { code, subcode, data: data.to_be_bytes().to_vec() };
        let mut bytes = Vec::new();
        Message::Notification(ours.clone()).emit(&ctx, &mut bytes);
        let mut decoded = BgpNotificationMessage::new();
        decoded.decode_from(&params, zetta_body(&params, &bytes).1).unwrap();
        prop_assert_eq!((decoded.error_code, decoded.error_subcode, decoded.data), (code, subcode, data));
        let back = zetta_encode(&params, BgpMessageType::Notification, &decoded);
        prop_assert_eq!(Message::parse(&back, &ctx), Ok(Message::Notification(ours)));

        let ours = RouteRefresh { afi: Afi::from(afi), safi: Safi::from(safi) };
        let mut bytes = Vec::new();
        Message::RouteRefresh(ours).emit(&ctx, &mut bytes);
        let mut decoded = BgpRouterefreshMessage::new();
        decoded.decode_from(&params, zetta_body(&params, &bytes).1).unwrap();
        prop_assert_eq!((decoded.afi, decoded.safi, decoded.subtype), (afi, safi, 0));
        let back = zetta_encode(&params, BgpMessageType::Routerefresh, &decoded);
        prop_assert_eq!(Message::parse(&back, &ctx), Ok(Message::RouteRefresh(ours)));
    }
}

#[test]
fn keepalive_agrees_in_both_directions() {
    let ctx = ParseCtx {
        four_octet_as: true,
        internal: true,
    };
    let params = session(&ctx);
    let mut bytes = Vec::new();
    Message::Keepalive.emit(&ctx, &mut bytes);
    let (kind, body) = zetta_body(&params, &bytes);
    assert_eq!((kind, body.len()), (BgpMessageType::Keepalive, 0));
    let back = zetta_encode(&params, BgpMessageType::Keepalive, &BgpKeepaliveMessage {});
    assert_eq!(Message::parse(&back, &ctx), Ok(Message::Keepalive));
}
