//! `routerd-tool tunnels`: the SAM tunnels of a running router.
//!
//! Reads `/v1/tunnels`: one line per remote peer with its device, endpoint, WireGuard
//! handshake age and byte counters. A table by default, the API's JSON with `--json`.
//! Exit codes: 0 answered, 1 the router is unreachable, has no `[sam]` section or answered
//! an error, 2 usage.

use api::sam::TunnelList;

use crate::status::{ApiArgs, show};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    show(&args.api, args.json, |c| c.tunnels(), render_table)
}

/// The human table: the datapath, then one line per tunnel.
pub(crate) fn render_table(list: &TunnelList) -> String {
    let header = [
        "DEVICE",
        "PEER",
        "TUNNEL",
        "WIREGUARD",
        "ENDPOINT",
        "HANDSHAKE",
        "RX",
        "TX",
        "ERROR",
    ];
    let rows: Vec<[String; 9]> = list
        .tunnels
        .iter()
        .map(|t| {
            [
                t.device.clone(),
                t.peer.clone(),
                t.peer_tunnel_address.clone(),
                t.peer_wireguard_address
                    .clone()
                    .unwrap_or_else(|| "-".into()),
                t.endpoint.clone().unwrap_or_else(|| "-".into()),
                t.handshake_age_secs
                    .map(|s| format!("{s}s ago"))
                    .unwrap_or_else(|| "never".into()),
                t.rx_bytes.to_string(),
                t.tx_bytes.to_string(),
                t.error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = format!("datapath {}\n", list.datapath);
    // Byte counters right-aligned, the rest left-aligned.
    out.push_str(&crate::table::render(header, true, &rows, &[6, 7]));
    if rows.is_empty() {
        out.push_str("(no tunnels)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::sam::TunnelView;

    #[test]
    fn one_line_per_tunnel_with_handshake_age_and_counters() {
        let list = TunnelList {
            datapath: "userspace".into(),
            tunnels: vec![TunnelView {
                device: "sam0".into(),
                peer: "site-a".into(),
                peer_tunnel_address: "203.0.113.11".into(),
                peer_wireguard_address: Some("10.98.0.11".into()),
                datapath: "userspace".into(),
                endpoint: Some("192.0.2.11:51820".into()),
                handshake_age_secs: Some(7),
                rx_bytes: 1200,
                tx_bytes: 34,
                error: None,
            }],
        };
        let text = render_table(&list);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "datapath userspace");
        assert!(lines[1].starts_with("DEVICE"));
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "sam0",
                "site-a",
                "203.0.113.11",
                "10.98.0.11",
                "192.0.2.11:51820",
                "7s",
                "ago",
                "1200",
                "34",
                "-"
            ]
        );
        let empty = TunnelList {
            datapath: "kernel".into(),
            tunnels: vec![],
        };
        assert!(render_table(&empty).ends_with("(no tunnels)\n"));
    }
}
