//! routerd as route reflector: `routerd run --config rr.toml --api 127.0.0.1:7179` with a
//! dynamic range for the benchmark's peers (RR clients, no policy, no SAM) and
//! `kernel_table = 0` (no kernel routes), like the other daemons, which run without kernel sync. Status:
//! `GET /v1/peers`, fetched from inside the namespace by the benchmark's own
//! `agent http-get`.

use std::net::SocketAddr;

use serde_json::Value;

use super::{Control, PeerStatus, RrSetup, RunningRr, status_output, write_config};
use crate::error::BenchError;
use crate::lab::Proc;

/// Where routerd's status API listens inside the namespace.
const API: &str = "127.0.0.1:7179";

/// The route-reflector config for the benchmark: a plain BGP route reflector (no `[sam]`
/// sections) that accepts any peer of the benchmark's range as a route-reflector client
/// without policy, and leaves the kernel's routing tables alone.
pub(super) fn config(s: &RrSetup<'_>) -> String {
    let rr = s.rr;
    let range = s.range;
    let max_peers = (s.max_peers + 16).clamp(16, 4096);
    let state = s.dir.join("state");
    let state = state.display();
    format!(
        r#"# bgp-bench route reflector (development config, never signed)
# RFC 8032 test vector 1 public key: no blob signed by it is ever used.
trusted_keys = ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]
state_dir = "{state}"

[node]
name = "bench-rr"
mode = "rr"
router_id = "{rr}"
asn = 65000
board = "dev"

[bgp]
listen_addresses = ["{rr}"]
cluster_id = "{rr}"
kernel_table = 0

[[bgp.dynamic]]
prefix = "{range}"
max_peers = {max_peers}
template = {{ remote_as = 65000, rr_client = true }}
"#
    )
}

/// Starts routerd as the route reflector.
pub(super) fn start(s: &RrSetup<'_>) -> Result<RunningRr, BenchError> {
    let conf = s.dir.join("routerd.toml");
    std::fs::create_dir_all(s.dir.join("state"))
        .map_err(BenchError::io("create routerd state dir"))?;
    write_config(&conf, &config(s))?;
    let log = s.dir.join("routerd.log");
    let mut cmd = s.ns.command(s.routerd);
    cmd.arg("run")
        .arg("--config")
        .arg(&conf)
        .args(["--api", API]);
    let proc = Proc::spawn_logged(cmd, "routerd", &log)?;
    let api: SocketAddr = API
        .parse()
        .map_err(|_| BenchError::Usage("bad API address".into()))?;
    Ok(RunningRr {
        kind: super::DaemonKind::Routerd,
        proc,
        control: Control::Routerd {
            ns: s.ns.name().to_string(),
            api,
        },
        log,
        cleanup_dir: None,
    })
}

/// Parses `/v1/peers`: `{"peers": [{"address", "state", "received", ...}]}`.
pub(super) fn parse_peers(text: &str) -> Result<Vec<PeerStatus>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {}", text.trim()))?;
    let Some(list) = v.get("peers").and_then(Value::as_array) else {
        return Err(format!("no peers list: {}", text.trim()));
    };
    Ok(list
        .iter()
        .map(|p| PeerStatus {
            addr: p
                .get("address")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok()),
            established: p.get("state").and_then(Value::as_str) == Some("Established"),
            received: p.get("received").and_then(Value::as_u64).unwrap_or(0),
        })
        .collect())
}

pub(super) fn poll(ns: &str, api: SocketAddr) -> Result<Vec<PeerStatus>, BenchError> {
    let exe = std::env::current_exe().map_err(BenchError::io("find the benchmark's own binary"))?;
    let text = status_output(
        "routerd",
        std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args([
                "agent",
                "http-get",
                "--addr",
                &api.to_string(),
                "--path",
                "/v1/peers",
            ]),
    )?;
    parse_peers(&text).map_err(|detail| BenchError::Status {
        daemon: "routerd".into(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peer_list() {
        let text = r#"{"peers":[{"address":"198.18.0.11","state":"Established","received":42,
            "accepted":42,"rejected":[],"advertised":0,"uptime_secs":3,"remote_as":65000,
            "dynamic":"198.18.0.0/16","last_error":null}]}"#;
        let p = parse_peers(text).unwrap();
        assert_eq!(p.len(), 1);
        assert!(p[0].established && p[0].received == 42);
        assert!(parse_peers("{}").is_err());
    }
}
