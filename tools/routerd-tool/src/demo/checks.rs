//! The gate's assertions, judged from observations without I/O.
//!
//! Each function returns an [`Assertion`]: pass or fail plus the evidence lines that
//! decided it. The API documents are read by field names that the routerd API uses
//! (`state`, `dynamic`, `accepted`, `rejected`, the paths of `/v1/routes?prefix=P`), state
//! and rejection counters searched anywhere in the document so nesting does not matter; a document that is missing
//! fails the assertion and is quoted as evidence.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use super::observe::{LeafKernel, NodeDocs, Observation, RrKernel, route_query};
use super::plan::SITES;

/// One checked statement.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Assertion {
    /// Short id (`1`..`7`, `R1`, `F1`, ...).
    pub(crate) id: String,
    /// What must hold.
    pub(crate) title: String,
    /// Whether it held.
    pub(crate) pass: bool,
    /// Why: the observed facts.
    pub(crate) evidence: Vec<String>,
    /// Whether it decides the result (exit code); a reported check only shows.
    pub(crate) gating: bool,
}

impl Assertion {
    /// A new assertion result.
    pub(crate) fn new(id: &str, title: &str, pass: bool, evidence: Vec<String>) -> Assertion {
        Assertion {
            id: id.to_string(),
            title: title.to_string(),
            pass,
            evidence,
            gating: true,
        }
    }

    /// The same check, reported but not deciding the result.
    pub(crate) fn reported(mut self) -> Assertion {
        self.gating = false;
        self
    }

    /// True unless it is a gating check that failed.
    pub(crate) fn holds_or_reported(&self) -> bool {
        self.pass || !self.gating
    }
}

/// Every string value stored under a key named `key`, anywhere in `v`.
pub(crate) fn strings_under<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == key
                    && let Some(s) = child.as_str()
                {
                    out.push(s);
                }
                strings_under(child, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| strings_under(i, key, out)),
        _ => {}
    }
}

/// Sum of every number inside values whose key contains `reject` (counts, or lists of
/// `{reason, count}`).
pub(crate) fn rejected_total(v: &Value) -> u64 {
    fn numbers(v: &Value) -> u64 {
        match v {
            Value::Number(n) => n.as_u64().unwrap_or(0),
            Value::Array(items) => items.iter().map(numbers).sum(),
            Value::Object(map) => map.values().map(numbers).sum(),
            _ => 0,
        }
    }
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, child)| {
                if k.contains("reject") {
                    numbers(child)
                } else {
                    rejected_total(child)
                }
            })
            .sum(),
        Value::Array(items) => items.iter().map(rejected_total).sum(),
        _ => 0,
    }
}

/// 1: the RR's inspected blob holds no static claims and no per-leaf BGP peers.
pub(crate) fn rr_blob_shape(inspect: &Value) -> Assertion {
    let summary = &inspect["summary"];
    let claims = summary["static_claims"].as_u64();
    let peers = summary["static_peers"].as_u64();
    let has_claim = summary["has_leaf_claim"].as_bool();
    let pass = inspect["verified"] == Value::Bool(true)
        && inspect["mode"] == "rr"
        && claims == Some(0)
        && peers == Some(0)
        && has_claim == Some(false);
    Assertion::new(
        "1",
        "the RR's blob holds zero static claims and zero per-leaf BGP peers",
        pass,
        vec![format!(
            "routerd-tool inspect --json: verified={} mode={} summary.static_claims={} summary.static_peers={} summary.has_leaf_claim={} summary.dynamic_ranges={}",
            inspect["verified"],
            inspect["mode"],
            summary["static_claims"],
            summary["static_peers"],
            summary["has_leaf_claim"],
            summary["dynamic_ranges"]
        )],
    )
}

/// 2: every leaf's enrollment reports Ready.
pub(crate) fn enrollment_ready(leaves: &[NodeDocs]) -> Assertion {
    let mut pass = !leaves.is_empty();
    let mut evidence = Vec::new();
    for leaf in leaves {
        match leaf.doc("/v1/enrollment") {
            Ok(doc) => {
                let mut states = Vec::new();
                strings_under(doc, "state", &mut states);
                let ready =
                    !states.is_empty() && states.iter().all(|s| s.eq_ignore_ascii_case("ready"));
                pass &= ready;
                evidence.push(format!(
                    "{}: enrollment state {}",
                    leaf.node,
                    if states.is_empty() {
                        "missing".to_string()
                    } else {
                        states.join(", ")
                    }
                ));
            }
            Err(e) => {
                pass = false;
                evidence.push(format!("{}: /v1/enrollment unavailable: {e}", leaf.node));
            }
        }
    }
    Assertion::new(
        "2",
        "all four leaves report enrollment Ready",
        pass,
        evidence,
    )
}

/// The RR's dynamic peers from `/v1/peers`.
fn dynamic_peers(rr: &NodeDocs) -> Result<Vec<&Value>, String> {
    let doc = rr.doc("/v1/peers").map_err(str::to_string)?;
    let peers = doc["peers"]
        .as_array()
        .ok_or("/v1/peers has no `peers` list")?;
    Ok(peers.iter().filter(|p| !p["dynamic"].is_null()).collect())
}

/// 3: the RR shows four dynamic peers, all Established, from the leaves' tunnel addresses.
pub(crate) fn rr_dynamic_peers(rr: &NodeDocs) -> Assertion {
    let title = "the RR shows four dynamic peers, all Established";
    let peers = match dynamic_peers(rr) {
        Ok(p) => p,
        Err(e) => return Assertion::new("3", title, false, vec![format!("rr: {e}")]),
    };
    let expected: BTreeSet<String> = SITES.iter().map(|s| s.tunnel().to_string()).collect();
    let mut seen = BTreeSet::new();
    let mut evidence = Vec::new();
    let mut established = 0;
    for p in &peers {
        let addr = p["address"].as_str().unwrap_or("?").to_string();
        let state = p["state"].as_str().unwrap_or("?");
        if state == api::ESTABLISHED {
            established += 1;
        }
        evidence.push(format!(
            "rr: dynamic peer {addr} ({}) {state}, up {}s",
            p["dynamic"].as_str().unwrap_or("?"),
            p["uptime_secs"]
        ));
        seen.insert(addr);
    }
    let pass = peers.len() == 4 && established == 4 && seen == expected;
    evidence.insert(
        0,
        format!(
            "rr: {} dynamic peers, {established} Established",
            peers.len()
        ),
    );
    Assertion::new("3", title, pass, evidence)
}

/// 4: the RR accepted exactly the four client /32s, each from the leaf that owns it,
/// rejected none, and installed them in its kernel through tunnel devices.
pub(crate) fn rr_accepted_routes(rr: &NodeDocs, kernel: &RrKernel) -> Assertion {
    let title = "the RR accepted exactly the four client /32s and rejected none";
    let mut evidence = Vec::new();
    let peers = dynamic_peers(rr).unwrap_or_default();
    let accepted: u64 = peers.iter().filter_map(|p| p["accepted"].as_u64()).sum();
    let peer_rejects: u64 = peers.iter().map(|p| rejected_total(p)).sum();
    evidence.push(format!(
        "rr /v1/peers: dynamic peers accepted {accepted} prefixes, rejected {peer_rejects}"
    ));
    let mut pass = accepted == 4 && peer_rejects == 0;
    match rr.doc("/v1/status") {
        Ok(status) => {
            let rib = status["loc_rib_routes"].as_u64();
            let rejects = rejected_total(status);
            evidence.push(format!(
                "rr /v1/status: loc_rib_routes {}, rejection counters total {rejects}",
                rib.map_or("missing".to_string(), |n| n.to_string())
            ));
            pass &= rib == Some(4) && rejects == 0;
        }
        Err(e) => {
            pass = false;
            evidence.push(format!("rr /v1/status unavailable: {e}"));
        }
    }
    for site in SITES {
        let path = route_query(site.client());
        match rr.doc(&path) {
            Ok(view) => {
                let best = view["paths"]
                    .as_array()
                    .and_then(|paths| paths.iter().find(|p| p["best"] == true));
                let from = best.and_then(|p| p["from"].as_str()).unwrap_or("none");
                let good = from == site.tunnel().to_string();
                pass &= good;
                evidence.push(format!(
                    "rr {path}: best path from {from} ({})",
                    if good {
                        format!("{}'s tunnel address", site.name)
                    } else {
                        format!("EXPECTED {} of {}", site.tunnel(), site.name)
                    }
                ));
            }
            Err(e) => {
                pass = false;
                evidence.push(format!("rr {path} unavailable: {e}"));
            }
        }
    }
    let (installed, lines) = rr_installed(kernel);
    pass &= installed == 4;
    evidence.push(format!(
        "rr kernel: {installed}/4 client /32s proto bgp through a tunnel device"
    ));
    evidence.extend(lines);
    Assertion::new("4", title, pass, evidence)
}

/// The client /32s in the RR's kernel as `proto bgp` routes on a tunnel device.
fn rr_installed(k: &RrKernel) -> (usize, Vec<String>) {
    let routes = match &k.bgp_routes {
        Ok(v) => v.as_array().cloned().unwrap_or_default(),
        Err(e) => return (0, vec![format!("rr: ip route failed: {e}")]),
    };
    let links = k.links.as_ref().ok();
    let mut ok = 0;
    let mut lines = Vec::new();
    for site in SITES {
        let client = site.client().to_string();
        let route = routes.iter().find(|r| r["dst"] == client.as_str());
        let dev = route.and_then(|r| r["dev"].as_str()).unwrap_or("-");
        let kind = links.and_then(|l| link_kind(l, dev)).unwrap_or("?");
        let good = route.is_some() && matches!(kind, "tun" | "ipip" | "wireguard");
        if good {
            ok += 1;
        } else {
            lines.push(format!(
                "rr kernel: {client}/32 {}",
                if route.is_some() {
                    format!("on {dev} ({kind}), not a tunnel")
                } else {
                    "MISSING".to_string()
                }
            ));
        }
    }
    (ok, lines)
}

/// The kind of link `dev` (`tun`, `veth`, ...) in `ip -d -j link show` output.
fn link_kind<'a>(links: &'a Value, dev: &str) -> Option<&'a str> {
    links
        .as_array()?
        .iter()
        .find(|l| l["ifname"] == dev)?
        .get("linkinfo")
        .and_then(|i| i["info_kind"].as_str())
}

/// One leaf's remote routes: `(installed through a tunnel, evidence)` per remote client.
pub(crate) fn leaf_remote_routes(k: &LeafKernel) -> (usize, Vec<String>) {
    let mut ok = 0;
    let mut evidence = Vec::new();
    let bgp: BTreeSet<Ipv4Addr> = match &k.bgp_routes {
        Ok(v) => v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["dst"].as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) => {
            evidence.push(format!("{}: ip route failed: {e}", k.site.name));
            BTreeSet::new()
        }
    };
    let links = k.links.as_ref().ok();
    for (client, got) in &k.route_get {
        let own = *client == k.site.client();
        let dev = got
            .as_ref()
            .ok()
            .and_then(|v| v.get(0))
            .and_then(|r| r["dev"].as_str())
            .unwrap_or("-");
        let kind = links.and_then(|l| link_kind(l, dev)).unwrap_or("?");
        if own {
            let good = dev == "lan0" && !bgp.contains(client);
            evidence.push(format!(
                "{}: own {client}/32 on {dev} (site LAN){}",
                k.site.name,
                if bgp.contains(client) {
                    ", WRONGLY installed from BGP"
                } else {
                    ""
                }
            ));
            if good {
                ok += 1;
            }
            continue;
        }
        let through_tunnel = !matches!(dev, "wan0" | "lan0" | "lo" | "-")
            && matches!(kind, "tun" | "ipip" | "wireguard");
        let good = bgp.contains(client) && through_tunnel;
        evidence.push(format!(
            "{}: {client}/32 {} proto bgp, route get -> dev {dev} ({kind})",
            k.site.name,
            if bgp.contains(client) {
                "installed"
            } else {
                "MISSING"
            }
        ));
        if good {
            ok += 1;
        }
    }
    (ok, evidence)
}

/// 5: every leaf has all four client /32s, the three remote ones from BGP through a tunnel.
pub(crate) fn leaf_routes(kernel: &[LeafKernel]) -> Assertion {
    let mut pass = kernel.len() == 4;
    let mut evidence = Vec::new();
    for k in kernel {
        let (ok, lines) = leaf_remote_routes(k);
        pass &= ok == 4;
        evidence.push(format!("{}: {ok}/4 client /32s as expected", k.site.name));
        evidence.extend(lines);
    }
    Assertion::new(
        "5",
        "every leaf has all four client /32s (three remote, proto bgp through the tunnel)",
        pass,
        evidence,
    )
}

/// How many of the other sites' client /32s `k` holds as `proto bgp` routes.
pub(crate) fn remote_installed(k: &LeafKernel) -> usize {
    let Ok(routes) = &k.bgp_routes else { return 0 };
    let installed: BTreeSet<Ipv4Addr> = routes
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["dst"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    SITES
        .iter()
        .filter(|s| s.client() != k.site.client() && installed.contains(&s.client()))
        .count()
}

/// F1: while the RR is down the leaves keep their remote routes installed, sampled one
/// second after the kill (`early`) and after the BGP hold time has run out (`late`).
pub(crate) fn fail_static(
    early: &[usize],
    late: &[usize],
    early_secs: u64,
    window_secs: u64,
) -> Assertion {
    let show = |v: &[usize]| {
        SITES
            .iter()
            .zip(v)
            .map(|(s, n)| format!("{} {n}/3", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let full = |v: &[usize]| v.len() == 4 && v.iter().all(|&n| n == 3);
    Assertion::new(
        "F1",
        "fail-static: while the RR is down every leaf keeps its three remote routes installed",
        full(early) && full(late),
        vec![
            format!("{early_secs}s after the kill: {}", show(early)),
            format!(
                "{window_secs}s after the kill (hold time over): {}",
                show(late)
            ),
        ],
    )
}

/// A leaf's session toward the RR as `/v1/peers` shows it (state, last error).
pub(crate) fn session_to_rr(leaf: &NodeDocs) -> String {
    let rr = super::plan::RR_TUNNEL.to_string();
    let peer = leaf.doc("/v1/peers").ok().and_then(|d| {
        d["peers"]
            .as_array()?
            .iter()
            .find(|p| p["address"] == rr.as_str())
            .cloned()
    });
    match peer {
        Some(p) => format!(
            "{}: session to the RR {}, last error {}",
            leaf.node,
            p["state"].as_str().unwrap_or("?"),
            p["last_error"].as_str().unwrap_or("none")
        ),
        None => format!("{}: no session to the RR in /v1/peers", leaf.node),
    }
}

/// Assertions 2 to 5 and 5k over one observation.
pub(crate) fn fabric(obs: &Observation) -> Vec<Assertion> {
    vec![
        enrollment_ready(&obs.leaves),
        rr_dynamic_peers(&obs.rr),
        rr_accepted_routes(&obs.rr, &obs.rr_kernel),
        leaf_routes(&obs.kernel),
        if obs.kernels_read_directly {
            super::kernel_agreement::kernel_views(&obs.rr, &obs.rr_kernel, &obs.leaves, &obs.kernel)
        } else {
            super::kernel_agreement::views_only(&obs.rr, &obs.leaves)
        },
    ]
}

#[cfg(test)]
mod tests;
