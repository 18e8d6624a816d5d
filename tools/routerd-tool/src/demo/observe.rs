//! What the demo looks at: each router's API documents (fetched from inside its
//! namespace) and each leaf namespace's kernel routes and links.
//!
//! An [`Observation`] is a plain snapshot; [`crate::demo::checks`] judges it without I/O.
//! A document that could not be fetched is kept as its error text, so a missing endpoint
//! shows up as evidence instead of aborting the run.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::lab::Lab;
use super::plan::{API_ADDR, SITES, Site};

/// API endpoints read from every router (plus `/v1/routes?prefix=C/32` per client).
pub(crate) const ENDPOINTS: [&str; 5] = [
    "/v1/status",
    "/v1/peers",
    "/v1/enrollment",
    "/v1/tunnels",
    super::kernel_agreement::KERNEL_VIEW,
];

/// The route query path of a client's /32.
pub(crate) fn route_query(client: Ipv4Addr) -> String {
    format!("/v1/routes?prefix={client}/32")
}

/// One router's API documents, by endpoint (`Err`: why it could not be fetched).
#[derive(Debug, Clone)]
pub(crate) struct NodeDocs {
    /// Node name (`rr`, `aws-leaf`, ...).
    pub(crate) node: String,
    /// `(path, document)`: [`ENDPOINTS`], then one route query per client.
    pub(crate) docs: Vec<(String, Result<Value, String>)>,
}

impl NodeDocs {
    /// The document of `endpoint`.
    pub(crate) fn doc(&self, endpoint: &str) -> Result<&Value, &str> {
        match self.docs.iter().find(|(e, _)| *e == endpoint) {
            Some((_, Ok(v))) => Ok(v),
            Some((_, Err(e))) => Err(e.as_str()),
            None => Err("not fetched"),
        }
    }

    /// A router known to be down: every endpoint carries `why` instead of a document.
    pub(crate) fn unreachable(node: &str, why: &str) -> NodeDocs {
        NodeDocs {
            node: node.to_string(),
            docs: ENDPOINTS
                .iter()
                .map(|e| e.to_string())
                .chain(SITES.iter().map(|s| route_query(s.client())))
                .map(|path| (path, Err(why.to_string())))
                .collect(),
        }
    }

    /// Everything as one JSON object (errors as `{"error": ...}`).
    pub(crate) fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (endpoint, doc) in &self.docs {
            let v = match doc {
                Ok(v) => v.clone(),
                Err(e) => json!({ "error": e }),
            };
            map.insert(endpoint.clone(), v);
        }
        Value::Object(map)
    }
}

/// A leaf namespace's kernel view.
#[derive(Debug, Clone)]
pub(crate) struct LeafKernel {
    /// The site.
    pub(crate) site: Site,
    /// `ip -j route show proto bgp`.
    pub(crate) bgp_routes: Result<Value, String>,
    /// `ip -j route get CLIENT` for every site's client, in [`SITES`] order.
    pub(crate) route_get: Vec<(Ipv4Addr, Result<Value, String>)>,
    /// `ip -d -j link show`.
    pub(crate) links: Result<Value, String>,
}

impl LeafKernel {
    /// Everything as one JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let err = |r: &Result<Value, String>| match r {
            Ok(v) => v.clone(),
            Err(e) => json!({ "error": e }),
        };
        json!({
            "ip route show proto bgp": err(&self.bgp_routes),
            "ip route get": self.route_get.iter()
                .map(|(a, r)| (a.to_string(), err(r)))
                .collect::<serde_json::Map<_, _>>(),
            "ip -d link show": err(&self.links),
        })
    }
}

/// The RR namespace's kernel view.
#[derive(Debug, Clone)]
pub(crate) struct RrKernel {
    /// `ip -j route show proto bgp`.
    pub(crate) bgp_routes: Result<Value, String>,
    /// `ip -d -j link show`.
    pub(crate) links: Result<Value, String>,
}

impl RrKernel {
    /// Everything as one JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let err = |r: &Result<Value, String>| match r {
            Ok(v) => v.clone(),
            Err(e) => json!({ "error": e }),
        };
        json!({
            "ip route show proto bgp": err(&self.bgp_routes),
            "ip -d link show": err(&self.links),
        })
    }
}

/// The whole fabric at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    /// The RR's documents.
    pub(crate) rr: NodeDocs,
    /// The RR's kernel view.
    pub(crate) rr_kernel: RrKernel,
    /// Each leaf's documents, in [`SITES`] order.
    pub(crate) leaves: Vec<NodeDocs>,
    /// Each leaf's kernel view, in [`SITES`] order.
    pub(crate) kernel: Vec<LeafKernel>,
    /// False when the kernels could not be read from outside (QEMU guests): `rr_kernel`
    /// and `kernel` were then built from each router's `/v1/kernel`.
    pub(crate) kernels_read_directly: bool,
}

/// Where things are, to observe them.
pub(crate) struct Observer<'a> {
    /// The lab (namespaces).
    pub(crate) lab: &'a Lab,
    /// This program, run inside namespaces for API fetches.
    pub(crate) tool: PathBuf,
    /// The API token file.
    pub(crate) token_file: PathBuf,
}

/// Where a router's API is reached: from inside namespace `ns`, at `url`.
#[derive(Debug, Clone)]
pub(crate) struct ApiAt {
    /// The namespace the request is made from.
    pub(crate) ns: String,
    /// The API base URL (`http://ADDRESS:PORT`).
    pub(crate) url: String,
}

impl ApiAt {
    /// The API of a router on the loopback of its own namespace `ns` (netns flavour).
    pub(crate) fn loopback(ns: &str) -> ApiAt {
        ApiAt {
            ns: ns.to_string(),
            url: format!("http://{API_ADDR}"),
        }
    }
}

impl Observer<'_> {
    /// Fetches every endpoint of the router in namespace `ns` (API on its loopback).
    pub(crate) fn node(&self, node: &str, ns: &str) -> NodeDocs {
        self.node_at(node, &ApiAt::loopback(ns))
    }

    /// Fetches every endpoint of the router whose API is at `at`.
    /// When the first endpoint (`/v1/status`) cannot be fetched, the others are not tried
    /// (a router that is down would cost a connect timeout each) and carry its error.
    pub(crate) fn node_at(&self, node: &str, at: &ApiAt) -> NodeDocs {
        let mut first_error: Option<String> = None;
        let docs = ENDPOINTS
            .iter()
            .map(|e| e.to_string())
            .chain(SITES.iter().map(|s| route_query(s.client())))
            .map(|path| {
                let doc = match &first_error {
                    Some(e) => Err(format!("not fetched: {} failed: {e}", ENDPOINTS[0])),
                    None => self.fetch_at(at, &path),
                };
                if let (true, Err(e)) = (path == ENDPOINTS[0], &doc) {
                    first_error = Some(e.clone());
                }
                (path, doc)
            })
            .collect::<Vec<_>>();
        NodeDocs {
            node: node.to_string(),
            docs,
        }
    }

    /// One API document of the router in `ns` (API on its loopback).
    pub(crate) fn fetch(&self, ns: &str, endpoint: &str) -> Result<Value, String> {
        self.fetch_at(&ApiAt::loopback(ns), endpoint)
    }

    /// One API document of the router whose API is at `at`.
    pub(crate) fn fetch_at(&self, at: &ApiAt, endpoint: &str) -> Result<Value, String> {
        let (ns, url) = (at.ns.as_str(), at.url.as_str());
        let token = self.token_file.display().to_string();
        let out = self.lab.probe(
            ns,
            &self.tool,
            &[
                "demo",
                "internal",
                "api-get",
                "--url",
                url,
                "--token-file",
                &token,
                endpoint,
            ],
        );
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))
    }

    /// `ip -j ARGS` inside `ns`, parsed.
    pub(crate) fn ip_json(&self, ns: &str, args: &[&str]) -> Result<Value, String> {
        let mut full = vec!["-j"];
        full.extend_from_slice(args);
        let out = self.lab.probe(ns, Path::new("ip"), &full);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return Ok(Value::Array(Vec::new()));
        }
        serde_json::from_str(&text).map_err(|e| format!("ip -j output not JSON: {e}"))
    }

    /// The kernel view of the RR, whose namespace is `ns`.
    pub(crate) fn rr_kernel(&self, ns: &str) -> RrKernel {
        RrKernel {
            bgp_routes: self.ip_json(ns, &["route", "show", "proto", "bgp"]),
            links: self.ip_json(ns, &["-d", "link", "show"]),
        }
    }

    /// The kernel view of the leaf of `site`, whose namespace is `ns`.
    pub(crate) fn kernel(&self, site: Site, ns: &str) -> LeafKernel {
        LeafKernel {
            site,
            bgp_routes: self.ip_json(ns, &["route", "show", "proto", "bgp"]),
            route_get: SITES
                .iter()
                .map(|s| {
                    let c = s.client().to_string();
                    (s.client(), self.ip_json(ns, &["route", "get", &c]))
                })
                .collect(),
            links: self.ip_json(ns, &["-d", "link", "show"]),
        }
    }
}
