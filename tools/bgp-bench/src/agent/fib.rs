//! routerd's FIB path: on `go`, installs N /32s into one table through
//! `kernel::Fib::apply_blocking` (batched netlink), then reads the table back to check
//! that the kernel holds them. The route changes are built before the clock starts.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use kernel::{Device, Fib, NextHop, PROTOCOL_BGP, RouteChange};

use super::{AgentError, Command, control, say};
use crate::prefixes::host_routes;

/// Runs the FIB install once, then waits for the parent to close stdin.
pub(super) async fn run(
    routes: usize,
    table: u32,
    via: Ipv4Addr,
    dev: &str,
) -> Result<(), AgentError> {
    let mut commands = control();
    let hop = NextHop {
        via: Some(IpAddr::V4(via)),
        dev: Some(Device::Name(dev.to_string())),
        onlink: false,
    };
    let changes: Vec<RouteChange> = host_routes(routes)
        .into_iter()
        .map(|p| RouteChange::Replace {
            prefix: p.net().into(),
            next_hops: vec![hop.clone()],
        })
        .collect();
    let fib = Fib::new(table)?;
    say("ready");
    loop {
        match commands.recv().await {
            Some(Command::Go) => {
                let start = Instant::now();
                let report = fib.apply_blocking(&changes);
                let secs = start.elapsed().as_secs_f64();
                let installed = fib.routes_blocking(table, PROTOCOL_BGP)?.len();
                let first_error = report
                    .failed
                    .first()
                    .map(|(p, e)| format!(" first_error={p}:{}", e.to_string().replace(' ', "_")))
                    .unwrap_or_default();
                say(&format!(
                    "done secs={secs:.6} applied={} failed={} installed={installed}{}",
                    report.applied,
                    report.failed.len(),
                    first_error
                ));
            }
            Some(Command::Report) => {}
            None => return Ok(()),
        }
    }
}
