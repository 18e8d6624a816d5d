//! `routerd-tool routes --prefix P`: every path a running router holds for one prefix,
//! best first, with the decision step at which each other path lost.
//!
//! Exit codes: 0 the router holds at least one path, 1 it holds none (or is unreachable
//! or answered an error), 2 usage.

use std::fmt::Write as _;

use api::routes::RouteView;

use crate::status::{ApiArgs, connect, exit_code};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// The prefix, e.g. 198.51.100.11/32.
    #[arg(long, value_name = "PREFIX")]
    prefix: String,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    let client = match connect(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.routes(&args.prefix) {
        Ok(view) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view).unwrap_or_default()
                );
            } else {
                print!("{}", render(&view));
            }
            if view.paths.is_empty() { 1 } else { 0 }
        }
        Err(e) => exit_code(&e),
    }
}

/// The text form: the prefix, then one line per path (`*` marks the best).
pub(crate) fn render(view: &RouteView) -> String {
    let mut out = format!("{}\n", view.prefix);
    if view.paths.is_empty() {
        out.push_str("  (no path)\n");
    }
    for p in &view.paths {
        let from = p
            .from
            .map(|a| a.to_string())
            .unwrap_or_else(|| "local".into());
        let next_hop = p
            .next_hop
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let as_path = if p.as_path.is_empty() {
            "(empty)"
        } else {
            &p.as_path
        };
        let _ = write!(
            out,
            "  {} from {from}  next-hop {next_hop}  as-path {as_path}",
            if p.best { "*" } else { " " }
        );
        if let Some(lp) = p.local_pref {
            let _ = write!(out, "  local-pref {lp}");
        }
        if let Some(med) = p.med {
            let _ = write!(out, "  med {med}");
        }
        if !p.communities.is_empty() {
            let _ = write!(out, "  communities {}", p.communities.join(","));
        }
        if let Some(o) = p.originator_id {
            let _ = write!(out, "  originator {o}");
        }
        if !p.cluster_list.is_empty() {
            let list: Vec<String> = p.cluster_list.iter().map(|c| c.to_string()).collect();
            let _ = write!(out, "  cluster-list {}", list.join(","));
        }
        if let Some(step) = &p.lost_at {
            let _ = write!(out, "  (lost at {step})");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::routes::PathView;

    fn path(from: &str, best: bool, lost_at: Option<&str>) -> PathView {
        PathView {
            from: Some(from.parse().unwrap()),
            best,
            lost_at: lost_at.map(str::to_string),
            next_hop: Some(from.parse().unwrap()),
            as_path: String::new(),
            local_pref: Some(100),
            med: None,
            communities: vec!["65000:7".into()],
            originator_id: Some("192.0.2.11".parse().unwrap()),
            cluster_list: vec!["192.0.2.1".parse().unwrap()],
        }
    }

    #[test]
    fn best_path_first_and_losers_say_why() {
        let view = RouteView {
            prefix: "198.51.100.11/32".into(),
            paths: vec![
                path("192.0.2.11", true, None),
                path("192.0.2.12", false, Some("router-id")),
            ],
        };
        let text = render(&view);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "198.51.100.11/32");
        assert!(lines[1].starts_with("  * from 192.0.2.11  next-hop 192.0.2.11  as-path (empty)"));
        assert!(lines[1].contains("originator 192.0.2.11  cluster-list 192.0.2.1"));
        assert!(
            lines[2].starts_with("    from 192.0.2.12")
                && lines[2].ends_with("(lost at router-id)")
        );
        let empty = RouteView {
            prefix: "203.0.113.0/24".into(),
            paths: vec![],
        };
        assert_eq!(render(&empty), "203.0.113.0/24\n  (no path)\n");
    }
}
