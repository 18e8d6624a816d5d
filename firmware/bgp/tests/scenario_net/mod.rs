//! In-memory network of [`Speaker`]s with a simulated clock, for scenario tests.
//!
//! The harness plays the daemon: it turns `Connect` outputs into connection pairs
//! (`Connected` at the initiator, `Accepted` at the listener), carries `Transmit` bytes
//! to the other end in order, turns `Close` into `Closed` at the other end, and applies
//! `Fib` changes to a per-node table. Time only moves in [`Net::advance`], which fires
//! every deadline in order. Links can be black-holed (bytes silently dropped) or cut.
//! "Raw" endpoints let a test speak BGP bytes by hand to a speaker.
//!
//! Everything delivered to a node is also decoded and kept in its inbox, so tests can
//! check the UPDATEs a speaker received (ORIGINATOR_ID, CLUSTER_LIST, ...).
#![allow(dead_code, unreachable_pub)]

mod raw;
mod rr_fabric;
#[allow(unused_imports)]
pub use raw::*;
#[allow(unused_imports)]
pub use rr_fabric::*;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp::Speaker;
use bgp::policy::Policy;
use bgp::speaker::{
    ConnId, DynamicRange, Event, FibChange, Input, Output, PeerConfig, PeerKind, SpeakerConfig,
};
use bgp::wire::{self, Message, ParseCtx, PathAttributes};
use ipnet::IpNet;

/// One simulated router.
pub struct Node {
    pub name: String,
    pub addr: IpAddr,
    pub speaker: Speaker,
    /// Forwarding table built from `Fib` outputs.
    pub fib: BTreeMap<IpNet, Vec<IpAddr>>,
    /// Number of `Fib(Withdraw)` outputs seen.
    pub fib_withdrawals: usize,
    pub events: Vec<Event>,
    /// Messages delivered to this node: (sender address, message).
    pub inbox: Vec<(IpAddr, Message)>,
    /// Messages this node sent: (receiver address, message).
    pub sent: Vec<(IpAddr, Message)>,
    /// Accepts connections.
    pub listening: bool,
}

/// Which side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Side {
    Node(usize),
    Raw,
}

#[derive(Clone, Copy, Debug)]
struct End {
    side: Side,
    addr: IpAddr,
    peer: ConnId,
    /// This end opened the connection.
    initiator: bool,
}

enum Delivery {
    Input(usize, OwnedInput),
}

enum OwnedInput {
    Connected {
        peer: IpAddr,
        conn: ConnId,
        local: SocketAddr,
    },
    Accepted {
        conn: ConnId,
        remote: SocketAddr,
        local: SocketAddr,
    },
    Received {
        conn: ConnId,
        data: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
}

/// The network.
pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    ends: HashMap<ConnId, End>,
    next_conn: u64,
    queue: VecDeque<Delivery>,
    blackholed: HashSet<(IpAddr, IpAddr)>,
    /// Bytes received by raw endpoints, per raw connection.
    pub raw_inbox: HashMap<ConnId, Vec<u8>>,
    /// Raw connections closed by the speaker.
    pub raw_closed: HashSet<ConnId>,
}

/// Session parsing context used to decode captured messages (4-octet AS, iBGP).
pub const CAPTURE_CTX: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};

pub const AS: u32 = 65000;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// A speaker config: router id = the address.
pub fn speaker_config(addr: Ipv4Addr, cluster: Option<Ipv4Addr>) -> SpeakerConfig {
    SpeakerConfig {
        local_as: AS,
        router_id: addr,
        cluster_id: cluster,
        local_addresses: vec![IpAddr::V4(addr)],
        multipath: false,
    }
}

/// An iBGP peer config towards `remote`.
pub fn ibgp(remote: IpAddr) -> PeerConfig {
    PeerConfig {
        remote,
        port: 179,
        remote_as: None,
        local: None,
        kind: PeerKind::Internal,
        rr_client: false,
        passive: false,
        hold_time: 90,
        connect_retry: Duration::from_secs(5),
        next_hop_self: false,
        import: Policy::default(),
        export: Policy::default(),
        max_prefix: None,
    }
}

/// A dynamic range admitting rr-clients.
pub fn client_range(name: &str, prefix: &str, max_peers: usize) -> DynamicRange {
    DynamicRange {
        name: name.to_string(),
        prefix: net(prefix),
        template: PeerConfig {
            rr_client: true,
            passive: true,
            ..ibgp(v4(0, 0, 0, 0))
        },
        max_peers,
    }
}

/// Attributes of a locally originated route.
pub fn origin_attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(wire::Origin::Igp),
        ..Default::default()
    }
}

fn split_messages(bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Ok(Some(n)) = wire::frame_len(rest) {
        if let Ok(m) = Message::parse(&rest[..n], &CAPTURE_CTX) {
            out.push(m);
        }
        rest = &rest[n..];
    }
    out
}

impl Net {
    pub fn new() -> Self {
        Net {
            now: Instant::now(),
            nodes: Vec::new(),
            ends: HashMap::new(),
            next_conn: 1,
            queue: VecDeque::new(),
            blackholed: HashSet::new(),
            raw_inbox: HashMap::new(),
            raw_closed: HashSet::new(),
        }
    }

    /// Add a router with address `addr` (also its router id).
    pub fn add(&mut self, name: &str, addr: Ipv4Addr, cluster: Option<Ipv4Addr>) -> usize {
        self.add_with(name, speaker_config(addr, cluster))
    }

    pub fn add_with(&mut self, name: &str, config: SpeakerConfig) -> usize {
        let addr = IpAddr::V4(config.router_id);
        self.nodes.push(Node {
            name: name.to_string(),
            addr,
            speaker: Speaker::new(config),
            fib: BTreeMap::new(),
            fib_withdrawals: 0,
            events: Vec::new(),
            inbox: Vec::new(),
            sent: Vec::new(),
            listening: true,
        });
        self.nodes.len() - 1
    }

    pub fn node(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .expect("node exists")
    }

    /// Feed one input to a node and let the network settle.
    pub fn input(&mut self, node: usize, input: Input<'_>) {
        let now = self.now;
        self.nodes[node].speaker.handle_input(now, input);
        self.settle();
    }

    fn fresh_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    fn port(&self, conn: ConnId) -> u16 {
        40000 + (conn.0 % 20000) as u16
    }

    /// Open a connection from a hand-driven endpoint at `from` to `node`; returns the
    /// raw side's connection id.
    pub fn raw_connect(&mut self, from: IpAddr, node: usize) -> ConnId {
        let (raw, at_node) = (self.fresh_conn(), self.fresh_conn());
        let node_addr = self.nodes[node].addr;
        self.ends.insert(
            raw,
            End {
                side: Side::Raw,
                addr: from,
                peer: at_node,
                initiator: true,
            },
        );
        self.ends.insert(
            at_node,
            End {
                side: Side::Node(node),
                addr: node_addr,
                peer: raw,
                initiator: false,
            },
        );
        self.queue.push_back(Delivery::Input(
            node,
            OwnedInput::Accepted {
                conn: at_node,
                remote: SocketAddr::new(from, self.port(raw)),
                local: SocketAddr::new(node_addr, 179),
            },
        ));
        self.raw_inbox.insert(raw, Vec::new());
        self.settle();
        raw
    }

    /// Send bytes from a raw endpoint.
    pub fn raw_send(&mut self, raw: ConnId, bytes: &[u8]) {
        let end = self.ends[&raw];
        if let Side::Node(n) = self.ends[&end.peer].side {
            self.queue.push_back(Delivery::Input(
                n,
                OwnedInput::Received {
                    conn: end.peer,
                    data: bytes.to_vec(),
                },
            ));
        }
        self.settle();
    }

    /// Messages received so far by a raw endpoint (decoded with `ctx`), draining them.
    pub fn raw_take(&mut self, raw: ConnId, ctx: &ParseCtx) -> Vec<Message> {
        let bytes = std::mem::take(self.raw_inbox.get_mut(&raw).unwrap());
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while let Ok(Some(n)) = wire::frame_len(rest) {
            out.push(Message::parse(&rest[..n], ctx).expect("speaker sends valid messages"));
            rest = &rest[n..];
        }
        out
    }

    /// Drop all bytes between two addresses (both directions) while set.
    pub fn blackhole(&mut self, a: IpAddr, b: IpAddr, on: bool) {
        for k in [(a, b), (b, a)] {
            if on {
                self.blackholed.insert(k);
            } else {
                self.blackholed.remove(&k);
            }
        }
    }

    /// Cut every connection between two nodes: both sides see `Closed`.
    pub fn cut(&mut self, a: usize, b: usize) {
        let (aa, ba) = (self.nodes[a].addr, self.nodes[b].addr);
        let mut ids: Vec<ConnId> = self
            .ends
            .iter()
            .filter(|(_, e)| {
                e.side == Side::Node(a) && self.ends.get(&e.peer).is_some_and(|p| p.addr == ba)
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        let _ = aa;
        for id in ids {
            let peer = self.ends[&id].peer;
            self.queue
                .push_back(Delivery::Input(a, OwnedInput::Closed { conn: id }));
            self.queue
                .push_back(Delivery::Input(b, OwnedInput::Closed { conn: peer }));
            self.ends.remove(&id);
            self.ends.remove(&peer);
        }
        self.settle();
    }

    /// Drain every output of every node and deliver until nothing moves.
    pub fn settle(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(out) = self.nodes[i].speaker.poll_output() {
                    moved = true;
                    self.route_output(i, out);
                }
            }
            if let Some(d) = self.queue.pop_front() {
                moved = true;
                self.deliver(d);
            }
            if !moved {
                break;
            }
        }
    }

    fn route_output(&mut self, i: usize, out: Output) {
        match out {
            Output::Connect { peer, remote, .. } => {
                let target = self
                    .nodes
                    .iter()
                    .position(|n| n.addr == remote.ip() && n.listening);
                let from = self.nodes[i].addr;
                let Some(t) = target else {
                    let now = self.now;
                    self.nodes[i]
                        .speaker
                        .handle_input(now, Input::ConnectFailed { peer });
                    return;
                };
                let (a, b) = (self.fresh_conn(), self.fresh_conn());
                let to = self.nodes[t].addr;
                self.ends.insert(
                    a,
                    End {
                        side: Side::Node(i),
                        addr: from,
                        peer: b,
                        initiator: true,
                    },
                );
                self.ends.insert(
                    b,
                    End {
                        side: Side::Node(t),
                        addr: to,
                        peer: a,
                        initiator: false,
                    },
                );
                let (pa, pb) = (self.port(a), 179);
                self.queue.push_back(Delivery::Input(
                    t,
                    OwnedInput::Accepted {
                        conn: b,
                        remote: SocketAddr::new(from, pa),
                        local: SocketAddr::new(to, pb),
                    },
                ));
                self.queue.push_back(Delivery::Input(
                    i,
                    OwnedInput::Connected {
                        peer,
                        conn: a,
                        local: SocketAddr::new(from, pa),
                    },
                ));
            }
            Output::Transmit { conn, bytes } => {
                let Some(end) = self.ends.get(&conn).copied() else {
                    return;
                };
                let Some(other) = self.ends.get(&end.peer).copied() else {
                    return;
                };
                if self.blackholed.contains(&(end.addr, other.addr)) {
                    return;
                }
                for m in split_messages(&bytes) {
                    self.nodes[i].sent.push((other.addr, m.clone()));
                    if let Side::Node(n) = other.side {
                        self.nodes[n].inbox.push((end.addr, m));
                    }
                }
                match other.side {
                    Side::Node(n) => self.queue.push_back(Delivery::Input(
                        n,
                        OwnedInput::Received {
                            conn: end.peer,
                            data: bytes,
                        },
                    )),
                    Side::Raw => self
                        .raw_inbox
                        .entry(end.peer)
                        .or_default()
                        .extend_from_slice(&bytes),
                }
            }
            Output::Close { conn } => {
                let Some(end) = self.ends.remove(&conn) else {
                    return;
                };
                if let Some(other) = self.ends.remove(&end.peer) {
                    match other.side {
                        Side::Node(n) => self
                            .queue
                            .push_back(Delivery::Input(n, OwnedInput::Closed { conn: end.peer })),
                        Side::Raw => {
                            self.raw_closed.insert(end.peer);
                        }
                    }
                }
            }
            Output::Fib(FibChange::Replace { prefix, next_hops }) => {
                self.nodes[i].fib.insert(prefix, next_hops);
            }
            Output::Fib(FibChange::Withdraw { prefix }) => {
                self.nodes[i].fib_withdrawals += 1;
                assert!(
                    self.nodes[i].fib.remove(&prefix).is_some(),
                    "withdraw of an absent route {prefix}"
                );
            }
            Output::Event(e) => self.nodes[i].events.push(e),
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let Delivery::Input(n, input) = d;
        let now = self.now;
        let speaker = &mut self.nodes[n].speaker;
        match input {
            OwnedInput::Connected { peer, conn, local } => {
                if self.ends.contains_key(&conn) {
                    speaker.handle_input(now, Input::Connected { peer, conn, local })
                }
            }
            OwnedInput::Accepted {
                conn,
                remote,
                local,
            } => {
                if self.ends.contains_key(&conn) {
                    speaker.handle_input(
                        now,
                        Input::Accepted {
                            conn,
                            remote,
                            local,
                        },
                    )
                }
            }
            OwnedInput::Received { conn, data } => {
                speaker.handle_input(now, Input::Received { conn, data: &data })
            }
            OwnedInput::Closed { conn } => speaker.handle_input(now, Input::Closed { conn }),
        }
    }

    /// Move the clock forward by `by`, firing every deadline on the way.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            self.settle();
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.speaker.poll_timeout())
                .min();
            match next {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for n in &mut self.nodes {
                        if n.speaker.poll_timeout().is_some_and(|d| d <= now) {
                            n.speaker.handle_timeout(now);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = target;
        self.settle();
    }

    /// Open connections as (initiator address, acceptor address), sorted.
    pub fn connections(&self) -> Vec<(IpAddr, IpAddr)> {
        let mut v: Vec<(IpAddr, IpAddr)> = self
            .ends
            .values()
            .filter(|e| e.initiator)
            .map(|e| (e.addr, self.ends[&e.peer].addr))
            .collect();
        v.sort();
        v
    }

    /// Feed an input to a node without letting the network settle.
    pub fn input_quiet(&mut self, node: usize, input: Input<'_>) {
        let now = self.now;
        self.nodes[node].speaker.handle_input(now, input);
    }

    /// Step the clock one second at a time until `node` sees `peer` Established;
    /// returns the time taken, or `None` after `max`.
    pub fn time_to_established(
        &mut self,
        node: usize,
        peer: IpAddr,
        max: Duration,
    ) -> Option<Duration> {
        let start = self.now;
        while self.now - start <= max {
            if self.state(node, peer).as_deref() == Some("Established") {
                return Some(self.now - start);
            }
            self.advance(Duration::from_secs(1));
        }
        None
    }

    /// NOTIFICATIONs (code, subcode) that `node` sent.
    pub fn notifications_sent(&self, node: usize) -> Vec<(u8, u8)> {
        self.nodes[node]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Notification {
                    sent: true,
                    code,
                    subcode,
                    ..
                } => Some((*code, *subcode)),
                _ => None,
            })
            .collect()
    }

    /// State name of `peer` as seen by `node`.
    pub fn state(&self, node: usize, peer: IpAddr) -> Option<String> {
        self.nodes[node]
            .speaker
            .peers()
            .into_iter()
            .find(|p| p.address == peer)
            .map(|p| p.state)
    }

    /// UPDATEs received by `node` from `from` that announce `prefix` (IPv4).
    pub fn updates_for(&self, node: usize, from: IpAddr, prefix: IpNet) -> Vec<PathAttributes> {
        let IpNet::V4(p4) = prefix else {
            return Vec::new();
        };
        self.nodes[node]
            .inbox
            .iter()
            .filter(|(f, _)| *f == from)
            .filter_map(|(_, m)| match m {
                Message::Update(u) if u.nlri.contains(&p4) => Some(u.attrs.clone()),
                _ => None,
            })
            .collect()
    }

    /// Number of UPDATE messages `node` sent to `to`.
    pub fn updates_sent(&self, node: usize, to: IpAddr) -> usize {
        self.nodes[node]
            .sent
            .iter()
            .filter(|(t, m)| *t == to && matches!(m, Message::Update(_)))
            .count()
    }
}
