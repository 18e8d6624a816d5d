//! ExaBGP as an announcing leaf: static routes from its config, next hop its own address.
//! It keeps no RIB to query, so tests check what the others learned from it.

use std::path::PathBuf;

use super::{Role, Spec, write_config};
use crate::netns::{Netns, Proc};

/// An exabgp process in a namespace.
#[derive(Debug)]
pub struct ExaBgp {
    proc: Proc,
    /// Its log file.
    pub log: PathBuf,
}

impl ExaBgp {
    /// Writes the config for a leaf `spec` into `dir` and starts exabgp in `ns` (as root,
    /// without its CLI FIFOs). Panics for an RR spec: ExaBGP does not reflect.
    pub fn start(ns: &Netns, dir: PathBuf, spec: &Spec) -> ExaBgp {
        let Role::Leaf { rr, announce } = &spec.role else {
            panic!("ExaBGP fixture is a leaf only");
        };
        let addr = spec.addr;
        let asn = spec.asn;
        let routes: String = announce
            .iter()
            .map(|p| format!("        route {p} next-hop {addr};\n"))
            .collect();
        let conf = dir.join("exabgp.conf");
        write_config(
            &conf,
            &format!(
                "neighbor {rr} {{\n    router-id {addr};\n    local-address {addr};\n    \
                 local-as {asn};\n    peer-as {asn};\n    family {{\n        ipv4 unicast;\n    }}\n    \
                 static {{\n{routes}    }}\n}}\n"
            ),
        );
        let log = dir.join("exabgp.log");
        let conf_s = conf.to_string_lossy().to_string();
        let proc = ns.spawn(
            "env",
            &[
                "exabgp.daemon.user=root",
                "exabgp.daemon.drop=false",
                "exabgp.api.cli=false",
                "exabgp.log.destination=stdout",
                "exabgp.log.level=WARNING",
                "exabgp",
                &conf_s,
            ],
            &log,
        );
        ExaBgp { proc, log }
    }

    /// Kills the process (its session drops at once).
    pub fn kill(&mut self) {
        self.proc.stop(0);
    }
}
