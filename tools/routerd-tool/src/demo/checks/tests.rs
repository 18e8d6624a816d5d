//! Tests of the assertions against documents shaped like the real ones (`ip -j` output
//! captured from a namespace with a TUN device, routerd's `/v1/peers`).

use super::*;
use crate::demo::plan::Site;
use serde_json::json;

fn docs(node: &str, endpoint: &str, doc: Value) -> NodeDocs {
    NodeDocs {
        node: node.into(),
        docs: vec![(endpoint.to_string(), Ok(doc))],
    }
}

fn peer(addr: &str, state: &str, accepted: u64, rejected: u64) -> Value {
    json!({"address": addr, "remote_as": 65000, "state": state, "dynamic": "dynamic-10.99.0.0/24",
           "uptime_secs": 12, "received": accepted + rejected, "accepted": accepted,
           "rejected": if rejected > 0 { json!([{"reason": "not-owned", "count": rejected}]) } else { json!([]) },
           "advertised": 3, "last_error": null})
}

/// The RR's documents: `/v1/peers`, `/v1/status` and one route view per client whose
/// best path comes from `from(site)`.
fn rr_with(peers: Vec<Value>, status: Value, from: impl Fn(&Site) -> String) -> NodeDocs {
    let mut docs = vec![
        ("/v1/peers".to_string(), Ok(json!({ "peers": peers }))),
        ("/v1/status".to_string(), Ok(status)),
    ];
    for s in SITES {
        let view = json!({"prefix": format!("{}/32", s.client()), "paths": [
            {"from": from(&s), "best": true, "lost_at": null, "next_hop": from(&s), "as_path": "",
             "local_pref": 100, "med": null, "communities": [], "originator_id": null, "cluster_list": []}]});
        docs.push((route_query(s.client()), Ok(view)));
    }
    NodeDocs {
        node: "rr".into(),
        docs,
    }
}

fn good_status() -> Value {
    json!({"mode": "rr", "loc_rib_routes": 4, "peers_total": 4, "peers_established": 4,
           "refused_connections": [{"reason": "no-matching-range", "count": 1}]})
}

fn owner(s: &Site) -> String {
    s.tunnel().to_string()
}

/// The RR's kernel with every client /32 on its own tunnel device.
fn rr_kernel(missing: usize) -> RrKernel {
    let mut routes = Vec::new();
    let mut links = Vec::new();
    for (i, s) in SITES.iter().enumerate().skip(missing) {
        let dev = format!("samt{i}");
        routes.push(json!({"dst": s.client().to_string(), "gateway": s.tunnel().to_string(), "dev": dev, "flags": ["onlink"]}));
        links.push(json!({"ifname": dev, "linkinfo": {"info_kind": "tun"}}));
    }
    RrKernel {
        bgp_routes: Ok(Value::Array(routes)),
        links: Ok(Value::Array(links)),
    }
}

fn good_rr(peers: Vec<Value>) -> NodeDocs {
    rr_with(peers, good_status(), owner)
}

fn good_peers() -> Vec<Value> {
    let mut peers: Vec<Value> = SITES
        .iter()
        .map(|s| peer(&s.tunnel().to_string(), "Established", 1, 0))
        .collect();
    // A configured (non-dynamic) peer does not count.
    peers.push(json!({"address": "192.0.2.1", "state": "Active", "dynamic": null, "accepted": 0, "rejected": []}));
    peers
}

#[test]
fn dynamic_peers_must_be_the_four_leaves_all_established() {
    assert!(rr_dynamic_peers(&good_rr(good_peers())).pass);
    let mut peers = good_peers();
    peers[2]["state"] = json!("OpenConfirm");
    let a = rr_dynamic_peers(&good_rr(peers));
    assert!(!a.pass);
    assert!(a.evidence[0].contains("4 dynamic peers, 3 Established"));
    let missing: Vec<Value> = good_peers().into_iter().skip(1).collect();
    assert!(!rr_dynamic_peers(&good_rr(missing)).pass);
    let no_doc = docs("rr", "/v1/status", json!({}));
    assert!(!rr_dynamic_peers(&no_doc).pass);
}

fn rr_accepted_routes_of(rr: &NodeDocs) -> Assertion {
    rr_accepted_routes(rr, &rr_kernel(0))
}

#[test]
fn accepted_routes_must_be_the_four_clients_from_their_owners_with_no_rejection() {
    let a = rr_accepted_routes_of(&good_rr(good_peers()));
    assert!(a.pass, "{:?}", a.evidence);
    // A rejected announcement.
    let mut peers = good_peers();
    peers[0] = peer("10.99.0.11", "Established", 1, 1);
    assert!(!rr_accepted_routes_of(&good_rr(peers)).pass);
    // A fifth route in the Loc-RIB.
    let mut status = good_status();
    status["loc_rib_routes"] = json!(5);
    assert!(!rr_accepted_routes_of(&rr_with(good_peers(), status, owner)).pass);
    // A rejection counter in the status.
    let mut status = good_status();
    status["sam_rejected"] = json!({"not-owned": 2});
    assert!(!rr_accepted_routes_of(&rr_with(good_peers(), status, owner)).pass);
    // The pve client's /32 learned from the aws leaf.
    let wrong = |s: &Site| {
        if s.name == "pve" {
            SITES[0].tunnel().to_string()
        } else {
            owner(s)
        }
    };
    let a = rr_accepted_routes_of(&rr_with(good_peers(), good_status(), wrong));
    assert!(!a.pass);
    assert!(a.evidence.iter().any(|e| e.contains("EXPECTED 10.99.0.14")));
    // The RR's kernel lacks one client route.
    assert!(!rr_accepted_routes(&good_rr(good_peers()), &rr_kernel(1)).pass);
    // A route view that cannot be fetched.
    let mut rr = good_rr(good_peers());
    rr.docs.pop();
    assert!(!rr_accepted_routes_of(&rr).pass);
}

#[test]
fn enrollment_needs_every_state_ready() {
    let ready = |node: &str, state: &str| {
        docs(
            node,
            "/v1/enrollment",
            json!({"state": state, "rrs": [{"endpoint": "203.0.113.10:4179", "state": state}]}),
        )
    };
    let all: Vec<NodeDocs> = SITES
        .iter()
        .map(|s| ready(&s.leaf_node(), "Ready"))
        .collect();
    assert!(enrollment_ready(&all).pass);
    let mut some = all.clone();
    some[3] = ready("pve-leaf", "Enrolling");
    let a = enrollment_ready(&some);
    assert!(!a.pass);
    assert!(a.evidence[3].contains("Enrolling"));
    let mut missing = all;
    missing[0] = NodeDocs {
        node: "aws-leaf".into(),
        docs: vec![(
            "/v1/enrollment".to_string(),
            Err("router answered 404".into()),
        )],
    };
    assert!(!enrollment_ready(&missing).pass);
    assert!(!enrollment_ready(&[]).pass);
}

/// The kernel view of `site` with BGP routes to `remote` on `dev` (kind `kind`).
fn kernel(site: Site, remote: &[Ipv4Addr], dev: &str, kind: &str) -> LeafKernel {
    let bgp: Vec<Value> = remote
        .iter()
        .map(|a| json!({"dst": a.to_string(), "dev": dev, "scope": "link", "flags": []}))
        .collect();
    let route_get = SITES
        .iter()
        .map(|s| {
            let d = if s.client() == site.client() { "lan0" } else { dev };
            (
                s.client(),
                Ok(json!([{"dst": s.client().to_string(), "dev": d, "prefsrc": "10.99.0.11", "flags": [], "uid": 0, "cache": []}])),
            )
        })
        .collect();
    let links = json!([
        {"ifname": "lan0", "linkinfo": {"info_kind": "veth"}},
        {"ifname": "wan0", "linkinfo": {"info_kind": "veth"}},
        {"ifname": dev, "linkinfo": {"info_kind": kind, "info_data": {"type": "tun"}}},
    ]);
    LeafKernel {
        site,
        bgp_routes: Ok(Value::Array(bgp)),
        route_get,
        links: Ok(links),
    }
}

fn remotes(site: Site) -> Vec<Ipv4Addr> {
    SITES
        .iter()
        .filter(|s| **s != site)
        .map(|s| s.client())
        .collect()
}

#[test]
fn leaf_routes_need_bgp_routes_through_a_tunnel_device() {
    let good: Vec<LeafKernel> = SITES
        .iter()
        .map(|s| kernel(*s, &remotes(*s), "tun-rr", "tun"))
        .collect();
    assert!(leaf_routes(&good).pass);
    assert!(good.iter().all(|k| remote_installed(k) == 3));
    // Through the underlay instead of a tunnel.
    let mut via_wan = good.clone();
    via_wan[1] = kernel(SITES[1], &remotes(SITES[1]), "wan0", "veth");
    assert!(!leaf_routes(&via_wan).pass);
    // One remote /32 missing.
    let mut short = good.clone();
    let mut two = remotes(SITES[0]);
    two.pop();
    short[0] = kernel(SITES[0], &two, "tun-rr", "tun");
    assert_eq!(remote_installed(&short[0]), 2);
    assert!(!leaf_routes(&short).pass);
    // Its own /32 learned from BGP is wrong.
    let mut own = good;
    own[2] = kernel(SITES[2], &SITES.map(|s| s.client()), "tun-rr", "tun");
    assert!(!leaf_routes(&own).pass);
}

#[test]
fn fail_static_needs_all_remote_routes_at_both_samples() {
    assert!(fail_static(&[3, 3, 3, 3], &[3, 3, 3, 3], 1, 12).pass);
    let a = fail_static(&[3, 3, 3, 3], &[3, 0, 3, 3], 1, 12);
    assert!(!a.pass);
    assert!(a.evidence[1].contains("azure 0/3"));
}

#[test]
fn rr_blob_shape_reads_the_inspect_summary() {
    let good = json!({"verified": true, "mode": "rr", "summary": {"static_claims": 0, "static_peers": 0, "has_leaf_claim": false, "dynamic_ranges": 1}});
    assert!(rr_blob_shape(&good).pass);
    let mut peers = good.clone();
    peers["summary"]["static_peers"] = json!(1);
    assert!(!rr_blob_shape(&peers).pass);
    let mut leaf = good;
    leaf["mode"] = json!("leaf");
    assert!(!rr_blob_shape(&leaf).pass);
}

#[test]
fn json_helpers_find_nested_values() {
    let v = json!({"a": {"state": "Ready"}, "b": [{"state": "Ready"}, {"x": "10.20.1.10/32"}],
                   "rejected": [{"reason": "not-owned", "count": 2}], "n": {"rejects_total": 3},
                   "accepted": 9, "prefix": "10.20.0.0/16"});
    let mut states = Vec::new();
    strings_under(&v, "state", &mut states);
    assert_eq!(states, ["Ready", "Ready"]);
    assert_eq!(rejected_total(&v), 5);
}

#[test]
fn session_to_rr_quotes_state_and_last_error() {
    let leaf = docs(
        "aws-leaf",
        "/v1/peers",
        json!({"peers": [{"address": "10.99.0.1", "state": "Active", "last_error": "hold timer expired"}]}),
    );
    assert_eq!(
        session_to_rr(&leaf),
        "aws-leaf: session to the RR Active, last error hold timer expired"
    );
    let none = docs("pve-leaf", "/v1/peers", json!({"peers": []}));
    assert!(session_to_rr(&none).contains("no session"));
}
