//! GoBGP as route reflector (`dynamic-neighbors` on a peer group). Its gRPC API listens
//! on 127.0.0.1:50051 inside the namespace, so status is `ip netns exec NS gobgp
//! neighbor -j`.

use std::process::Command;

use serde_json::Value;

use super::{Control, PeerStatus, RrSetup, RunningRr, status_output, write_config};
use crate::error::BenchError;
use crate::lab::Proc;

/// Starts gobgpd as the route reflector.
pub(super) fn start(s: &RrSetup<'_>) -> Result<RunningRr, BenchError> {
    let (rr, range) = (s.rr, s.range);
    let config = format!(
        r#"[global.config]
  as = 65000
  router-id = "{rr}"
  local-address-list = ["{rr}"]
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "LEAVES"
    peer-as = 65000
  [peer-groups.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "{rr}"
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "{range}"
    peer-group = "LEAVES"
"#
    );
    let conf = s.dir.join("gobgpd.toml");
    write_config(&conf, &config)?;
    let log = s.dir.join("gobgpd.log");
    let mut cmd = s.ns.command("gobgpd");
    cmd.arg("-f").arg(&conf).arg("--log-level=warn");
    let proc = Proc::spawn_logged(cmd, "gobgpd", &log)?;
    Ok(RunningRr {
        kind: super::DaemonKind::Gobgp,
        proc,
        control: Control::Gobgp {
            ns: s.ns.name().to_string(),
        },
        log,
        cleanup_dir: None,
    })
}

fn is_established(state: Option<&Value>) -> bool {
    match state {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("established"),
        // The protobuf enum value of ESTABLISHED.
        Some(Value::Number(n)) => n.as_u64() == Some(6),
        _ => false,
    }
}

/// Parses `gobgp neighbor -j`.
pub(super) fn parse_neighbors(text: &str) -> Result<Vec<PeerStatus>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {}", text.trim()))?;
    let Some(list) = v.as_array() else {
        return if v.is_null() {
            Ok(Vec::new())
        } else {
            Err(format!("not a list: {text}"))
        };
    };
    Ok(list
        .iter()
        .map(|p| {
            let received = p
                .get("afi_safis")
                .and_then(Value::as_array)
                .map(|fams| {
                    fams.iter()
                        .filter_map(|f| f.pointer("/state/received").and_then(Value::as_u64))
                        .sum()
                })
                .unwrap_or(0);
            PeerStatus {
                addr: p
                    .pointer("/conf/neighbor_address")
                    .or_else(|| p.pointer("/state/neighbor_address"))
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse().ok()),
                established: is_established(p.pointer("/state/session_state")),
                received,
            }
        })
        .collect())
}

pub(super) fn poll(ns: &str) -> Result<Vec<PeerStatus>, BenchError> {
    let text = status_output(
        "gobgp",
        Command::new("ip").args(["netns", "exec", ns, "gobgp", "neighbor", "-j"]),
    )?;
    parse_neighbors(&text).map_err(|detail| BenchError::Status {
        daemon: "gobgp".into(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_neighbor_json() {
        let text = r#"[{"conf":{"neighbor_address":"198.18.0.11","peer_asn":65000},
            "state":{"session_state":6},
            "afi_safis":[{"state":{"family":{"afi":1,"safi":1},"received":300,"accepted":300}}]},
            {"conf":{"neighbor_address":"198.18.0.12"},"state":{"session_state":"active"}}]"#;
        let p = parse_neighbors(text).unwrap();
        assert!(p[0].established && p[0].received == 300);
        assert!(!p[1].established && p[1].received == 0);
        assert_eq!(parse_neighbors("null").unwrap(), vec![]);
    }
}
