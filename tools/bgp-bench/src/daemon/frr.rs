//! FRR bgpd as route reflector: `bgpd -Z -n` (no zebra, no kernel) with
//! `bgp listen range`, in its own pathspace `/run/frr/<namespace>`.
//! Status: `vtysh -N <pathspace> -c 'show bgp ipv4 unicast summary json'`.

use std::process::Command;

use serde_json::Value;

use super::{Control, PeerStatus, RrSetup, RunningRr, status_output, write_config};
use crate::error::BenchError;
use crate::lab::{Proc, run};

/// Debian's path of bgpd.
pub(super) const BGPD: &str = "/usr/lib/frr/bgpd";

/// Starts bgpd as the route reflector.
pub(super) fn start(s: &RrSetup<'_>) -> Result<RunningRr, BenchError> {
    let pathspace = s.ns.name().to_string();
    let run_dir = std::path::PathBuf::from("/run/frr").join(&pathspace);
    crate::lab::create_dir(&run_dir)?;
    run(Command::new("chown")
        .arg("frr:frr")
        .arg("/run/frr")
        .arg(&run_dir))?;
    let (rr, range) = (s.rr, s.range);
    let limit = (s.max_peers + 16).max(100);
    let config = format!(
        "frr defaults traditional
hostname bgp-bench-rr
router bgp 65000
 bgp router-id {rr}
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp cluster-id {rr}
 neighbor LEAVES peer-group
 neighbor LEAVES remote-as internal
 bgp listen range {range} peer-group LEAVES
 bgp listen limit {limit}
 address-family ipv4 unicast
  neighbor LEAVES activate
  neighbor LEAVES route-reflector-client
 exit-address-family
"
    );
    let conf = s.dir.join("bgpd.conf");
    write_config(&conf, &config)?;
    let log = s.dir.join("bgpd.log");
    let mut cmd = s.ns.command(BGPD);
    cmd.args([
        "-N", &pathspace, "-Z", "-n", "-P", "0", "--log", "stdout", "-f",
    ])
    .arg(&conf)
    .arg("-i")
    .arg(run_dir.join("bgpd.pid"));
    let proc = Proc::spawn_logged(cmd, "bgpd", &log)?;
    Ok(RunningRr {
        kind: super::DaemonKind::Frr,
        proc,
        control: Control::Frr { pathspace },
        log,
        cleanup_dir: Some(run_dir),
    })
}

/// Parses the summary JSON: per peer `state` and `pfxRcd`.
pub(super) fn parse_summary(text: &str) -> Result<Vec<PeerStatus>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {}", text.trim()))?;
    let peers = v
        .get("peers")
        .or_else(|| v.get("ipv4Unicast").and_then(|u| u.get("peers")))
        .and_then(Value::as_object);
    let Some(peers) = peers else {
        // No peer yet: bgpd answers `{}`.
        return Ok(Vec::new());
    };
    Ok(peers
        .iter()
        .map(|(addr, p)| PeerStatus {
            addr: addr.trim_start_matches('*').parse().ok(),
            established: p.get("state").and_then(Value::as_str) == Some("Established"),
            received: p.get("pfxRcd").and_then(Value::as_u64).unwrap_or(0),
        })
        .collect())
}

pub(super) fn poll(pathspace: &str) -> Result<Vec<PeerStatus>, BenchError> {
    let text = status_output(
        "frr",
        Command::new("vtysh")
            .args(["-N", pathspace, "-c", "show bgp ipv4 unicast summary json"])
            .stderr(std::process::Stdio::null()),
    )?;
    parse_summary(&text).map_err(|detail| BenchError::Status {
        daemon: "frr".into(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_summary_json() {
        let text = r#"{"routerId":"198.18.0.1","as":65000,"peers":{
            "198.18.0.11":{"remoteAs":65000,"state":"Established","pfxRcd":1000,"dynamicPeer":true},
            "198.18.0.12":{"remoteAs":65000,"state":"Active","pfxRcd":0}}}"#;
        let p = parse_summary(text).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p[0].established && p[0].received == 1000);
        assert_eq!(p[1].addr, Some("198.18.0.12".parse().unwrap()));
        assert!(!p[1].established);
        assert_eq!(parse_summary("{}").unwrap(), vec![]);
        assert!(parse_summary("% unknown command").is_err());
    }
}
