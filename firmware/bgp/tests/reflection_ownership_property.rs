//! Property: a route reflector whose clients may only announce the /32s they own (an
//! allow-only import policy per session, as SAM derives it from each leaf's claim) never
//! reflects a /32 to another client unless the announcing client owns it at that moment.
//!
//! ```text
//!   clients 10.0.0.2..=6 (dynamic, reject-all until their claim is set)
//!        <---->  speaker 10.0.0.1 (RR, dynamic range 10.0.0.0/29)
//! ```
//!
//! Random claims (each /32 owned by at most one client), random announcements and
//! withdrawals of owned and foreign /32s, claims moving between clients, sessions
//! closing and coming back. After every step the routes each client has been sent
//! (replayed from the transmitted UPDATEs) are checked against the current claims,
//! keyed by ORIGINATOR_ID: nothing foreign is ever sent, and nothing stays after a
//! claim moves away.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp::Speaker;
use bgp::policy::{Policy, PrefixRange, Verdict};
use bgp::speaker::{ConnId, DynamicRange, Input, Output, PeerConfig, PeerKind, SpeakerConfig};
use bgp::wire::{self, Afi, Capability, Message, Open, Origin, ParseCtx, PathAttributes, Safi};
use ipnet::{IpNet, Ipv4Net};
use proptest::prelude::*;

const CTX: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};
const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Clients are 10.0.0.FIRST..=LAST.
const FIRST: u8 = 2;
const LAST: u8 = 6;
/// Prefixes are 198.51.100.0..PREFIXES.
const PREFIXES: u8 = 12;

fn client(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

fn prefix(i: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 51, 100, i), 32).expect("valid /32")
}

#[derive(Debug, Clone)]
enum Op {
    /// Client announces these /32s (owned or not).
    Announce { from: u8, prefixes: Vec<u8> },
    /// Client withdraws these /32s.
    Withdraw { from: u8, prefixes: Vec<u8> },
    /// The claim of /32 `prefix` moves to `to` (or to nobody).
    MoveClaim { prefix: u8, to: Option<u8> },
    /// The client's session closes and comes back (reject-all until its policy is set).
    Reconnect(u8),
    /// One second passes; every client sends a KEEPALIVE.
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    let who = FIRST..=LAST;
    let prefixes = proptest::collection::vec(0..PREFIXES, 1..5);
    prop_oneof![
        6 => (who.clone(), prefixes.clone()).prop_map(|(from, prefixes)| Op::Announce { from, prefixes }),
        2 => (who.clone(), prefixes).prop_map(|(from, prefixes)| Op::Withdraw { from, prefixes }),
        2 => (0..PREFIXES, proptest::option::of(who.clone())).prop_map(|(prefix, to)| Op::MoveClaim { prefix, to }),
        1 => who.prop_map(Op::Reconnect),
        1 => Just(Op::Tick),
    ]
}

fn emit(m: &Message) -> Vec<u8> {
    let mut v = Vec::new();
    m.emit(&CTX, &mut v);
    v
}

struct Rr {
    s: Speaker,
    now: Instant,
    /// Owner of each /32.
    owner: BTreeMap<u8, u8>,
    /// Connection of each connected client.
    conn_of: BTreeMap<u8, u64>,
    next_conn: u64,
    /// Per receiving client: prefix -> ORIGINATOR_ID of what it was last sent.
    sent: BTreeMap<u8, BTreeMap<Ipv4Net, Ipv4Addr>>,
}

impl Rr {
    fn new(owner: BTreeMap<u8, u8>) -> Rr {
        let mut s = Speaker::new(SpeakerConfig {
            local_as: 65000,
            router_id: ME,
            cluster_id: None,
            local_addresses: vec![IpAddr::V4(ME)],
            multipath: false,
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
            hold_time: 90,
            connect_retry: Duration::from_secs(3),
            next_hop_self: false,
            import: Policy {
                rules: Vec::new(),
                default: Verdict::Reject("unknown-session".to_string()),
            },
            export: Policy::default(),
            max_prefix: None,
        };
        s.handle_input(
            now,
            Input::AddRange(DynamicRange {
                name: "leaves".into(),
                prefix: "10.0.0.0/29".parse().expect("valid prefix"),
                template,
                max_peers: 8,
            }),
        );
        Rr {
            s,
            now,
            owner,
            conn_of: BTreeMap::new(),
            next_conn: 1,
            sent: BTreeMap::new(),
        }
    }

    fn policy_for(&self, who: u8) -> Policy {
        let owned = self
            .owner
            .iter()
            .filter(|(_, o)| **o == who)
            .map(|(p, _)| PrefixRange::exact(IpNet::V4(prefix(*p))));
        Policy::allow_only(owned, "not-owned")
    }

    fn set_policy(&mut self, who: u8) {
        let policy = self.policy_for(who);
        self.s.handle_input(
            self.now,
            Input::SetImportPolicy {
                peer: IpAddr::V4(client(who)),
                policy,
            },
        );
    }

    fn feed(&mut self, who: u8, bytes: &[u8]) {
        if let Some(&conn) = self.conn_of.get(&who) {
            self.s.handle_input(
                self.now,
                Input::Received {
                    conn: ConnId(conn),
                    data: bytes,
                },
            );
        }
    }

    fn connect(&mut self, who: u8) {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.conn_of.insert(who, conn);
        self.sent.insert(who, BTreeMap::new());
        self.s.handle_input(
            self.now,
            Input::Accepted {
                conn: ConnId(conn),
                remote: SocketAddr::new(IpAddr::V4(client(who)), 40000),
                local: SocketAddr::new(IpAddr::V4(ME), 179),
            },
        );
        let open = Open {
            version: 4,
            my_as: 65000,
            hold_time: 90,
            bgp_id: client(who),
            capabilities: vec![
                Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast),
                Capability::FourOctetAs(65000),
            ],
        };
        self.feed(who, &emit(&Message::Open(open)));
        self.feed(who, &emit(&Message::Keepalive));
        // The claim is known once the session is admitted (SAM sets it on admission).
        self.set_policy(who);
    }

    fn close(&mut self, who: u8) {
        if let Some(conn) = self.conn_of.remove(&who) {
            self.sent.remove(&who);
            self.s
                .handle_input(self.now, Input::Closed { conn: ConnId(conn) });
        }
    }

    /// Applies every transmitted UPDATE to the receiver's view.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(out) = self.s.poll_output() {
            match out {
                Output::Transmit { conn, bytes } => {
                    let Some((&who, _)) = self.conn_of.iter().find(|(_, c)| **c == conn.0) else {
                        continue;
                    };
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let n = wire::frame_len(rest)
                            .map_err(|e| TestCaseError::fail(format!("bad frame: {e}")))?
                            .ok_or_else(|| TestCaseError::fail("partial message written"))?;
                        let message = Message::parse(&rest[..n], &CTX)
                            .map_err(|e| TestCaseError::fail(format!("unparsable: {e}")))?;
                        rest = &rest[n..];
                        let Message::Update(update) = message else {
                            continue;
                        };
                        let view = self.sent.entry(who).or_default();
                        for w in &update.withdrawn {
                            view.remove(w);
                        }
                        for p in &update.nlri {
                            let origin = update.attrs.originator_id.ok_or_else(|| {
                                TestCaseError::fail(format!("{p} reflected without ORIGINATOR_ID"))
                            })?;
                            view.insert(*p, origin);
                        }
                    }
                }
                Output::Close { conn } => {
                    let gone: Vec<u8> = self
                        .conn_of
                        .iter()
                        .filter(|(_, c)| **c == conn.0)
                        .map(|(w, _)| *w)
                        .collect();
                    for who in gone {
                        self.conn_of.remove(&who);
                        self.sent.remove(&who);
                    }
                }
                Output::Fib(_) | Output::Connect { .. } | Output::Event(_) => {}
            }
        }
        Ok(())
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Announce { from, prefixes } => {
                let attrs = PathAttributes {
                    origin: Some(Origin::Igp),
                    next_hop: Some(client(from)),
                    local_pref: Some(100),
                    ..Default::default()
                };
                let nlri: Vec<Ipv4Net> = prefixes.iter().map(|p| prefix(*p)).collect();
                let mut msgs = Vec::new();
                wire::pack_updates(&CTX, &attrs, &nlri, &mut msgs);
                self.feed(from, &msgs.concat());
            }
            Op::Withdraw { from, prefixes } => {
                let w: Vec<Ipv4Net> = prefixes.iter().map(|p| prefix(*p)).collect();
                let mut msgs = Vec::new();
                wire::pack_withdrawals(&CTX, &w, &mut msgs);
                self.feed(from, &msgs.concat());
            }
            Op::MoveClaim { prefix: p, to } => {
                let before = self.owner.get(&p).copied();
                match to {
                    Some(to) => self.owner.insert(p, to),
                    None => self.owner.remove(&p),
                };
                for who in [before, to].into_iter().flatten() {
                    self.set_policy(who);
                }
            }
            Op::Reconnect(who) => {
                self.close(who);
                self.connect(who);
            }
            Op::Tick => {
                self.now += Duration::from_secs(1);
                self.s.handle_timeout(self.now);
                let who: Vec<u8> = self.conn_of.keys().copied().collect();
                for w in who {
                    self.feed(w, &emit(&Message::Keepalive));
                }
            }
        }
    }

    /// Every route any client was sent is owned, now, by the client it came from.
    fn check(&self) -> Result<(), TestCaseError> {
        for (receiver, view) in &self.sent {
            for (p, origin) in view {
                let last = p.addr().octets()[3];
                let owner = self.owner.get(&last).map(|o| client(*o));
                prop_assert_eq!(
                    owner,
                    Some(*origin),
                    "client {} holds {} from {} but the claim is {:?}",
                    client(*receiver),
                    p,
                    origin,
                    owner
                );
                prop_assert_ne!(
                    *origin,
                    client(*receiver),
                    "reflected back to its originator"
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn the_rr_never_reflects_a_32_the_announcing_claim_does_not_own(
        owners in proptest::collection::vec(proptest::option::of(FIRST..=LAST), PREFIXES as usize),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let owner: BTreeMap<u8, u8> = owners
            .iter()
            .enumerate()
            .filter_map(|(p, o)| o.map(|o| (p as u8, o)))
            .collect();
        let mut rr = Rr::new(owner);
        rr.drain()?;
        for who in FIRST..=LAST {
            rr.connect(who);
            rr.drain()?;
        }
        for op in ops {
            rr.step(op);
            rr.drain()?;
            rr.check()?;
        }
    }
}

/// The same check on a fixed case: owned routes are reflected, foreign ones are not,
/// and a claim moving away takes the route with it.
#[test]
fn owned_routes_are_reflected_and_follow_their_claim() {
    let owner: BTreeMap<u8, u8> = [(1, 2), (2, 3)].into_iter().collect();
    let mut rr = Rr::new(owner);
    rr.drain().expect("drain");
    for who in FIRST..=LAST {
        rr.connect(who);
        rr.drain().expect("drain");
    }
    rr.step(Op::Announce {
        from: 2,
        prefixes: vec![1, 2],
    });
    rr.drain().expect("drain");
    rr.check().expect("only owned routes");
    let at4 = &rr.sent[&4];
    assert_eq!(
        at4.get(&prefix(1)),
        Some(&client(2)),
        "owned route reflected"
    );
    assert_eq!(at4.get(&prefix(2)), None, "foreign route not reflected");
    rr.step(Op::MoveClaim {
        prefix: 1,
        to: Some(5),
    });
    rr.drain().expect("drain");
    rr.check().expect("only owned routes");
    assert_eq!(
        rr.sent[&4].get(&prefix(1)),
        None,
        "withdrawn with its claim"
    );
}
