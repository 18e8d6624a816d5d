//! GoBGP (`gobgpd`) as a leaf (routes added with `gobgp global rib add` once the daemon
//! answers) or as an RR (`dynamic-neighbors` into a route-reflector peer group). The CLI
//! talks to 127.0.0.1:50051 of the namespace, so it runs inside it.

use std::path::PathBuf;

use serde_json::Value;

use super::{BgpDaemon, Role, SeenRoute, Spec, write_config};
use crate::netns::{Netns, Proc, wait_for};

/// A gobgpd process in a namespace.
#[derive(Debug)]
pub struct GoBgp {
    proc: Proc,
    ns: String,
    /// Its log file.
    pub log: PathBuf,
}

impl GoBgp {
    /// Writes the config for `spec` into `dir`, starts gobgpd in `ns` and, for a leaf,
    /// adds the announced routes (waits up to 20 s for the daemon's API).
    pub fn start(ns: &Netns, dir: PathBuf, spec: &Spec) -> GoBgp {
        let conf = dir.join("gobgpd.toml");
        write_config(&conf, &config(spec));
        let log = dir.join("gobgpd.log");
        let conf_s = conf.to_string_lossy().to_string();
        let proc = ns.spawn("gobgpd", &["-f", &conf_s, "--log-level=warn"], &log);
        let fixture = GoBgp {
            proc,
            ns: ns.name().to_string(),
            log,
        };
        if let Role::Leaf { announce, .. } = &spec.role {
            let ready = wait_for(20, || fixture.gobgp(&["global"]).map(|_| ()));
            assert!(
                ready.is_some(),
                "gobgpd did not answer: {}",
                super::log_tail(&fixture.log, 20)
            );
            let nexthop = spec.addr.to_string();
            for prefix in announce {
                let added = fixture.gobgp(&[
                    "global", "rib", "add", "-a", "ipv4", prefix, "nexthop", &nexthop,
                ]);
                assert!(added.is_some(), "gobgp could not add {prefix}");
            }
        }
        fixture
    }

    /// Kills the process (its sessions drop at once).
    pub fn kill(&mut self) {
        self.proc.stop(0);
    }

    /// Runs the `gobgp` CLI in the namespace; stdout when it succeeded.
    fn gobgp(&self, args: &[&str]) -> Option<String> {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "gobgp"])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }

    fn gobgp_json(&self, args: &[&str]) -> Value {
        self.gobgp(args)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    }
}

fn config(spec: &Spec) -> String {
    let Spec { addr, asn, role } = spec;
    let global = format!(
        "[global.config]\n  as = {asn}\n  router-id = \"{addr}\"\n  local-address-list = [\"{addr}\"]\n"
    );
    match role {
        Role::Leaf { rr, .. } => format!(
            "{global}[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{rr}\"\n    peer-as = {asn}\n  \
             [neighbors.timers.config]\n    connect-retry = 2\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        ),
        Role::Rr { range } => format!(
            "{global}[[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"LEAVES\"\n    peer-as = {asn}\n  \
             [peer-groups.route-reflector.config]\n    route-reflector-client = true\n    \
             route-reflector-cluster-id = \"{addr}\"\n  [[peer-groups.afi-safis]]\n    \
             [peer-groups.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n\
             [[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"{range}\"\n    peer-group = \"LEAVES\"\n"
        ),
    }
}

impl BgpDaemon for GoBgp {
    fn kind(&self) -> &'static str {
        "gobgp"
    }

    fn routes(&self) -> Vec<SeenRoute> {
        parse_rib_json(&self.gobgp_json(&["global", "rib", "-a", "ipv4", "-j"]))
    }

    fn established(&self) -> usize {
        // session_state 6 is Established in GoBGP's API.
        self.gobgp_json(&["neighbor", "-j"])
            .as_array()
            .map(|n| {
                n.iter()
                    .filter(|p| p["state"]["session_state"] == 6)
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Parses `gobgp global rib -a ipv4 -j`: the best received path of each prefix (local
/// paths have no `neighbor-ip`).
pub(crate) fn parse_rib_json(doc: &Value) -> Vec<SeenRoute> {
    let Some(rib) = doc.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (prefix, paths) in rib {
        let Some(paths) = paths.as_array() else {
            continue;
        };
        let Some(path) = paths
            .iter()
            .find(|p| p["best"] == true && p["neighbor-ip"].is_string())
        else {
            continue;
        };
        let attr = |t: u64| {
            path["attrs"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["type"] == t))
        };
        out.push(SeenRoute {
            prefix: prefix.clone(),
            next_hop: attr(3)
                .and_then(|a| a["nexthop"].as_str())
                .map(str::to_string),
            originator_id: attr(9)
                .and_then(|a| a["value"].as_str())
                .map(str::to_string),
            cluster_list: attr(10)
                .and_then(|a| a["value"].as_array())
                .map(|l| {
                    l.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_received_best_paths_only() {
        let doc: Value = serde_json::from_str(
            r#"{"198.18.11.1/32":[{"nlri":{"prefix":"198.18.11.1/32"},"best":true,
                 "attrs":[{"type":1,"value":0},{"type":3,"nexthop":"10.77.0.11"},
                 {"type":9,"value":"10.77.0.11"},{"type":10,"value":["10.77.0.1"]}],
                 "source-id":"10.77.0.1","neighbor-ip":"10.77.0.1"}],
               "198.18.12.1/32":[{"nlri":{"prefix":"198.18.12.1/32"},"best":true,
                 "attrs":[{"type":1,"value":2},{"type":3,"nexthop":"10.77.0.12"}]}]}"#,
        )
        .unwrap();
        let routes = parse_rib_json(&doc);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].originator_id.as_deref(), Some("10.77.0.11"));
        assert_eq!(routes[0].cluster_list, ["10.77.0.1"]);
        assert_eq!(routes[0].next_hop.as_deref(), Some("10.77.0.11"));
    }
}
