//! BIRD 2 as a leaf (static blackhole routes exported with next-hop self) or as an RR
//! (`neighbor range` dynamic peers, `rr client`).

use std::path::PathBuf;
use std::process::Command;

use super::{BgpDaemon, Role, SeenRoute, Spec, write_config};
use crate::netns::{Netns, Proc};

/// A BIRD process in a namespace.
#[derive(Debug)]
pub struct Bird {
    proc: Proc,
    ctl: PathBuf,
    /// Its log file.
    pub log: PathBuf,
}

impl Bird {
    /// Writes the config for `spec` into `dir` and starts `bird -f` in `ns`.
    pub fn start(ns: &Netns, dir: PathBuf, spec: &Spec) -> Bird {
        let conf = dir.join("bird.conf");
        write_config(&conf, &config(spec));
        let ctl = dir.join("bird.ctl");
        let log = dir.join("bird.log");
        let conf_s = conf.to_string_lossy().to_string();
        let ctl_s = ctl.to_string_lossy().to_string();
        let pid_s = dir.join("bird.pid").to_string_lossy().to_string();
        let proc = ns.spawn(
            "bird",
            &["-f", "-c", &conf_s, "-s", &ctl_s, "-P", &pid_s],
            &log,
        );
        Bird { proc, ctl, log }
    }

    /// Kills the process (its sessions drop at once).
    pub fn kill(&mut self) {
        self.proc.stop(0);
    }

    fn birdc(&self, args: &[&str]) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.ctl)
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    }
}

fn config(spec: &Spec) -> String {
    let Spec { addr, asn, role } = spec;
    let common = format!("router id {addr};\nprotocol device {{ scan time 10; }}\n");
    match role {
        Role::Leaf { rr, announce } => {
            let routes: String = announce
                .iter()
                .map(|p| format!("  route {p} blackhole;\n"))
                .collect();
            format!(
                "{common}protocol static st {{\n  ipv4;\n{routes}}}\n\
                 protocol bgp rrpeer {{\n  local {addr} as {asn};\n  neighbor {rr} as {asn};\n  direct;\n  \
                 connect retry time 2;\n  connect delay time 1;\n  error wait time 1, 10;\n  \
                 ipv4 {{ import all; export where source = RTS_STATIC; next hop self; gateway direct; }};\n}}\n"
            )
        }
        Role::Rr { range } => format!(
            "{common}template bgp LEAVES {{\n  local {addr} as {asn};\n  direct;\n  rr client;\n  \
             rr cluster id {addr};\n  ipv4 {{ import all; export all; gateway direct; }};\n}}\n\
             protocol bgp dyn from LEAVES {{\n  neighbor range {range} internal;\n  dynamic name \"leaf\";\n}}\n"
        ),
    }
}

impl BgpDaemon for Bird {
    fn kind(&self) -> &'static str {
        "bird"
    }

    fn routes(&self) -> Vec<SeenRoute> {
        parse_show_route_all(&self.birdc(&["show", "route", "all"]))
    }

    fn established(&self) -> usize {
        self.birdc(&["show", "protocols"])
            .lines()
            .filter(|l| l.contains(" BGP ") && l.trim_end().ends_with("Established"))
            .count()
    }
}

/// Parses `birdc show route all`: BGP routes only (static ones have no `BGP.` lines).
pub(crate) fn parse_show_route_all(text: &str) -> Vec<SeenRoute> {
    let mut routes = Vec::new();
    let mut current: Option<(SeenRoute, bool)> = None;
    for line in text.lines() {
        let is_route_line = !line.starts_with(char::is_whitespace)
            && line
                .split_whitespace()
                .next()
                .is_some_and(|w| w.contains('/'));
        if is_route_line {
            if let Some((route, true)) = current.take() {
                routes.push(route);
            }
            let prefix = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            current = Some((
                SeenRoute {
                    prefix,
                    next_hop: None,
                    originator_id: None,
                    cluster_list: Vec::new(),
                },
                false,
            ));
            continue;
        }
        let Some((route, is_bgp)) = current.as_mut() else {
            continue;
        };
        let line = line.trim();
        if let Some(v) = line.strip_prefix("BGP.next_hop:") {
            route.next_hop = Some(v.trim().to_string());
            *is_bgp = true;
        } else if let Some(v) = line.strip_prefix("BGP.originator_id:") {
            route.originator_id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("BGP.cluster_list:") {
            route.cluster_list = v.split_whitespace().map(str::to_string).collect();
        } else if line.starts_with("Type: BGP") {
            *is_bgp = true;
        }
    }
    if let Some((route, true)) = current {
        routes.push(route);
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bgp_routes_and_skips_static_ones() {
        let text = "BIRD 2.0.12 ready.\nTable master4:\n\
198.18.11.1/32       unicast [rrpeer 15:04:55.330 from 10.77.0.1] * (100) [i]\n\
\tvia 10.77.0.11 on eth0\n\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: \n\
\tBGP.next_hop: 10.77.0.11\n\tBGP.local_pref: 100\n\tBGP.originator_id: 10.77.0.11\n\
\tBGP.cluster_list: 10.77.0.1\n\
198.18.13.1/32       blackhole [st 15:04:50.305] * (200)\n\tType: static univ\n\
198.18.12.2/32       unicast [rrpeer 15:04:55.332 from 10.77.0.1] * (100) [?]\n\
\tType: BGP univ\n\tBGP.next_hop: 10.77.0.12\n";
        let routes = parse_show_route_all(text);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].prefix, "198.18.11.1/32");
        assert_eq!(routes[0].originator_id.as_deref(), Some("10.77.0.11"));
        assert_eq!(routes[0].cluster_list, ["10.77.0.1"]);
        assert_eq!(routes[1].prefix, "198.18.12.2/32");
        assert_eq!(routes[1].originator_id, None);
    }
}
