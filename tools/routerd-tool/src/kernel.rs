//! `routerd-tool kernel`: what a running router's own kernel forwards with.
//!
//! Reads `/v1/kernel` (routerd's rtnetlink read of its kernel, at most ~1 s old): the
//! `proto bgp` routes with their next hops and devices, the connected routes, and the
//! links with their kinds. A listing by default, the API's JSON with `--json`.
//! Exit codes: 0 answered, 1 the router is unreachable, installs no kernel routes or
//! answered an error, 2 usage.

use std::fmt::Write as _;

use api::kernel::{KernelRoute, KernelView};

use crate::status::{ApiArgs, show};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON instead of a listing.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    show(&args.api, args.json, |c| c.kernel(), render)
}

/// One route as `PREFIX via GW dev DEV [onlink]`, next hops joined by `; `.
fn route_line(route: &KernelRoute) -> String {
    let hops: Vec<String> = route
        .next_hops
        .iter()
        .map(|h| {
            let mut text = String::new();
            if let Some(via) = h.via {
                let _ = write!(text, "via {via} ");
            }
            let _ = write!(text, "dev {}", h.device.as_deref().unwrap_or("-"));
            if h.onlink {
                text.push_str(" onlink");
            }
            text
        })
        .collect();
    format!("  {} {}\n", route.prefix, hops.join("; "))
}

/// The human listing: BGP routes, connected routes, links.
pub(crate) fn render(view: &KernelView) -> String {
    let mut out = format!(
        "table {} proto {}: {} routes (read at unix time {})\n",
        view.table,
        view.protocol,
        view.routes.len(),
        view.read_at_unix_secs
    );
    if let Some(e) = &view.error {
        let _ = writeln!(out, "  last read failed: {e}");
    }
    view.routes
        .iter()
        .for_each(|r| out.push_str(&route_line(r)));
    let _ = writeln!(out, "connected: {} routes", view.connected.len());
    view.connected
        .iter()
        .for_each(|r| out.push_str(&route_line(r)));
    let _ = writeln!(out, "links: {}", view.links.len());
    for l in &view.links {
        let _ = writeln!(
            out,
            "  {:>3} {} {} {}",
            l.index,
            l.name,
            l.operstate,
            l.kind.as_deref().unwrap_or("-")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::kernel::{KernelLink, KernelNextHop};

    #[test]
    fn routes_connected_and_links_are_listed() {
        let view = KernelView {
            table: 254,
            protocol: 186,
            read_at_unix_secs: 1_800_000_000,
            routes: vec![KernelRoute {
                prefix: "10.20.2.10/32".into(),
                next_hops: vec![KernelNextHop {
                    via: Some("100.64.0.1".parse().unwrap()),
                    device: Some("sam0".into()),
                    onlink: true,
                }],
            }],
            connected: vec![KernelRoute {
                prefix: "10.20.1.0/24".into(),
                next_hops: vec![KernelNextHop {
                    via: None,
                    device: Some("lan0".into()),
                    onlink: false,
                }],
            }],
            links: vec![KernelLink {
                index: 4,
                name: "sam0".into(),
                operstate: "up".into(),
                kind: Some("ipip".into()),
            }],
            error: Some("route dump failed".into()),
        };
        let text = render(&view);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "table 254 proto 186: 1 routes (read at unix time 1800000000)",
                "  last read failed: route dump failed",
                "  10.20.2.10/32 via 100.64.0.1 dev sam0 onlink",
                "connected: 1 routes",
                "  10.20.1.0/24 dev lan0",
                "links: 1",
                "    4 sam0 up ipip",
            ]
        );
    }
}
