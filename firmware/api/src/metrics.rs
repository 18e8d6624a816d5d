//! `/metrics`: the snapshot in the Prometheus text exposition format (version 0.0.4).
//!
//! Built from one [`Snapshot`] at request time, O(peers): routerd-wide gauges, one
//! series per peer and counter, and refusals by reason. Label values are escaped as the
//! format requires (`\`, `"`, newline).

use std::fmt::Write as _;
use std::time::Instant;

use crate::{ESTABLISHED, PeerSnapshot, Snapshot};

/// One per-peer value.
type PeerValue = fn(&PeerSnapshot) -> u64;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `snapshot` as of `now`.
pub fn render(snapshot: &Snapshot, now: Instant) -> String {
    let status = snapshot.status(now);
    let peers = snapshot.peer_list(now).peers;
    let mut out = String::new();
    let info = format!(
        "{{version=\"{}\",mode=\"{}\",router_id=\"{}\",local_as=\"{}\"}} 1",
        escape(&status.version),
        escape(&status.mode),
        status.router_id,
        status.local_as
    );
    for (name, help, sample) in [
        (
            "routerd_info",
            "Version, mode and identity of this router.",
            info,
        ),
        (
            "routerd_uptime_seconds",
            "Seconds since routerd started.",
            format!(" {}", status.uptime_secs),
        ),
        (
            "routerd_config_serial",
            "Serial of the running config blob (0: development config).",
            format!(" {}", status.config_serial),
        ),
        (
            "routerd_loc_rib_routes",
            "Prefixes in the Loc-RIB.",
            format!(" {}", status.loc_rib_routes),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{sample}"
        );
    }

    let per_peer: [(&str, &str, PeerValue); 5] = [
        (
            "routerd_peer_established",
            "1 while the session is Established.",
            |p| u64::from(p.state == ESTABLISHED),
        ),
        (
            "routerd_peer_uptime_seconds",
            "Seconds in Established.",
            |p| p.uptime_secs,
        ),
        (
            "routerd_peer_prefixes_received",
            "Prefixes in the peer's Adj-RIB-In.",
            |p| p.received,
        ),
        (
            "routerd_peer_prefixes_accepted",
            "Prefixes accepted by import policy.",
            |p| p.accepted,
        ),
        (
            "routerd_peer_prefixes_advertised",
            "Prefixes advertised to the peer.",
            |p| p.advertised,
        ),
    ];
    for (name, help, value) in per_peer {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for p in &peers {
            let _ = writeln!(out, "{name}{{peer=\"{}\"}} {}", p.address, value(p));
        }
    }
    let name = "routerd_peer_prefixes_rejected";
    let _ = writeln!(
        out,
        "# HELP {name} Prefixes rejected, by reason.\n# TYPE {name} gauge"
    );
    for p in &peers {
        for r in &p.rejected {
            let _ = writeln!(
                out,
                "{name}{{peer=\"{}\",reason=\"{}\"}} {}",
                p.address,
                escape(&r.reason),
                r.count
            );
        }
    }
    let name = "routerd_refused_connections_total";
    let _ = writeln!(
        out,
        "# HELP {name} Incoming BGP connections refused, by reason.\n# TYPE {name} counter"
    );
    for r in &status.refused_connections {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            escape(&r.reason),
            r.count
        );
    }
    out
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectCount;

    #[test]
    fn every_peer_and_reason_becomes_a_series() {
        let now = Instant::now();
        let snapshot = Snapshot {
            version: "0.1.0".into(),
            mode: "rr".into(),
            router_id: "192.0.2.1".parse().unwrap(),
            local_as: 65000,
            config: String::new(),
            config_serial: 4,
            uptime_secs: 7,
            loc_rib_routes: 6,
            peers: vec![PeerSnapshot {
                address: "192.0.2.11".parse().unwrap(),
                remote_as: Some(65000),
                state: ESTABLISHED.into(),
                dynamic: None,
                uptime_secs: 3,
                received: 3,
                accepted: 2,
                rejected: vec![RejectCount {
                    reason: "say \"no\"".into(),
                    count: 1,
                }],
                advertised: 4,
                last_error: None,
            }],
            refused_connections: vec![RejectCount {
                reason: "range-full".into(),
                count: 2,
            }],
            sam: None,
            config_trial: None,
            taken_at: Some(now),
        };
        let text = render(&snapshot, now);
        for line in [
            "routerd_loc_rib_routes 6",
            "routerd_config_serial 4",
            "routerd_peer_established{peer=\"192.0.2.11\"} 1",
            "routerd_peer_prefixes_received{peer=\"192.0.2.11\"} 3",
            "routerd_peer_prefixes_accepted{peer=\"192.0.2.11\"} 2",
            "routerd_peer_prefixes_advertised{peer=\"192.0.2.11\"} 4",
            "routerd_peer_prefixes_rejected{peer=\"192.0.2.11\",reason=\"say \\\"no\\\"\"} 1",
            "routerd_refused_connections_total{reason=\"range-full\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Every sample line belongs to a family declared before it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split_whitespace().next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(declared.iter().any(|d| d == name), "undeclared {name}");
            }
        }
    }
}
