//! FRR's bgpd alone (`-Z -n`: no zebra, no kernel routes) as a leaf (`network`
//! statements) or as an RR (`bgp listen range`). Its per-namespace pathspace (`-N`) keeps
//! the vty sockets of parallel tests apart; `vtysh -N` reads them without entering the
//! namespace.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{BgpDaemon, Role, SeenRoute, Spec, write_config};
use crate::netns::{Netns, Proc};

/// A bgpd process in a namespace.
#[derive(Debug)]
pub struct Frr {
    proc: Proc,
    pathspace: String,
    run_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
}

impl Frr {
    /// Writes `bgpd.conf` for `spec` into `dir` and starts bgpd in `ns`.
    pub fn start(ns: &Netns, dir: PathBuf, spec: &Spec) -> Frr {
        let pathspace = ns.name().to_string();
        let run_dir = PathBuf::from("/run/frr").join(&pathspace);
        std::fs::create_dir_all(&run_dir).expect("create /run/frr/<ns>");
        let _ = Command::new("chown")
            .args(["frr:frr", "/run/frr"])
            .arg(&run_dir)
            .status();
        let conf = dir.join("bgpd.conf");
        write_config(&conf, &config(spec));
        let log = dir.join("bgpd.log");
        let conf_s = conf.to_string_lossy().to_string();
        let pid_s = run_dir.join("bgpd.pid").to_string_lossy().to_string();
        let proc = ns.spawn(
            "/usr/lib/frr/bgpd",
            &[
                "-N", &pathspace, "-Z", "-n", "-f", &conf_s, "-i", &pid_s, "--log", "stdout",
            ],
            &log,
        );
        Frr {
            proc,
            pathspace,
            run_dir,
            log,
        }
    }

    /// Kills the process (its sessions drop at once).
    pub fn kill(&mut self) {
        self.proc.stop(0);
    }

    fn vtysh_json(&self, command: &str) -> Value {
        let out = Command::new("vtysh")
            .args(["-N", &self.pathspace, "-c", command])
            .output();
        out.ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.proc.stop(0);
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

fn config(spec: &Spec) -> String {
    let Spec { addr, asn, role } = spec;
    let head = format!(
        "frr defaults traditional\nhostname r{}\nrouter bgp {asn}\n bgp router-id {addr}\n \
         no bgp ebgp-requires-policy\n no bgp network import-check\n",
        addr.octets()[3]
    );
    match role {
        Role::Leaf { rr, announce } => {
            let networks: String = announce
                .iter()
                .map(|p| format!("  network {p}\n"))
                .collect();
            format!(
                "{head} neighbor {rr} remote-as internal\n neighbor {rr} timers connect 2\n \
                 address-family ipv4 unicast\n{networks}  neighbor {rr} activate\n exit-address-family\n"
            )
        }
        Role::Rr { range } => format!(
            "{head} bgp cluster-id {addr}\n neighbor LEAVES peer-group\n neighbor LEAVES remote-as internal\n \
             bgp listen range {range} peer-group LEAVES\n bgp listen limit 1000\n \
             address-family ipv4 unicast\n  neighbor LEAVES activate\n  neighbor LEAVES route-reflector-client\n \
             exit-address-family\n"
        ),
    }
}

impl BgpDaemon for Frr {
    fn kind(&self) -> &'static str {
        "frr"
    }

    fn routes(&self) -> Vec<SeenRoute> {
        parse_detail_json(&self.vtysh_json("show bgp ipv4 unicast json detail"))
    }

    fn established(&self) -> usize {
        let summary = self.vtysh_json("show bgp ipv4 unicast summary json");
        summary["peers"]
            .as_object()
            .map(|peers| {
                peers
                    .values()
                    .filter(|p| p["state"] == "Established")
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Parses `show bgp ipv4 unicast json detail`: the best received path of each prefix
/// (locally originated paths, marked `sourced`, are left out).
pub(crate) fn parse_detail_json(doc: &Value) -> Vec<SeenRoute> {
    let Some(routes) = doc["routes"].as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (prefix, entries) in routes {
        let Some(entries) = entries.as_array() else {
            continue;
        };
        let best = entries.iter().find(|p| {
            p["bestpath"]["overall"] == true
                && p["sourced"] != true
                && p["peer"]["peerId"].is_string()
        });
        let Some(path) = best else { continue };
        out.push(SeenRoute {
            prefix: prefix.clone(),
            next_hop: path["nexthops"][0]["ip"].as_str().map(str::to_string),
            originator_id: path["originatorId"].as_str().map(str::to_string),
            cluster_list: path["clusterList"]["list"]
                .as_array()
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
            r#"{"routes": {
              "198.18.11.1/32": [{"prefix":"198.18.11.1/32","version":1},
                {"valid":true,"sourced":true,"local":true,"bestpath":{"overall":true},
                 "nexthops":[{"ip":"0.0.0.0"}],"peer":{"peerId":"0.0.0.0"}}],
              "198.18.12.1/32": [{"prefix":"198.18.12.1/32","version":5},
                {"valid":true,"bestpath":{"overall":true},"originatorId":"10.77.0.12",
                 "clusterList":{"list":["10.77.0.1"]},"nexthops":[{"ip":"10.77.0.12"}],
                 "peer":{"peerId":"10.77.0.1"}}]}}"#,
        )
        .unwrap();
        let routes = parse_detail_json(&doc);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].prefix, "198.18.12.1/32");
        assert_eq!(routes[0].next_hop.as_deref(), Some("10.77.0.12"));
        assert_eq!(routes[0].originator_id.as_deref(), Some("10.77.0.12"));
        assert_eq!(routes[0].cluster_list, ["10.77.0.1"]);
        assert!(parse_detail_json(&Value::Null).is_empty());
    }
}
