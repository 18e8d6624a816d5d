//! `interop`: routerd against BIRD, FRR, GoBGP and ExaBGP in network namespaces.
//!
//! (a) routerd as RR with a dynamic range; BIRD, FRR and GoBGP leaves each announce two
//!     /32s and must receive every other leaf's /32s with ORIGINATOR_ID and CLUSTER_LIST.
//! (b) routerd as a leaf under a BIRD, an FRR and a GoBGP RR: it installs the other
//!     leaves' /32s in its kernel table and removes them when the announcing leaf dies.
//! (c) routerd leaf under routerd RR, with BIRD and ExaBGP leaves.
//!
//! Every case builds its own topology (a bridge namespace and one namespace per router on
//! 10.77.0.0/24; announced /32s from 198.51.100.0/24 and 203.0.113.0/24) and waits with
//! deadlines. Cases are separate tests so they run in parallel.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use system_tests::netns::{Bridge, Netns, wait_for};
use system_tests::peers::{
    BgpDaemon, Bird, ExaBgp, Frr, GoBgp, Role, Routerd, Scratch, SeenRoute, Spec, log_tail,
    routes_for,
};
use system_tests::require_root;

const ASN: u32 = 65000;
const RR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const RANGE: &str = "10.77.0.0/24";
/// Kernel table routerd installs into.
const TABLE: u32 = 100;
/// Deadline for sessions to come up and routes to propagate.
const CONVERGE_SECS: u64 = 60;

/// A bridge and one namespace per router, plus a scratch directory.
struct Lab {
    nodes: Vec<(String, Netns)>,
    _sw: Netns,
    scratch: Scratch,
}

impl Lab {
    fn new(tag: &str, nodes: &[(&str, Ipv4Addr)]) -> Lab {
        let sw = Netns::new(&format!("{tag}sw"));
        let mut owned = Vec::new();
        {
            let mut bridge = Bridge::new(&sw);
            for (name, addr) in nodes {
                let ns = Netns::new(&format!("{tag}{name}"));
                bridge.attach(&ns, "eth0", &format!("{addr}/24"));
                owned.push((name.to_string(), ns));
            }
        }
        Lab {
            nodes: owned,
            _sw: sw,
            scratch: Scratch::new(tag),
        }
    }

    fn ns(&self, name: &str) -> &Netns {
        &self
            .nodes
            .iter()
            .find(|(n, _)| n == name)
            .expect("node exists")
            .1
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.scratch.dir(name)
    }
}

fn host(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

/// The two /32s a leaf with address 10.77.0.`last` announces.
fn prefixes(last: u8) -> Vec<String> {
    vec![
        format!("198.51.100.{last}/32"),
        format!("203.0.113.{last}/32"),
    ]
}

fn leaf(last: u8) -> Spec {
    Spec {
        addr: host(last),
        asn: ASN,
        role: Role::Leaf {
            rr: RR,
            announce: prefixes(last),
        },
    }
}

fn rr() -> Spec {
    Spec {
        addr: RR,
        asn: ASN,
        role: Role::Rr {
            range: RANGE.into(),
        },
    }
}

/// Waits until `daemon` holds exactly the routes of `announcers` (by last octet), each
/// reflected: ORIGINATOR_ID = the announcer, CLUSTER_LIST = [RR]. Panics with what it
/// saw otherwise.
fn expect_reflected(daemon: &dyn BgpDaemon, announcers: &[u8], logs: &[PathBuf]) {
    let wanted: Vec<String> = announcers.iter().flat_map(|&a| prefixes(a)).collect();
    let expected: Vec<SeenRoute> = {
        let mut v: Vec<SeenRoute> = announcers
            .iter()
            .flat_map(|&a| {
                prefixes(a).into_iter().map(move |prefix| SeenRoute {
                    prefix,
                    next_hop: Some(host(a).to_string()),
                    originator_id: Some(host(a).to_string()),
                    cluster_list: vec![RR.to_string()],
                })
            })
            .collect();
        v.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        v
    };
    let got = wait_for(CONVERGE_SECS, || {
        let seen = routes_for(daemon, &wanted);
        (seen == expected).then_some(seen)
    });
    if got.is_none() {
        let seen = routes_for(daemon, &wanted);
        let tails: Vec<String> = logs
            .iter()
            .map(|l| format!("{}:\n{}", l.display(), log_tail(l, 25)))
            .collect();
        panic!(
            "{} leaf did not learn the reflected routes within {CONVERGE_SECS} s\nexpected {expected:#?}\nseen {seen:#?}\n{}",
            daemon.kind(),
            tails.join("\n")
        );
    }
}

/// Waits until routerd's kernel table holds exactly the /32s of `announcers`, each via
/// its announcer.
fn expect_kernel(routerd: &Routerd, announcers: &[u8], what: &str) {
    let mut expected: Vec<(String, String)> = announcers
        .iter()
        .flat_map(|&a| {
            prefixes(a)
                .into_iter()
                .map(move |p| (p, host(a).to_string()))
        })
        .collect();
    expected.sort();
    let got = wait_for(CONVERGE_SECS, || {
        (routerd.kernel_routes() == expected).then_some(())
    });
    assert!(
        got.is_some(),
        "{what}: kernel table {TABLE} should hold {expected:?}, holds {:?}\nrouterd log:\n{}",
        routerd.kernel_routes(),
        log_tail(&routerd.log, 40)
    );
}

#[test]
fn a_routerd_rr_reflects_between_bird_frr_and_gobgp_leaves() {
    if !require_root() {
        return;
    }
    let lab = Lab::new(
        "ia",
        &[
            ("rr", RR),
            ("l1", host(11)),
            ("l2", host(12)),
            ("l3", host(13)),
        ],
    );
    let routerd = Routerd::start(lab.ns("rr"), lab.dir("rr"), &rr(), TABLE);
    let bird = Bird::start(lab.ns("l1"), lab.dir("l1"), &leaf(11));
    let frr = Frr::start(lab.ns("l2"), lab.dir("l2"), &leaf(12));
    let gobgp = GoBgp::start(lab.ns("l3"), lab.dir("l3"), &leaf(13));
    let logs = [
        routerd.log.clone(),
        bird.log.clone(),
        frr.log.clone(),
        gobgp.log.clone(),
    ];

    expect_reflected(&bird, &[12, 13], &logs);
    expect_reflected(&frr, &[11, 13], &logs);
    expect_reflected(&gobgp, &[11, 12], &logs);

    // The RR's own view, through the status API and routerd-tool (the snapshot may lag
    // the routes by one publication interval, so wait for it).
    let summary = |routerd: &Routerd| -> Vec<(bool, u64, u64)> {
        let doc = routerd.peers().unwrap_or_default();
        let mut rows: Vec<(bool, u64, u64)> = doc["peers"]
            .as_array()
            .map(|peers| {
                peers
                    .iter()
                    .filter(|p| p["state"] == "Established")
                    .map(|p| {
                        (
                            p["dynamic"].is_string(),
                            p["received"].as_u64().unwrap_or(0),
                            p["advertised"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        rows.sort();
        rows
    };
    // Three dynamic leaves, each sent two prefixes and was sent the other four.
    let expected = vec![(true, 2, 4); 3];
    let ok = wait_for(10, || (summary(&routerd) == expected).then_some(()));
    assert!(
        ok.is_some(),
        "routerd peers: expected {expected:?}, got {:?}",
        routerd.peers()
    );
    let (code, table) = routerd.peers_table();
    assert_eq!(code, 0);
    assert_eq!(
        table.lines().filter(|l| l.contains("Established")).count(),
        3,
        "{table}"
    );
    // Exit codes: 1 when no router answers, 2 for a bad URL.
    assert_eq!(
        routerd.tool(&["peers", "--router", "http://127.0.0.1:1"]).0,
        1
    );
    assert_eq!(routerd.tool(&["peers", "--router", "127.0.0.1:7179"]).0, 2);
    let (code, status) = routerd.tool(&["status", "--router", "http://127.0.0.1:7179"]);
    assert_eq!(code, 0);
    assert!(status.contains("mode        rr"), "{status}");
    // Why the RR holds BIRD's /32: one path, from BIRD, best.
    let (code, json) = routerd.tool(&["routes", "--prefix", "198.51.100.11/32", "--json"]);
    assert_eq!(code, 0, "{json}");
    let view: serde_json::Value = serde_json::from_str(&json).expect("routes JSON");
    assert_eq!(view["paths"].as_array().map(Vec::len), Some(1), "{view}");
    assert_eq!(view["paths"][0]["from"], "10.77.0.11");
    assert_eq!(view["paths"][0]["best"], true);
    // The RR installs the best paths too.
    expect_kernel(&routerd, &[11, 12, 13], "routerd RR");
}

/// (b) with the RR built by `start_rr`.
fn routerd_leaf_under(
    tag: &str,
    start_rr: impl FnOnce(&Netns, PathBuf, &Spec) -> Box<dyn std::any::Any>,
) {
    if !require_root() {
        return;
    }
    let lab = Lab::new(
        tag,
        &[
            ("rr", RR),
            ("l1", host(11)),
            ("l2", host(12)),
            ("rd", host(21)),
        ],
    );
    let _rr = start_rr(lab.ns("rr"), lab.dir("rr"), &rr());
    let mut bird = Bird::start(lab.ns("l1"), lab.dir("l1"), &leaf(11));
    let frr = Frr::start(lab.ns("l2"), lab.dir("l2"), &leaf(12));
    let mut routerd = Routerd::start(lab.ns("rd"), lab.dir("rd"), &leaf(21), TABLE);
    let logs = [routerd.log.clone(), bird.log.clone(), frr.log.clone()];

    expect_kernel(&routerd, &[11, 12], "routerd leaf");
    // routerd's own claim reached the other leaves through the RR (and never came back
    // into its own table, even from an RR that reflects to the originator).
    expect_reflected(&bird, &[12, 21], &logs);
    expect_reflected(&frr, &[11, 21], &logs);

    bird.kill();
    expect_kernel(&routerd, &[12], "after the BIRD leaf died");

    routerd.stop(10);
    assert!(!routerd.running());
    // A clean stop closes the sessions, so their routes leave the kernel table.
    assert_eq!(
        routerd.kernel_routes(),
        vec![],
        "routes left after a clean stop"
    );
    assert!(
        log_tail(&routerd.log, 5).contains("stopped"),
        "clean shutdown:\n{}",
        log_tail(&routerd.log, 20)
    );
}

#[test]
fn b_routerd_leaf_under_bird_rr() {
    routerd_leaf_under("ibb", |ns, dir, spec| Box::new(Bird::start(ns, dir, spec)));
}

#[test]
fn b_routerd_leaf_under_frr_rr() {
    routerd_leaf_under("ibf", |ns, dir, spec| Box::new(Frr::start(ns, dir, spec)));
}

#[test]
fn b_routerd_leaf_under_gobgp_rr() {
    routerd_leaf_under("ibg", |ns, dir, spec| Box::new(GoBgp::start(ns, dir, spec)));
}

#[test]
fn c_routerd_leaf_under_routerd_rr() {
    if !require_root() {
        return;
    }
    let lab = Lab::new(
        "ic",
        &[
            ("rr", RR),
            ("l1", host(11)),
            ("l4", host(14)),
            ("rd", host(21)),
        ],
    );
    let rr_daemon = Routerd::start(lab.ns("rr"), lab.dir("rr"), &rr(), TABLE);
    let bird = Bird::start(lab.ns("l1"), lab.dir("l1"), &leaf(11));
    let mut exabgp = ExaBgp::start(lab.ns("l4"), lab.dir("l4"), &leaf(14));
    // Before routerd starts, its table holds a stale route of an earlier run (protocol
    // bgp) and a route someone else installed (protocol static).
    let table = TABLE.to_string();
    let rd = lab.ns("rd");
    for (prefix, proto) in [("203.0.113.250/32", "bgp"), ("203.0.113.251/32", "static")] {
        rd.ip(&[
            "route",
            "add",
            prefix,
            "via",
            "10.77.0.1",
            "table",
            &table,
            "proto",
            proto,
        ]);
    }
    let routerd = Routerd::start(rd, lab.dir("rd"), &leaf(21), TABLE);
    let logs = [
        rr_daemon.log.clone(),
        routerd.log.clone(),
        bird.log.clone(),
        exabgp.log.clone(),
    ];

    // Exactly the learned routes carry protocol bgp: the stale one is gone.
    expect_kernel(&routerd, &[11, 14], "routerd leaf under routerd RR");
    expect_reflected(&bird, &[14, 21], &logs);
    let foreign = rd.ip(&["route", "show", "table", &table, "proto", "static"]);
    assert!(
        String::from_utf8_lossy(&foreign.stdout).contains("203.0.113.251"),
        "routerd must not touch routes it did not install"
    );

    exabgp.kill();
    expect_kernel(&routerd, &[11], "after the ExaBGP leaf died");
    expect_reflected(&bird, &[21], &logs);
}
