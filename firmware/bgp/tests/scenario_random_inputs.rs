//! Random input sequences against one speaker: it never panics, every byte it writes
//! parses, FIB changes are consistent, and per-peer counters add up.
//!
//! ```text
//!   random peers 10.0.0.2..9 (configured or dynamic, some speaking valid BGP,
//!   some garbage)  <---->  speaker 10.0.0.1 (RR, dynamic range 10.0.0.0/29)
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp::Speaker;
use bgp::policy::{Policy, PrefixRange};
use bgp::speaker::{
    ConnId, DynamicRange, FibChange, Input, Output, PeerConfig, PeerKind, SpeakerConfig,
};
use bgp::wire::{
    self, Afi, Capability, Message, Open, Origin, ParseCtx, PathAttributes, RouteRefresh, Safi,
};
use ipnet::{IpNet, Ipv4Net};
use proptest::prelude::*;

const CTX: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};
const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

#[derive(Debug, Clone)]
enum Op {
    AddPeer {
        addr: u8,
        passive: bool,
        rr_client: bool,
        max: Option<u8>,
    },
    RemovePeer(u8),
    Accept {
        conn: u8,
        addr: u8,
    },
    Connected {
        conn: u8,
        addr: u8,
    },
    ConnectFailed(u8),
    Open {
        conn: u8,
        id: u8,
        hold: u16,
    },
    /// Accept, OPEN and KEEPALIVE in one go: a well-behaved peer.
    Session {
        conn: u8,
        addr: u8,
        hold: u16,
    },
    Keepalive(u8),
    Update {
        conn: u8,
        prefixes: Vec<u8>,
        local_pref: u32,
        cluster: bool,
    },
    Withdraw {
        conn: u8,
        prefixes: Vec<u8>,
    },
    Refresh(u8),
    Garbage {
        conn: u8,
        bytes: Vec<u8>,
    },
    Close(u8),
    Advance(u16),
    Announce(u8),
    Unannounce(u8),
    Policy {
        addr: u8,
        allowed: Vec<u8>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let addr = 2u8..10;
    let conn = 0u8..6;
    let prefixes = proptest::collection::vec(0u8..16, 0..6);
    prop_oneof![
        1 => (addr.clone(), any::<bool>(), any::<bool>(), proptest::option::of(1u8..6))
            .prop_map(|(addr, passive, rr_client, max)| Op::AddPeer { addr, passive, rr_client, max }),
        1 => addr.clone().prop_map(Op::RemovePeer),
        3 => (conn.clone(), addr.clone()).prop_map(|(conn, addr)| Op::Accept { conn, addr }),
        1 => (conn.clone(), addr.clone()).prop_map(|(conn, addr)| Op::Connected { conn, addr }),
        1 => addr.clone().prop_map(Op::ConnectFailed),
        4 => (conn.clone(), addr.clone(), prop_oneof![Just(0u16), Just(2), Just(9), Just(90)])
            .prop_map(|(conn, id, hold)| Op::Open { conn, id, hold }),
        4 => conn.clone().prop_map(Op::Keepalive),
        5 => (conn.clone(), addr.clone(), prop_oneof![Just(0u16), Just(9), Just(90)])
            .prop_map(|(conn, addr, hold)| Op::Session { conn, addr, hold }),
        10 => (conn.clone(), prefixes.clone(), 50u32..150, any::<bool>())
            .prop_map(|(conn, prefixes, local_pref, cluster)| Op::Update { conn, prefixes, local_pref, cluster }),
        2 => (conn.clone(), prefixes.clone()).prop_map(|(conn, prefixes)| Op::Withdraw { conn, prefixes }),
        1 => conn.clone().prop_map(Op::Refresh),
        1 => (conn.clone(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(conn, bytes)| Op::Garbage { conn, bytes }),
        2 => conn.clone().prop_map(Op::Close),
        3 => prop_oneof![4 => 0u16..5, 1 => 0u16..400].prop_map(Op::Advance),
        1 => (0u8..16).prop_map(Op::Announce),
        1 => (0u8..16).prop_map(Op::Unannounce),
        1 => (addr, proptest::collection::vec(0u8..16, 0..4)).prop_map(|(addr, allowed)| Op::Policy { addr, allowed }),
    ]
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn prefix(i: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 51, 100, i), 32).unwrap()
}

fn emit(m: &Message) -> Vec<u8> {
    let mut v = Vec::new();
    m.emit(&CTX, &mut v);
    v
}

struct World {
    s: Speaker,
    now: Instant,
    fib: BTreeMap<IpNet, Vec<IpAddr>>,
    /// Daemon view: connection -> remote address.
    conns: BTreeMap<u64, IpAddr>,
}

impl World {
    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(out) = self.s.poll_output() {
            match out {
                Output::Transmit { conn, bytes } => {
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let n = wire::frame_len(rest)
                            .map_err(|e| TestCaseError::fail(format!("bad frame: {e}")))?
                            .ok_or_else(|| TestCaseError::fail("partial message written"))?;
                        Message::parse(&rest[..n], &CTX).map_err(|e| {
                            TestCaseError::fail(format!("unparsable output on {conn:?}: {e}"))
                        })?;
                        rest = &rest[n..];
                    }
                }
                Output::Close { conn } => {
                    self.conns.remove(&conn.0);
                }
                Output::Fib(FibChange::Replace { prefix, next_hops }) => {
                    prop_assert!(!next_hops.is_empty());
                    self.fib.insert(prefix, next_hops);
                }
                Output::Fib(FibChange::Withdraw { prefix }) => {
                    prop_assert!(
                        self.fib.remove(&prefix).is_some(),
                        "withdraw of absent {}",
                        prefix
                    );
                }
                Output::Connect { .. } | Output::Event(_) => {}
            }
        }
        Ok(())
    }

    fn feed(&mut self, conn: u8, bytes: &[u8]) {
        let id = ConnId(u64::from(conn));
        if self.conns.contains_key(&id.0) {
            self.s.handle_input(
                self.now,
                Input::Received {
                    conn: id,
                    data: bytes,
                },
            );
        }
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        let now = self.now;
        let local = SocketAddr::new(IpAddr::V4(ME), 179);
        match op {
            Op::AddPeer {
                addr,
                passive,
                rr_client,
                max,
            } => {
                let cfg = PeerConfig {
                    remote: ip(addr),
                    port: 179,
                    remote_as: None,
                    local: None,
                    kind: PeerKind::Internal,
                    rr_client,
                    passive,
                    hold_time: 9,
                    connect_retry: Duration::from_secs(3),
                    next_hop_self: addr % 2 == 0,
                    import: Policy::default(),
                    export: Policy::default(),
                    max_prefix: max.map(|m| {
                        (
                            u32::from(m),
                            bgp::speaker::MaxPrefixAction::Shutdown(Duration::from_secs(5)),
                        )
                    }),
                };
                self.s.handle_input(now, Input::AddPeer(cfg));
            }
            Op::RemovePeer(a) => self.s.handle_input(now, Input::RemovePeer(ip(a))),
            Op::Accept { conn, addr } => {
                if let std::collections::btree_map::Entry::Vacant(e) =
                    self.conns.entry(u64::from(conn))
                {
                    e.insert(ip(addr));
                    let remote = SocketAddr::new(ip(addr), 40000);
                    self.s.handle_input(
                        now,
                        Input::Accepted {
                            conn: ConnId(u64::from(conn)),
                            remote,
                            local,
                        },
                    );
                }
            }
            Op::Connected { conn, addr } => {
                if let std::collections::btree_map::Entry::Vacant(e) =
                    self.conns.entry(u64::from(conn))
                {
                    e.insert(ip(addr));
                    let local = SocketAddr::new(IpAddr::V4(ME), 40001);
                    self.s.handle_input(
                        now,
                        Input::Connected {
                            peer: ip(addr),
                            conn: ConnId(u64::from(conn)),
                            local,
                        },
                    );
                }
            }
            Op::ConnectFailed(a) => self
                .s
                .handle_input(now, Input::ConnectFailed { peer: ip(a) }),
            Op::Open { conn, id, hold } => {
                let open = Open {
                    version: 4,
                    my_as: 65000,
                    hold_time: hold,
                    bgp_id: Ipv4Addr::new(10, 0, 0, id),
                    capabilities: vec![
                        Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast),
                        Capability::RouteRefresh,
                        Capability::FourOctetAs(65000),
                    ],
                };
                self.feed(conn, &emit(&Message::Open(open)));
            }
            Op::Keepalive(conn) => self.feed(conn, &emit(&Message::Keepalive)),
            Op::Session { conn, addr, hold } => {
                self.step(Op::Accept { conn, addr })?;
                self.step(Op::Open {
                    conn,
                    id: addr,
                    hold,
                })?;
                self.step(Op::Keepalive(conn))?;
            }
            Op::Update {
                conn,
                prefixes,
                local_pref,
                cluster,
            } => {
                let nh = self.conns.get(&u64::from(conn)).copied();
                let Some(IpAddr::V4(nh)) = nh else {
                    return Ok(());
                };
                let attrs = PathAttributes {
                    origin: Some(Origin::Igp),
                    next_hop: Some(nh),
                    local_pref: Some(local_pref),
                    cluster_list: if cluster { vec![ME] } else { vec![] },
                    ..Default::default()
                };
                let nlri: Vec<Ipv4Net> = prefixes.iter().map(|p| prefix(*p)).collect();
                let mut msgs = Vec::new();
                wire::pack_updates(&CTX, &attrs, &nlri, &mut msgs);
                self.feed(conn, &msgs.concat());
            }
            Op::Withdraw { conn, prefixes } => {
                let w: Vec<Ipv4Net> = prefixes.iter().map(|p| prefix(*p)).collect();
                let mut msgs = Vec::new();
                wire::pack_withdrawals(&CTX, &w, &mut msgs);
                self.feed(conn, &msgs.concat());
            }
            Op::Refresh(conn) => self.feed(
                conn,
                &emit(&Message::RouteRefresh(RouteRefresh {
                    afi: Afi::Ipv4,
                    safi: Safi::Unicast,
                })),
            ),
            Op::Garbage { conn, bytes } => self.feed(conn, &bytes),
            Op::Close(conn) => {
                if self.conns.remove(&u64::from(conn)).is_some() {
                    self.s.handle_input(
                        now,
                        Input::Closed {
                            conn: ConnId(u64::from(conn)),
                        },
                    );
                }
            }
            Op::Advance(secs) => {
                self.now += Duration::from_secs(u64::from(secs));
                while let Some(t) = self.s.poll_timeout().filter(|t| *t <= self.now) {
                    self.s.handle_timeout(t.max(now));
                    self.drain()?;
                }
                self.s.handle_timeout(self.now);
            }
            Op::Announce(i) => {
                let attrs = PathAttributes {
                    origin: Some(Origin::Igp),
                    ..Default::default()
                };
                self.s.handle_input(
                    now,
                    Input::Announce {
                        prefix: IpNet::V4(prefix(i + 100)),
                        attrs,
                    },
                );
            }
            Op::Unannounce(i) => self
                .s
                .handle_input(now, Input::Withdraw(IpNet::V4(prefix(i + 100)))),
            Op::Policy { addr, allowed } => {
                let ranges = allowed
                    .iter()
                    .map(|p| PrefixRange::exact(IpNet::V4(prefix(*p))));
                let policy = Policy::allow_only(ranges, "not-owned");
                self.s.handle_input(
                    now,
                    Input::SetImportPolicy {
                        peer: ip(addr),
                        policy,
                    },
                );
            }
        }
        self.drain()?;
        // Counters add up, and the Loc-RIB holds no more than what was accepted.
        let mut accepted = 0;
        for p in self.s.peers() {
            let rejected: u64 = p.rejected.iter().map(|r| r.1).sum();
            prop_assert_eq!(p.accepted + rejected, p.received, "{:?}", p);
            accepted += p.accepted;
        }
        prop_assert!(self.s.loc_rib_len() as u64 <= accepted + 16);
        // Only learned routes are in the FIB.
        prop_assert!(self.fib.len() <= self.s.loc_rib_len());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn random_inputs_keep_the_speaker_consistent(ops in proptest::collection::vec(op(), 1..120)) {
        let mut s = Speaker::new(SpeakerConfig {
            local_as: 65000,
            router_id: ME,
            cluster_id: None,
            local_addresses: vec![IpAddr::V4(ME), ip(9)],
            multipath: true,
        });
        let now = Instant::now();
        let template = PeerConfig {
            remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 179,
            remote_as: None,
            local: None,
            kind: PeerKind::Internal,
            rr_client: true,
            passive: true,
            hold_time: 9,
            connect_retry: Duration::from_secs(3),
            next_hop_self: false,
            import: Policy::default(),
            export: Policy::default(),
            max_prefix: None,
        };
        s.handle_input(now, Input::AddRange(DynamicRange {
            name: "r".into(),
            prefix: "10.0.0.0/29".parse().unwrap(),
            template,
            max_peers: 3,
        }));
        let mut w = World { s, now, fib: BTreeMap::new(), conns: BTreeMap::new() };
        w.drain()?;
        for op in ops {
            w.step(op)?;
        }
        // Everything ends: every route goes away.
        w.s.handle_input(w.now, Input::Shutdown);
        w.drain()?;
        for c in std::mem::take(&mut w.conns).into_keys() {
            w.s.handle_input(w.now, Input::Closed { conn: ConnId(c) });
        }
        w.drain()?;
        prop_assert!(w.fib.is_empty(), "FIB left: {:?}", w.fib);
        for p in w.s.peers() {
            prop_assert_eq!(p.received, 0);
            prop_assert_eq!(p.state.as_str(), "Idle");
        }
    }
}
