//! `routerd-tool routes`: the routes of a running router.
//!
//! - `routes --prefix P`: every path the router holds for exactly `P`, best first, with
//!   the decision step at which each other path lost. Exit codes: 0 the router holds at
//!   least one path, 1 it holds none (or is unreachable or answered an error), 2 usage.
//! - `routes [--within P] [--limit N] [--after A] [--all]`: the best path of every prefix
//!   (inside `P`), one page of `N` at a time in the router's stable order; `--all` follows
//!   the pages to the end. Exit codes: 0 answered, 1 unreachable or error, 2 usage.

use std::fmt::Write as _;

use api::routes::{ListedRoute, RouteListing, RouteView};

use crate::status::{ApiArgs, connect, exit_code};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// Explain exactly this prefix (every path, why the others lost), e.g. 198.51.100.11/32.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["within", "after", "limit", "all"])]
    prefix: Option<String>,
    /// List only prefixes inside this one (itself included), e.g. 10.20.0.0/16.
    #[arg(long, value_name = "PREFIX")]
    within: Option<String>,
    /// List prefixes after this one: the `next` printed at the end of the previous page.
    #[arg(long, value_name = "PREFIX")]
    after: Option<String>,
    /// Prefixes per page (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Follow the pages to the end instead of printing one page.
    #[arg(long)]
    all: bool,
    /// Print the API's JSON instead of text (with --all: one JSON page per line).
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    let client = match connect(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(prefix) = &args.prefix else {
        return list(&client, &args);
    };
    match client.routes(prefix) {
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

/// Lists one page, or every page with `--all`.
fn list(client: &api::client::Client, args: &Args) -> i32 {
    let mut after = args.after.clone();
    let mut first = true;
    loop {
        let page =
            match client.routes_page(args.within.as_deref(), after.as_deref(), args.limit.into()) {
                Ok(page) => page,
                Err(e) => return exit_code(&e),
            };
        if args.json {
            let text = if args.all {
                serde_json::to_string(&page)
            } else {
                serde_json::to_string_pretty(&page)
            };
            println!("{}", text.unwrap_or_default());
        } else {
            print!("{}", render_page(&page, first, args.all));
        }
        first = false;
        match page.next {
            Some(next) if args.all => after = Some(next),
            _ => return 0,
        }
    }
}

/// The text form of a page: a table (with its header on the first page), then where the
/// next page starts unless every page is being printed.
pub(crate) fn render_page(page: &RouteListing, header: bool, all: bool) -> String {
    let row = |r: &ListedRoute| {
        let b = &r.best;
        [
            r.prefix.clone(),
            b.next_hop
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            b.from
                .map(|a| a.to_string())
                .unwrap_or_else(|| "local".into()),
            b.local_pref
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            if b.as_path.is_empty() {
                "(empty)".into()
            } else {
                b.as_path.clone()
            },
        ]
    };
    let rows: Vec<[String; 5]> = page.routes.iter().map(row).collect();
    let titles = ["PREFIX", "NEXT-HOP", "FROM", "LOCAL-PREF", "AS-PATH"];
    let mut out = crate::table::render(titles, header, &rows, &[3]);
    if header && rows.is_empty() {
        out.push_str("(no routes)\n");
    }
    if let (Some(next), false) = (&page.next, all) {
        let _ = writeln!(out, "more: --after {next}");
    }
    out
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

    #[test]
    fn pages_are_tables_that_say_where_the_next_one_starts() {
        let page = RouteListing {
            routes: vec![
                ListedRoute {
                    prefix: "10.20.0.0/24".into(),
                    best: path("192.0.2.11", true, None),
                },
                ListedRoute {
                    prefix: "10.20.1.0/24".into(),
                    best: path("192.0.2.12", true, None),
                },
            ],
            next: Some("10.20.1.0/24".into()),
        };
        let text = render_page(&page, true, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            header,
            ["PREFIX", "NEXT-HOP", "FROM", "LOCAL-PREF", "AS-PATH"]
        );
        let row: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            row,
            ["10.20.1.0/24", "192.0.2.12", "192.0.2.12", "100", "(empty)"]
        );
        assert_eq!(lines[3], "more: --after 10.20.1.0/24");
        // Following every page: no header after the first, no cursor line.
        let rest = render_page(&page, false, true);
        assert_eq!(rest.lines().count(), 2, "{rest}");
        let empty = RouteListing {
            routes: vec![],
            next: None,
        };
        assert!(render_page(&empty, true, false).ends_with("(no routes)\n"));
    }
}
