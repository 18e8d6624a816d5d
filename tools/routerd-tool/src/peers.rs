//! `routerd-tool peers`: per-peer BGP state and prefix counts of a running router.
//!
//! Reads `/v1/peers` of the router's API. Prints a table by default and the API's JSON
//! with `--json`. Exit codes: 0 answered, 1 router unreachable or answered an error,
//! 2 usage (bad URL, unreadable token file).

use api::PeerList;

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
    show(&args.api, args.json, |c| c.peers(), render_table)
}

/// The human table: one line per peer.
pub(crate) fn render_table(list: &PeerList) -> String {
    let header = [
        "PEER",
        "AS",
        "STATE",
        "UPTIME",
        "RECEIVED",
        "ACCEPTED",
        "REJECTED",
        "ADVERTISED",
    ];
    let rows: Vec<[String; 8]> = list
        .peers
        .iter()
        .map(|p| {
            let peer = match &p.dynamic {
                Some(range) => format!("{} ({range})", p.address),
                None => p.address.to_string(),
            };
            [
                peer,
                p.remote_as
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
                p.state.clone(),
                format_uptime(p.uptime_secs),
                p.received.to_string(),
                p.accepted.to_string(),
                p.rejected.iter().map(|r| r.count).sum::<u64>().to_string(),
                p.advertised.to_string(),
            ]
        })
        .collect();
    // Text columns left-aligned, counts right-aligned.
    let mut out = crate::table::render(header, true, &rows, &[4, 5, 6, 7]);
    if rows.is_empty() {
        out.push_str("(no peers)\n");
    }
    out
}

/// `0s`, `59s`, `1m05s`, `2h03m`, `3d04h`.
fn format_uptime(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{PeerSnapshot, RejectCount};

    #[test]
    fn table_lists_every_peer_with_counts() {
        let list = PeerList {
            peers: vec![
                PeerSnapshot {
                    address: "192.0.2.11".parse().unwrap(),
                    remote_as: Some(65000),
                    state: "Established".into(),
                    dynamic: Some("leaves".into()),
                    uptime_secs: 65,
                    received: 2,
                    accepted: 1,
                    rejected: vec![RejectCount {
                        reason: "prefix-list".into(),
                        count: 1,
                    }],
                    advertised: 4,
                    last_error: None,
                },
                PeerSnapshot {
                    address: "192.0.2.12".parse().unwrap(),
                    remote_as: None,
                    state: "Active".into(),
                    dynamic: None,
                    uptime_secs: 0,
                    received: 0,
                    accepted: 0,
                    rejected: vec![],
                    advertised: 0,
                    last_error: Some("connection refused".into()),
                },
            ],
        };
        let table = render_table(&list);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("PEER"));
        let first: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            first,
            [
                "192.0.2.11",
                "(leaves)",
                "65000",
                "Established",
                "1m05s",
                "2",
                "1",
                "1",
                "4"
            ]
        );
        let second: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            second,
            ["192.0.2.12", "-", "Active", "0s", "0", "0", "0", "0"]
        );
        assert_eq!(
            render_table(&PeerList { peers: vec![] }).lines().nth(1),
            Some("(no peers)")
        );
    }

    #[test]
    fn uptime_is_compact() {
        assert_eq!(format_uptime(59), "59s");
        assert_eq!(format_uptime(3599), "59m59s");
        assert_eq!(format_uptime(7380), "2h03m");
        assert_eq!(format_uptime(273600), "3d04h");
    }
}
