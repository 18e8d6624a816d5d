//! Assertion 5k: each leaf's `GET /v1/kernel` (routerd's own read of its kernel) lists
//! the same `proto bgp` routes, with the same output devices, as the kernel shows from
//! outside (`ip -j route show proto bgp` in the leaf's namespace). Where the kernel cannot
//! be read from outside (a guest), the gate has only the API's view; this assertion is
//! what makes that view trustworthy. Pure: judges an [`Observation`]'s parts without I/O.

use std::collections::BTreeSet;

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::checks::{Assertion, leaf_remote_routes};
use super::observe::{LeafKernel, NodeDocs, RrKernel};
use super::plan::{SITES, Site};

/// The API path of the kernel view.
pub(crate) const KERNEL_VIEW: &str = "/v1/kernel";

/// A prefix as `ADDRESS/LENGTH` text; an address alone is a host route.
type Prefix = String;

/// `text` as `ADDRESS/LENGTH` (`/32` or `/128` added to a bare address); `None` when it
/// is neither.
fn normalized(text: &str) -> Option<Prefix> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(full);
    (len <= full).then(|| format!("{addr}/{len}"))
}

/// `(prefix, device)` pairs of a `/v1/kernel` document.
pub(crate) fn api_routes(doc: &Value) -> Option<BTreeSet<(Prefix, String)>> {
    let routes = doc.get("routes")?.as_array()?;
    let mut out = BTreeSet::new();
    for route in routes {
        let prefix = normalized(route["prefix"].as_str()?)?;
        let hops = route["next_hops"].as_array()?;
        if hops.is_empty() {
            out.insert((prefix.clone(), "-".to_string()));
        }
        for hop in hops {
            let dev = hop["device"].as_str().unwrap_or("-").to_string();
            out.insert((prefix.clone(), dev));
        }
    }
    Some(out)
}

/// `(prefix, device)` pairs of `ip -j route show proto bgp` output (`dst` without a
/// length is a host route; multipath routes list their devices under `nexthops`).
pub(crate) fn ip_routes(routes: &Value) -> Option<BTreeSet<(Prefix, String)>> {
    let mut out = BTreeSet::new();
    for route in routes.as_array()? {
        let dst = route["dst"].as_str()?;
        let prefix = normalized(dst)?;
        match route.get("nexthops").and_then(Value::as_array) {
            Some(hops) => {
                for hop in hops {
                    out.insert((
                        prefix.clone(),
                        hop["dev"].as_str().unwrap_or("-").to_string(),
                    ));
                }
            }
            None => {
                out.insert((
                    prefix.clone(),
                    route["dev"].as_str().unwrap_or("-").to_string(),
                ));
            }
        }
    }
    Some(out)
}

/// A leaf's kernel as the gate's checks read it (`ip -j` shapes), built from its
/// `/v1/kernel` document alone: `proto bgp` routes, `route get` for every client by
/// longest prefix match over the view's routes, links with their kinds. This is how a
/// router whose kernel cannot be read from outside (a guest) is judged.
pub(crate) fn leaf_kernel_from_view(site: Site, doc: &Value) -> LeafKernel {
    let candidates: Vec<(Prefix, &Value)> = ["routes", "connected"]
        .iter()
        .flat_map(|key| doc[key].as_array().into_iter().flatten())
        .filter_map(|r| Some((normalized(r["prefix"].as_str()?)?, r)))
        .collect();
    let route_get = SITES
        .iter()
        .map(|s| {
            let best = candidates
                .iter()
                .filter_map(|(p, r)| {
                    let (net, len) = p.split_once('/')?;
                    let (net, len): (Ipv4Addr, u32) = (net.parse().ok()?, len.parse().ok()?);
                    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                    (u32::from(s.client()) & mask == u32::from(net) & mask).then_some((len, *r))
                })
                .max_by_key(|(len, _)| *len);
            let got = match best {
                Some((_, r)) => Ok(json!([{ "dst": s.client().to_string(), "dev": hop_dev(r) }])),
                None => Err(format!("no route to {} in {KERNEL_VIEW}", s.client())),
            };
            (s.client(), got)
        })
        .collect();
    LeafKernel {
        site,
        bgp_routes: view_bgp_routes(doc),
        route_get,
        links: view_links(doc),
    }
}

/// The RR's kernel as assertion 4 reads it (`ip -j` shapes), built from its `/v1/kernel`
/// document alone (a guest's kernel cannot be read from outside).
pub(crate) fn rr_kernel_from_view(doc: Result<&Value, &str>) -> RrKernel {
    match doc {
        Ok(doc) => RrKernel {
            bgp_routes: view_bgp_routes(doc),
            links: view_links(doc),
        },
        Err(e) => RrKernel {
            bgp_routes: Err(format!("{KERNEL_VIEW} unavailable: {e}")),
            links: Err(format!("{KERNEL_VIEW} unavailable: {e}")),
        },
    }
}

/// The device of a view route's first next hop.
fn hop_dev(r: &Value) -> Value {
    r["next_hops"][0]["device"].clone()
}

/// A view's `proto bgp` routes as `ip -j route show proto bgp` writes them (a host
/// route's destination without its length).
fn view_bgp_routes(doc: &Value) -> Result<Value, String> {
    let as_ip = |r: &Value| {
        let prefix = r["prefix"].as_str().unwrap_or_default();
        let dst = prefix.strip_suffix("/32").unwrap_or(prefix);
        json!({ "dst": dst, "dev": hop_dev(r), "protocol": "bgp" })
    };
    doc["routes"]
        .as_array()
        .map(|a| Value::Array(a.iter().map(as_ip).collect()))
        .ok_or_else(|| format!("{KERNEL_VIEW} has no routes: {doc}"))
}

/// A view's links as `ip -d -j link show` writes them (name and kind).
fn view_links(doc: &Value) -> Result<Value, String> {
    doc["links"]
        .as_array()
        .map(|a| {
            Value::Array(
                a.iter()
                    .map(|l| json!({ "ifname": l["name"], "linkinfo": { "info_kind": l["kind"] } }))
                    .collect(),
            )
        })
        .ok_or_else(|| format!("{KERNEL_VIEW} has no links: {doc}"))
}

/// 5k where no router's kernel can be read from outside (QEMU guests): the gate has only
/// the API's view, and says so. Holds when every router serves a kernel view with routes
/// and links (assertions 4 and 5 were judged from it); whether a view matches its kernel
/// is checked where both can be read (the netns flavour).
pub(crate) fn views_only(rr: &NodeDocs, leaves: &[NodeDocs]) -> Assertion {
    let mut pass = !leaves.is_empty();
    let mut evidence = vec![
        "the routers are QEMU guests: their kernels cannot be read from outside, so assertions 4 and 5 were judged from GET /v1/kernel alone (view against kernel is checked by the netns flavour)".to_string(),
    ];
    for docs in std::iter::once(rr).chain(leaves) {
        let line = match docs.doc(KERNEL_VIEW) {
            Ok(d) => match (api_routes(d), d["links"].as_array()) {
                (Some(routes), Some(links)) => format!(
                    "{}: {KERNEL_VIEW} lists {} proto bgp routes and {} links (read at unix {})",
                    docs.node,
                    routes.len(),
                    links.len(),
                    d["read_at_unix_secs"]
                ),
                _ => {
                    pass = false;
                    format!("{}: {KERNEL_VIEW} is not a kernel view: {d}", docs.node)
                }
            },
            Err(e) => {
                pass = false;
                format!("{}: {KERNEL_VIEW} unavailable: {e}", docs.node)
            }
        };
        evidence.push(line);
    }
    Assertion::new(
        "5k",
        "every router serves its kernel view (/v1/kernel); guests: the view is the only observer",
        pass,
        evidence,
    )
}

/// Whether `docs`' kernel view lists the same `(prefix, device)` pairs as `bgp_routes`
/// (`ip -j route show proto bgp`); one evidence line either way. Unless `view_required`
/// (leaves), a router without a kernel view (a reflect-only RR) agrees when its kernel
/// holds no `proto bgp` route.
fn routes_agree(
    docs: &NodeDocs,
    bgp_routes: &Result<Value, String>,
    view_required: bool,
    evidence: &mut Vec<String>,
) -> bool {
    let node = &docs.node;
    let ip = bgp_routes
        .clone()
        .and_then(|v| ip_routes(&v).ok_or_else(|| format!("ip route output not understood: {v}")));
    let api = match docs.doc(KERNEL_VIEW) {
        Ok(d) => api_routes(d).ok_or_else(|| format!("{KERNEL_VIEW} is not a kernel view: {d}")),
        Err(e) if !view_required && ip.as_ref().is_ok_and(BTreeSet::is_empty) => {
            evidence.push(format!(
                "{node}: no kernel view ({e}) and no proto bgp route in its kernel"
            ));
            return true;
        }
        Err(e) => Err(e.to_string()),
    };
    match (api, ip) {
        (Ok(api), Ok(ip)) if api == ip => {
            evidence.push(format!(
                "{node}: {KERNEL_VIEW} lists the kernel's {} proto bgp routes",
                ip.len()
            ));
            true
        }
        (Ok(api), Ok(ip)) => {
            let show = |set: BTreeSet<&(Prefix, String)>| {
                set.iter()
                    .map(|(p, d)| format!("{p} dev {d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            evidence.push(format!(
                "{node}: {KERNEL_VIEW} differs from the kernel; only in the API: [{}]; only in the kernel: [{}]",
                show(api.difference(&ip).collect()),
                show(ip.difference(&api).collect()),
            ));
            false
        }
        (api, ip) => {
            for e in [api.err(), ip.err()].into_iter().flatten() {
                evidence.push(format!("{node}: {e}"));
            }
            false
        }
    }
}

/// 5k: for the RR and every leaf the API's kernel view equals the kernel's own
/// `proto bgp` routes, and for every leaf assertion 5 judged from the view alone gives
/// the same count as from `ip`.
pub(crate) fn kernel_views(
    rr: &NodeDocs,
    rr_kernel: &RrKernel,
    leaves: &[NodeDocs],
    kernel: &[LeafKernel],
) -> Assertion {
    let mut evidence = Vec::new();
    let mut pass = !leaves.is_empty() && leaves.len() == kernel.len();
    pass &= routes_agree(rr, &rr_kernel.bgp_routes, false, &mut evidence);
    for (docs, k) in leaves.iter().zip(kernel) {
        pass &= routes_agree(docs, &k.bgp_routes, true, &mut evidence);
        if let Ok(doc) = docs.doc(KERNEL_VIEW) {
            let (from_view, _) = leaf_remote_routes(&leaf_kernel_from_view(k.site, doc));
            let (from_ip, _) = leaf_remote_routes(k);
            pass &= from_view == from_ip;
            evidence.push(format!(
                "{}: assertion 5 from {KERNEL_VIEW}: {from_view}/4 client /32s as expected; from ip: {from_ip}/4",
                docs.node
            ));
        }
    }
    Assertion::new(
        "5k",
        "every router's API kernel view (/v1/kernel) matches its kernel's proto bgp routes",
        pass,
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(api: Value) -> NodeDocs {
        NodeDocs {
            node: "aws-leaf".into(),
            docs: vec![(KERNEL_VIEW.to_string(), Ok(api))],
        }
    }

    /// Judges one leaf with an RR that has no view and no routes.
    fn leaf_kernel_view(leaves: &[NodeDocs], kernel: &[LeafKernel]) -> Assertion {
        let rr = NodeDocs {
            node: "rr".into(),
            docs: vec![(KERNEL_VIEW.to_string(), Err("router answered 404".into()))],
        };
        let rr_kernel = RrKernel {
            bgp_routes: Ok(json!([])),
            links: Ok(json!([])),
        };
        kernel_views(&rr, &rr_kernel, leaves, kernel)
    }

    #[test]
    fn an_rr_without_a_view_fails_when_its_kernel_holds_bgp_routes() {
        let rr = NodeDocs {
            node: "rr".into(),
            docs: vec![(KERNEL_VIEW.to_string(), Err("router answered 404".into()))],
        };
        let rr_kernel = RrKernel {
            bgp_routes: Ok(json!([{"dst": "10.20.1.10", "dev": "sam1"}])),
            links: Ok(json!([])),
        };
        let api = api_doc(&[("10.2.0.10/32", "sam0")]);
        let ip = json!([{"dst": "10.2.0.10", "dev": "sam0"}]);
        let a = kernel_views(&rr, &rr_kernel, &[leaf(api)], &[kernel(ip)]);
        assert!(!a.pass);
        assert!(
            a.evidence[0].starts_with("rr: router answered 404"),
            "{:?}",
            a.evidence
        );
    }

    fn kernel(ip: Value) -> LeafKernel {
        LeafKernel {
            site: SITES[0],
            bgp_routes: Ok(ip),
            route_get: Vec::new(),
            links: Ok(json!([])),
        }
    }

    fn api_doc(routes: &[(&str, &str)]) -> Value {
        json!({
            "table": 254, "protocol": 186, "read_at_unix_secs": 1, "links": [],
            "routes": routes.iter().map(|(p, d)| json!({
                "prefix": p,
                "next_hops": [{"via": "100.64.0.1", "device": d, "onlink": true}],
            })).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn equal_sets_hold_and_host_routes_match_their_slash_32() {
        let api = api_doc(&[("10.2.0.10/32", "sam0"), ("10.3.0.10/32", "sam0")]);
        let ip = json!([
            {"dst": "10.2.0.10", "gateway": "100.64.0.1", "dev": "sam0", "protocol": "bgp"},
            {"dst": "10.3.0.10", "gateway": "100.64.0.1", "dev": "sam0", "protocol": "bgp"},
        ]);
        let a = leaf_kernel_view(&[leaf(api)], &[kernel(ip)]);
        assert!(a.pass, "{:?}", a.evidence);
    }

    #[test]
    fn a_missing_route_or_another_device_fails_and_says_which() {
        let api = api_doc(&[("10.2.0.10/32", "sam0")]);
        let ip = json!([
            {"dst": "10.2.0.10", "dev": "sam1"},
            {"dst": "10.3.0.10", "dev": "sam0"},
        ]);
        let a = leaf_kernel_view(&[leaf(api)], &[kernel(ip)]);
        assert!(!a.pass);
        let text = a.evidence.join("\n");
        assert!(
            text.contains("only in the API: [10.2.0.10/32 dev sam0]"),
            "{text}"
        );
        assert!(text.contains("10.3.0.10/32 dev sam0"), "{text}");
    }

    #[test]
    fn an_unreachable_endpoint_fails() {
        let docs = NodeDocs {
            node: "aws-leaf".into(),
            docs: vec![(KERNEL_VIEW.to_string(), Err("router answered 404".into()))],
        };
        let a = leaf_kernel_view(&[docs], &[kernel(json!([]))]);
        assert!(!a.pass);
        // The RR without a view and without routes agrees; the leaf must have one.
        assert!(
            a.evidence[0].starts_with("rr: no kernel view"),
            "{:?}",
            a.evidence
        );
        assert_eq!(a.evidence[1], "aws-leaf: router answered 404");
    }

    /// A leaf view as routerd serves it: the three remote client /32s through `sam0`,
    /// the own site's LAN connected on `lan0`.
    fn full_view(site: Site, tunnel_kind: &str) -> Value {
        let remote: Vec<Value> = SITES
            .iter()
            .filter(|s| s.index != site.index)
            .map(|s| {
                json!({"prefix": format!("{}/32", s.client()),
                       "next_hops": [{"via": "100.64.0.1", "device": "sam0", "onlink": true}]})
            })
            .collect();
        json!({
            "table": 254, "protocol": 186, "read_at_unix_secs": 1,
            "routes": remote,
            "connected": [{"prefix": format!("10.20.{}.0/24", site.index),
                           "next_hops": [{"via": null, "device": "lan0", "onlink": false}]}],
            "links": [{"index": 1, "name": "lo", "operstate": "unknown", "kind": null},
                      {"index": 4, "name": "sam0", "operstate": "up", "kind": tunnel_kind}],
        })
    }

    #[test]
    fn assertion_5_holds_from_a_full_view_alone() {
        let site = SITES[1];
        let k = leaf_kernel_from_view(site, &full_view(site, "ipip"));
        let (ok, evidence) = leaf_remote_routes(&k);
        assert_eq!(ok, 4, "{evidence:?}");
        assert!(
            evidence.iter().any(|e| e.contains("on lan0")),
            "{evidence:?}"
        );
    }

    #[test]
    fn assertion_5_fails_from_a_view_without_a_tunnel_kind_or_a_route() {
        let site = SITES[1];
        let (ok, _) = leaf_remote_routes(&leaf_kernel_from_view(site, &full_view(site, "veth")));
        assert_eq!(ok, 1, "only the own client's LAN route is right");
        let mut view = full_view(site, "wireguard");
        view["routes"].as_array_mut().unwrap().pop();
        let (ok, _) = leaf_remote_routes(&leaf_kernel_from_view(site, &view));
        assert_eq!(ok, 3);
    }

    #[test]
    fn multipath_devices_are_compared_one_by_one() {
        let ip = json!([{"dst": "10.2.0.0/24", "nexthops": [{"dev": "a"}, {"dev": "b"}]}]);
        let got = ip_routes(&ip).unwrap();
        assert_eq!(got.len(), 2);
    }
}
