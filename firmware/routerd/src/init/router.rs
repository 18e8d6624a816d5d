//! The entry point PID 1 runs on a provisioned device: the router itself.
//!
//! Order: mount the state partition ([`super::state::mount`]) -> read the applied-serial
//! record (the anti-rollback floor) -> verify the config from the config partition
//! ([`super::config_load::load_verified`]) -> map it ([`crate::router_config::from_verified`])
//! with the SAM state directory on the state partition -> record the serial as applied ->
//! run the daemon's event loop ([`crate::daemon::run`]) until SIGTERM/SIGINT (the power
//! button becomes SIGTERM), which closes every BGP session with a Cease NOTIFICATION.
//!
//! Outcomes: an orderly stop is [`Outcome::Stopped`] (power off); a config that maps to
//! nothing runnable is [`Outcome::Refused`]; a failed start step is [`Outcome::Fatal`]
//! (logged, then a delayed reboot). Console markers: `routerd: router starting mode=M
//! serial=N`, `routerd: router stopped`, plus the daemon's log lines (stderr is the
//! console), e.g. `peer state peer=A state=Established`.

use super::{BootContext, Outcome, config_load, console, state};
use crate::router_config;

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
    if let Err(e) = state::record_applied(&state_dir, verified.serial()) {
        console(&format!(
            "cannot record serial {} as applied in {}: {e}; continuing (rollback floor unchanged)",
            verified.serial(),
            state_dir.path.display()
        ));
    }
    crate::init_logging();
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
    match runtime.block_on(crate::daemon::run(router, crate::shutdown_signal())) {
        Ok(()) => {
            console("router stopped");
            Outcome::Stopped
        }
        Err(e) => Outcome::Fatal(format!("router failed to start: {e}")),
    }
}
