//! Signed config push in try mode (`POST /v1/config`, `POST /v1/config/confirm`).
//!
//! Contract, in call order:
//! 1. [`ConfigPush::push`] verifies the blob exactly as at boot ([`config::verify`] with
//!    the running config's [`config::Verified::next_trust`], this device's board and the
//!    running serial as the rollback floor) and refuses a config whose `[api]` section
//!    would no longer bind the address the push came in on (`409`, nothing changes: the
//!    refusal is immediate rather than an automatic revert). On success it returns the
//!    new [`RouterConfig`]; the daemon applies [`changes`] to the speaker and the push
//!    waits for its confirm until the deadline (`try_revert_secs` of the new config).
//! 2. [`ConfigPush::confirm`] writes the blob to the [`ConfigStore`] (a blob file replaced
//!    atomically, or the older slot of the image's config partition) and then the
//!    applied-serial record ([`config::serial_record`]); the pushed config becomes the
//!    trust base of the next push. Nothing is written before a confirm; a failed write
//!    leaves the trial running (confirm again, or let it revert).
//! 3. Without a confirm, [`ConfigPush::due_revert`] (polled by the daemon) returns the
//!    previous [`RouterConfig`] once the deadline passed; the daemon applies [`changes`]
//!    back to it.
//!
//! Only one push is tried at a time: a second push before the confirm or the revert is
//! refused (`409`). A router running a development config (no signature, no trust set)
//! refuses pushes. Changes the daemon cannot make live (BGP identity, listen addresses,
//! kernel table, SAM, the API's binds and credentials, removed dynamic ranges) are listed
//! in the answer and take effect at the next start of a confirmed config.

mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use api::config_push::{ConfigTrial, Confirmed, PushAccepted, PushRefused};
use bgp::speaker::Input;
use bgp::wire::{Origin, PathAttributes};
use config::{Config, Verified};

use crate::router_config::{RouterConfig, from_verified};

pub(crate) use store::ConfigStore;

/// Revert delay when the pushed config has no `[api]` section.
const DEFAULT_TRY_REVERT: Duration = Duration::from_secs(120);

/// What a push needs of the running config.
#[derive(Debug, Clone)]
pub(crate) struct PushContext {
    /// The running, confirmed config: its `trusted_keys` verify the next blob.
    pub(crate) current: Verified<Config>,
    /// This device's board string.
    pub(crate) board: String,
    /// Where a confirmed config is written.
    pub(crate) store: ConfigStore,
}

impl PushContext {
    /// Push support for a router booted from its config partition (an image): a confirmed
    /// config goes into the older slot of `device`, its serial into `serial_record` on
    /// the state partition.
    pub(crate) fn for_partition(
        current: Verified<Config>,
        board: String,
        device: PathBuf,
        serial_record: PathBuf,
    ) -> PushContext {
        PushContext {
            current,
            board,
            store: ConfigStore::Partition {
                device,
                serial_record,
            },
        }
    }
}

/// A pushed config waiting for its confirm.
#[derive(Debug)]
struct Trial {
    verified: Verified<Config>,
    blob: Vec<u8>,
    previous: RouterConfig,
    deadline: Instant,
}

/// The try-mode state machine.
#[derive(Debug)]
pub(crate) struct ConfigPush {
    context: Option<PushContext>,
    trial: Option<Trial>,
}

fn refused(status: u16, error: impl Into<String>, hint: impl Into<String>) -> PushRefused {
    PushRefused {
        status,
        error: error.into(),
        hint: hint.into(),
    }
}

/// True when one of `binds` accepts connections on `addr` (the same address, or a
/// wildcard of the same family and port).
fn binds_cover(binds: &[SocketAddr], addr: SocketAddr) -> bool {
    binds.iter().any(|b| {
        *b == addr
            || (b.port() == addr.port() && b.ip().is_unspecified() && b.is_ipv4() == addr.is_ipv4())
    })
}

impl ConfigPush {
    /// Push support for a router started from a signed config; `None`: pushes are refused.
    pub(crate) fn new(context: Option<PushContext>) -> ConfigPush {
        ConfigPush {
            context,
            trial: None,
        }
    }

    /// Verifies `blob` and, when it may run, returns its [`RouterConfig`] with the answer
    /// (whose `not_applied_live` the daemon fills in). `running` is the config in use.
    pub(crate) fn push(
        &mut self,
        blob: Vec<u8>,
        arrived_on: Option<SocketAddr>,
        running: &RouterConfig,
        now: Instant,
    ) -> Result<(RouterConfig, PushAccepted), PushRefused> {
        let Some(context) = &self.context else {
            return Err(refused(
                409,
                "this router runs an unsigned development config: there is no trust set to verify a push against",
                "start routerd from a signed blob (routerd run --config-blob B --trust K)",
            ));
        };
        if let Some(trial) = &self.trial {
            return Err(refused(
                409,
                format!(
                    "serial {} is being tried and waits for its confirm",
                    trial.verified.serial()
                ),
                "POST /v1/config/confirm to keep it, or wait for its revert, then push again",
            ));
        }
        let current = &context.current;
        let verified = config::verify(
            &blob,
            &current.next_trust(),
            &context.board,
            current.serial(),
            false,
        )
        .map_err(|e| {
            refused(
                422,
                format!("config refused: {e}"),
                "fix the config or its signature with routerd-tool provision and push again",
            )
        })?;
        let (try_revert, api_binds) = match &verified.api {
            Some(api) => (
                Duration::from_secs(u64::from(api.try_revert_secs)),
                Some(api.bind.clone()),
            ),
            None => (DEFAULT_TRY_REVERT, None),
        };
        if let Some(addr) = arrived_on
            && !api_binds.is_some_and(|binds| binds_cover(&binds, addr))
        {
            return Err(refused(
                409,
                format!(
                    "the pushed config's [api] section does not bind {addr}, where this push came in: it would cut off its own confirm"
                ),
                format!(
                    "keep {addr} in api.bind (it may be removed by a later push that arrives on another address)"
                ),
            ));
        }
        let new = from_verified(&verified).map_err(|e| {
            refused(
                422,
                format!("config cannot run here: {e}"),
                "fix the config and push again",
            )
        })?;
        let accepted = PushAccepted {
            serial: verified.serial(),
            previous_serial: current.serial(),
            reverts_in_secs: try_revert.as_secs(),
            not_applied_live: Vec::new(),
        };
        self.trial = Some(Trial {
            verified,
            blob,
            previous: running.clone(),
            deadline: now + try_revert,
        });
        Ok((new, accepted))
    }

    /// Keeps the config being tried: writes it to the store, makes it the trust base.
    pub(crate) fn confirm(&mut self) -> Result<Confirmed, PushRefused> {
        let (Some(context), Some(trial)) = (&mut self.context, &self.trial) else {
            return Err(refused(
                409,
                "no pushed config is waiting for a confirm",
                "push a config first (POST /v1/config); GET /v1/status shows the running serial",
            ));
        };
        let serial = trial.verified.serial();
        let written_to = context.store.write(&trial.blob, serial).map_err(|e| {
            refused(
                500,
                format!("cannot write the confirmed config: {e}"),
                "the config keeps running until its revert; free space or fix permissions and confirm again",
            )
        })?;
        if let Some(trial) = self.trial.take() {
            context.current = trial.verified;
        }
        Ok(Confirmed { serial, written_to })
    }

    /// The config to return to, once the trial's deadline passed without a confirm.
    pub(crate) fn due_revert(&mut self, now: Instant) -> Option<RouterConfig> {
        if self.trial.as_ref().is_some_and(|t| now >= t.deadline) {
            return self.trial.take().map(|t| t.previous);
        }
        None
    }

    /// The trial as snapshots show it.
    pub(crate) fn trial_view(&self, now: Instant) -> Option<ConfigTrial> {
        let context = self.context.as_ref()?;
        self.trial.as_ref().map(|t| ConfigTrial {
            serial: t.verified.serial(),
            previous_serial: context.current.serial(),
            reverts_in_secs: t.deadline.saturating_duration_since(now).as_secs(),
        })
    }
}

/// The speaker inputs that move a running router from `old` to `new` (peers, dynamic
/// ranges, originated prefixes), and a line for each change that waits for a restart.
/// Peers and ranges are compared by their full settings (a changed peer is removed and
/// added again, so its session restarts).
pub(crate) fn changes(
    old: &RouterConfig,
    new: &RouterConfig,
) -> (Vec<Input<'static>>, Vec<String>) {
    let mut inputs = Vec::new();
    let mut later = Vec::new();
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");

    for peer in &old.peers {
        let kept = new
            .peers
            .iter()
            .any(|p| p.remote == peer.remote && same(p, peer));
        if !kept {
            inputs.push(Input::RemovePeer(peer.remote));
        }
    }
    for peer in &new.peers {
        if !old
            .peers
            .iter()
            .any(|p| p.remote == peer.remote && same(p, peer))
        {
            inputs.push(Input::AddPeer(peer.clone()));
        }
    }
    for range in &new.ranges {
        match old.ranges.iter().find(|r| r.prefix == range.prefix) {
            None => inputs.push(Input::AddRange(range.clone())),
            Some(r) if !same(r, range) => later.push(format!(
                "dynamic range {} changed: its admitted peers keep the old settings until the next start",
                range.prefix
            )),
            Some(_) => {}
        }
    }
    for range in &old.ranges {
        if !new.ranges.iter().any(|r| r.prefix == range.prefix) {
            later.push(format!(
                "dynamic range {} removed: it admits peers until the next start",
                range.prefix
            ));
        }
    }
    for prefix in &old.announce {
        if !new.announce.contains(prefix) {
            inputs.push(Input::Withdraw(*prefix));
        }
    }
    for prefix in &new.announce {
        if !old.announce.contains(prefix) {
            let attrs = PathAttributes {
                origin: Some(Origin::Igp),
                ..PathAttributes::default()
            };
            inputs.push(Input::Announce {
                prefix: *prefix,
                attrs,
            });
        }
    }
    if !same(&old.speaker, &new.speaker) {
        later.push(
            "bgp identity (asn, router id, cluster id, multipath) changes at the next start".into(),
        );
    }
    if old.listen != new.listen {
        later.push("bgp listen addresses change at the next start".into());
    }
    if old.fib != new.fib {
        later.push("kernel table settings change at the next start".into());
    }
    if old.api != new.api {
        later.push("api binds and credentials change at the next start".into());
    }
    if !same(&old.sam, &new.sam) {
        later.push("sam settings change at the next start".into());
    }
    if old.mode != new.mode {
        later.push("mode changes at the next start".into());
    }
    if old.manage_interfaces && !same(&old.interfaces, &new.interfaces) {
        later.push("interfaces (names, addresses, MTU, DHCP) change at the next start".into());
    }
    (inputs, later)
}

#[cfg(test)]
mod partition_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_covers_its_port_only() {
        let addr: SocketAddr = "192.0.2.1:7179".parse().unwrap();
        assert!(binds_cover(&[addr], addr));
        assert!(binds_cover(&["0.0.0.0:7179".parse().unwrap()], addr));
        assert!(!binds_cover(&["0.0.0.0:7180".parse().unwrap()], addr));
        assert!(!binds_cover(&["[::]:7179".parse().unwrap()], addr));
        assert!(!binds_cover(&["192.0.2.9:7179".parse().unwrap()], addr));
        assert!(!binds_cover(&[], addr));
    }

    fn leaf_with_address(address: &str) -> RouterConfig {
        let text = format!(
            r#"trusted_keys = ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]
[node]
name = "l"
mode = "leaf"
router_id = "192.0.2.2"
asn = 65000
board = "pve-x86_64"
[[interfaces]]
name = "wan0"
role = "underlay"
addresses = ["{address}"]
"#
        );
        let path = std::env::temp_dir().join(format!(
            "push-changes-{}-{}.toml",
            std::process::id(),
            address.replace(['/', '.'], "-")
        ));
        std::fs::write(&path, text).unwrap();
        let config = crate::router_config::load_config(
            &crate::router_config::ConfigSource::TomlFile(path.clone()),
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        config
    }

    #[test]
    fn changed_interfaces_are_reported_for_the_next_start() {
        let mut old = leaf_with_address("192.0.2.2/24");
        let mut new = leaf_with_address("192.0.2.3/24");
        let (_, later) = changes(&old, &new);
        assert!(
            !later.iter().any(|l| l.contains("interfaces")),
            "unmanaged interfaces are not this router's business: {later:?}"
        );
        old.manage_interfaces = true;
        new.manage_interfaces = true;
        let (_, later) = changes(&old, &new);
        assert!(later.iter().any(|l| l.contains("interfaces")), "{later:?}");
        let (_, later) = changes(&old, &old.clone());
        assert!(!later.iter().any(|l| l.contains("interfaces")), "{later:?}");
    }
}
