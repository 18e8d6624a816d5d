//! The entry point PID 1 runs on a provisioned device: the router itself.
//!
//! Order: mount the state partition ([`super::state::mount`]) -> read the applied-serial
//! record (the anti-rollback floor) -> verify the config from the config partition
//! ([`super::config_load::load_verified`]) -> map it ([`crate::router_config::from_verified`])
//! with the SAM state directory on the state partition, forwarding on and reverse-path
//! filtering loose, interfaces managed and config
//! pushes written to the config partition -> record the serial as applied ->
//! run the daemon's event loop ([`crate::daemon::run`]) until SIGTERM/SIGINT (the power
//! button becomes SIGTERM), which closes every BGP session with a Cease NOTIFICATION.
//!
//! Outcomes: an orderly stop is [`Outcome::Stopped`] (power off); a config that maps to
//! nothing runnable is [`Outcome::Refused`]; a failed start step is [`Outcome::Fatal`]
//! (logged, then a delayed reboot), except a missing underlay link, which is retried in
//! place (`routerd: router waiting: ...`). Console markers: `routerd: router starting mode=M
//! serial=N`, `routerd: router stopped`, plus the daemon's log lines (stderr is the
//! console), e.g. `peer state peer=A state=Established`.

use std::time::Duration;

use super::{BootContext, Outcome, config_load, console, state};
use crate::config_push::PushContext;
use crate::daemon::StartError;
use crate::interfaces::InterfacesError;
use crate::router_config::{self, RouterConfig};

/// Time between start attempts while the underlay link is missing.
const MISSING_LINK_RETRY: Duration = Duration::from_secs(10);

/// Runs the router from the verified config until a shutdown request.
pub(crate) fn entry(ctx: &BootContext) -> Outcome {
    let state_dir = state::mount(ctx);
    let floor = state::applied_serial(&state_dir);
    let verified = match config_load::load_verified(ctx, floor) {
        Ok(v) => v,
        Err(outcome) => return outcome,
    };
    let mut router = match router_config::from_verified(&verified) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    if let Some(sam) = router.sam.as_mut() {
        sam.state_dir = Some(state_dir.path.clone());
    }
    router.manage_interfaces = true;
    router.push = ctx.config_partition.clone().map(|device| {
        PushContext::for_partition(
            verified.clone(),
            ctx.board.clone(),
            device,
            state_dir.serial_record(),
        )
    });
    if let Err(e) = state::record_applied(&state_dir, verified.serial()) {
        console(&format!(
            "cannot record serial {} as applied in {}: {e}; continuing (rollback floor unchanged)",
            verified.serial(),
            state_dir.path.display()
        ));
    }
    crate::init_logging();
    forwarding();
    console(&format!(
        "router starting mode={} serial={} state={}",
        router.mode.as_str(),
        verified.serial(),
        if state_dir.persistent {
            "persistent"
        } else {
            "memory"
        }
    ));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Outcome::Fatal(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(run_until_shutdown(router))
}

/// A router forwards: IPv4 forwarding on; reverse-path filtering loose on every
/// interface (`default` = 2, `all` = 0 so that the per-interface value decides), which
/// drops spoofed sources without breaking the asymmetric paths of tunnels.
fn forwarding() {
    use kernel::sysctl::{RpFilter, set_ip_forward, set_rp_filter};
    let steps = [
        ("ip forwarding", set_ip_forward(true)),
        (
            "rp_filter default=loose",
            set_rp_filter("default", RpFilter::Loose),
        ),
        ("rp_filter all=off", set_rp_filter("all", RpFilter::Off)),
    ];
    for (step, result) in steps {
        if let Err(e) = result {
            console(&format!("cannot set {step}: {e}; continuing"));
        }
    }
}

/// Runs the daemon; while the underlay link is missing (a NIC not yet probed, a cable
/// or driver problem) retries every [`MISSING_LINK_RETRY`] instead of rebooting, so a
/// shutdown request is still obeyed and there is no reboot loop.
async fn run_until_shutdown(router: RouterConfig) -> Outcome {
    let mut shutdown = std::pin::pin!(crate::shutdown_signal());
    let mut reported = false;
    loop {
        match crate::daemon::run(router.clone(), &mut shutdown).await {
            Ok(()) => {
                console("router stopped");
                return Outcome::Stopped;
            }
            Err(StartError::Interfaces(e @ InterfacesError::Missing { .. })) => {
                if !reported {
                    console(&format!(
                        "router waiting: {e}; retrying every {} s",
                        MISSING_LINK_RETRY.as_secs()
                    ));
                    reported = true;
                }
                tokio::select! {
                    () = &mut shutdown => {
                        console("router stopped before it started");
                        return Outcome::Stopped;
                    }
                    () = tokio::time::sleep(MISSING_LINK_RETRY) => {}
                }
            }
            Err(e) => return Outcome::Fatal(format!("router failed to start: {e}")),
        }
    }
}
