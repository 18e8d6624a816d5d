//! Route-reflector ingest and reflection in memory: one client feeds N /32s (UPDATEs
//! encoded before the clock starts, packed 810 per message, one attribute set) into a
//! reflecting `Speaker`, which installs them (FIB outputs) and reflects them to a second
//! client; the iteration ends when every output is drained and the second client's
//! Adj-RIB-Out holds all N. N = 100k and 1M.
//!
//! Two setups: `fib` (FIB outputs on, no export interval, a fixed clock) and `rr`, the way
//! routerd runs a plain reflector without a kernel table (no FIB outputs, an export
//! interval of 50 ms, the real clock: changes collect for up to 50 ms of the run and go
//! out together, then a timer sends the rest).
//!
//! Run: `cargo bench -p bgp --bench reflect`. One timed run with the peak RSS of the
//! process: `REFLECT_ONCE=1000000 cargo bench -p bgp --bench reflect` (`fib` setup), with
//! `REFLECT_SETUP=rr` for the other.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp::Speaker;
use bgp::policy::Policy;
use bgp::speaker::{ConnId, DynamicRange, Input, Output, PeerConfig, PeerKind, SpeakerConfig};
use bgp::wire::{
    self, AS_TRANS, Afi, Capability, Message, Open, Origin, ParseCtx, PathAttributes, Safi,
};
use criterion::{BatchSize, Criterion, Throughput};
use ipnet::Ipv4Net;

const AS: u32 = 65000;
const RR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const FEEDER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const SINK: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 60);
const CTX: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};
/// Bytes handed to the speaker per `Input::Received`, like one socket read.
const READ_SIZE: usize = 64 * 1024;
/// routerd's export interval.
const RR_EXPORT_INTERVAL: Duration = Duration::from_millis(50);

/// How the reflector is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// FIB outputs, no export interval, a fixed clock.
    Fib,
    /// As routerd runs a reflector without a kernel table: no FIB outputs, a 50 ms
    /// export interval, the real clock.
    Rr,
}

/// The reflector with two Established clients.
struct Rig {
    rr: Speaker,
    setup: Setup,
    now: Instant,
    /// Bytes the reflector wrote to the sink.
    to_sink: usize,
    fib_changes: usize,
}

fn encode(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    m.emit(&CTX, &mut out);
    out
}

fn hello(id: Ipv4Addr) -> Vec<u8> {
    let open = Open {
        version: 4,
        my_as: u16::try_from(AS).unwrap_or(AS_TRANS),
        hold_time: 0,
        bgp_id: id,
        capabilities: vec![
            Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast),
            Capability::RouteRefresh,
            Capability::FourOctetAs(AS),
        ],
    };
    let mut out = encode(&Message::Open(open));
    out.extend(encode(&Message::Keepalive));
    out
}

impl Rig {
    fn new(setup: Setup) -> Rig {
        let now = Instant::now();
        let mut rr = Speaker::new(SpeakerConfig {
            local_as: AS,
            router_id: RR,
            cluster_id: Some(RR),
            local_addresses: vec![IpAddr::V4(RR)],
            multipath: false,
        });
        if setup == Setup::Rr {
            rr.set_fib_output(false);
            rr.set_export_interval(RR_EXPORT_INTERVAL);
        }
        let template = PeerConfig {
            remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 179,
            remote_as: None,
            local: None,
            kind: PeerKind::Internal,
            rr_client: true,
            passive: true,
            hold_time: 0,
            connect_retry: Duration::from_secs(5),
            next_hop_self: false,
            import: Policy::default(),
            export: Policy::default(),
            max_prefix: None,
        };
        rr.handle_input(
            now,
            Input::AddRange(DynamicRange {
                name: "leaves".to_string(),
                prefix: "10.0.0.0/24".parse().unwrap(),
                template,
                max_peers: 8,
            }),
        );
        let mut rig = Rig {
            rr,
            setup,
            now,
            to_sink: 0,
            fib_changes: 0,
        };
        for (conn, addr) in [(1, FEEDER), (2, SINK)] {
            let remote = SocketAddr::new(IpAddr::V4(addr), 40000);
            let local = SocketAddr::new(IpAddr::V4(RR), 179);
            let conn = ConnId(conn);
            rig.rr.handle_input(
                now,
                Input::Accepted {
                    conn,
                    remote,
                    local,
                },
            );
            rig.drain();
            let data = hello(addr);
            rig.rr
                .handle_input(now, Input::Received { conn, data: &data });
            rig.drain();
        }
        rig.to_sink = 0;
        rig
    }

    fn drain(&mut self) {
        while let Some(out) = self.rr.poll_output() {
            match out {
                Output::Transmit {
                    conn: ConnId(2),
                    bytes,
                } => {
                    self.to_sink += bytes.len();
                }
                Output::Fib(_) => self.fib_changes += 1,
                _ => {}
            }
        }
    }

    /// Feed the whole stream from the feeder, one read at a time.
    fn feed(&mut self, stream: &[u8]) {
        for chunk in stream.chunks(READ_SIZE) {
            if self.setup == Setup::Rr {
                self.now = Instant::now();
            }
            self.rr.handle_input(
                self.now,
                Input::Received {
                    conn: ConnId(1),
                    data: chunk,
                },
            );
            self.drain();
        }
        // What waits for the export interval goes out when its timer fires.
        while let Some(at) = self.rr.poll_timeout() {
            if at > self.now + RR_EXPORT_INTERVAL {
                break;
            }
            self.now = at;
            self.rr.handle_timeout(at);
            self.drain();
        }
    }

    fn advertised_to_sink(&self) -> u64 {
        self.rr
            .peers()
            .into_iter()
            .find(|p| p.address == IpAddr::V4(SINK))
            .map_or(0, |p| p.advertised)
    }
}

/// N /32s from 100.64.0.0 on, packed into UPDATEs with one attribute set.
fn stream(count: u32) -> Vec<u8> {
    let nlri: Vec<Ipv4Net> = (0..count)
        .map(|i| Ipv4Net::new(Ipv4Addr::from(0x6440_0000 + i), 32).unwrap())
        .collect();
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        next_hop: Some(FEEDER),
        local_pref: Some(100),
        ..PathAttributes::default()
    };
    let mut msgs = Vec::new();
    wire::pack_updates(&CTX, &attrs, &nlri, &mut msgs);
    msgs.concat()
}

fn run(setup: Setup, count: u32, stream: &[u8]) -> Rig {
    let mut rig = Rig::new(setup);
    rig.feed(stream);
    assert_eq!(rig.advertised_to_sink(), u64::from(count));
    let fib = if setup == Setup::Fib {
        count as usize
    } else {
        0
    };
    assert_eq!(rig.fib_changes, fib);
    rig
}

/// Peak resident set of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn reflect(c: &mut Criterion) {
    for (setup, count) in [
        (Setup::Fib, 100_000u32),
        (Setup::Fib, 1_000_000),
        (Setup::Rr, 1_000_000),
    ] {
        let input = stream(count);
        let mut group = c.benchmark_group("reflect");
        group.sample_size(10);
        group.throughput(Throughput::Elements(u64::from(count)));
        let size = if count >= 1_000_000 {
            format!("{}M", count / 1_000_000)
        } else {
            format!("{}k", count / 1000)
        };
        let name = match setup {
            Setup::Fib => format!("{size}_host_routes"),
            Setup::Rr => format!("{size}_host_routes_rr_setup"),
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| run(setup, count, black_box(&input)),
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

/// The generated group function carries no docs of its own.
mod group {
    #![allow(missing_docs)]
    use super::reflect;
    criterion::criterion_group!(benches, reflect);
}

fn main() {
    if let Some(count) = std::env::var("REFLECT_ONCE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        let setup = match std::env::var("REFLECT_SETUP").as_deref() {
            Ok("rr") => Setup::Rr,
            _ => Setup::Fib,
        };
        let input = stream(count);
        let before = peak_rss_mb();
        let start = Instant::now();
        let rig = run(setup, count, &input);
        let took = start.elapsed();
        println!(
            "reflect {count} host routes ({setup:?} setup): {:.3} s, peak RSS {:.1} MB ({:.1} MB before, \
             input {:.1} MB), {} bytes to the sink",
            took.as_secs_f64(),
            peak_rss_mb(),
            before,
            input.len() as f64 / 1e6,
            rig.to_sink
        );
        return;
    }
    group::benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
