//! routerd as PID 1: the duties of init on the firmware image.
//!
//! Call order (from `main` when `std::process::id() == 1`):
//! 1. [`main`] with the daemon's entry point. It runs [`boot`] (mounts /proc, /sys, /dev,
//!    /run, /tmp; loads the modules in the initramfs load order with `finit_module`; sets the
//!    host name; finds the `routerd-config` and `routerd-state` partitions by GPT name),
//!    starts the child reaper and the power-button watcher, then calls the entry point
//!    with the [`BootContext`].
//! 2. The entry point calls [`config_load::load_verified`] (config partition -> newest
//!    slot -> signature, board -> `routerd: config verified serial=N`, host name from the
//!    config; an `Err` is already the [`Outcome`] to return), then runs the router until
//!    SIGTERM/SIGINT (the power button is turned into SIGTERM) and returns an [`Outcome`].
//!    [`router::entry`] is that entry point (state partition, config, daemon).
//! 3. [`main`] never returns: `Stopped` powers off; `NoConfig` and `Refused` print a
//!    clear console message and wait for provisioning or a shutdown signal (no crash
//!    loop); `Fatal` logs and reboots after a delay.
//!
//! Console markers (tests wait on them): `routerd: init complete ...`,
//! `routerd: config verified serial=N board=B`, `routerd: no config ...`,
//! `routerd: config refused: ...`, `routerd: powering off`,
//! `routerd: rebooting in N s: ...`.
//!
//! Invariant: SIGTERM and SIGINT stay blocked in every thread init starts, so that the
//! kernel queues them for PID 1 instead of dropping them (init ignores signals it has
//! no handler for); the entry point runs with them unblocked so its own handlers work.

mod cmdline;
pub(crate) mod config_load;
mod modules;
mod partitions;
mod power_button;
pub(crate) mod router;
mod selftest;
pub(crate) mod state;
mod sys;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use cmdline::Cmdline;
pub(crate) use modules::ModuleReport;

/// GPT name of the config partition (from the image layout).
pub(crate) const CONFIG_PARTITION: &str = image_builder::layout::CONFIG_NAME;
/// GPT name of the state partition (from the image layout).
pub(crate) const STATE_PARTITION: &str = image_builder::layout::STATE_NAME;

/// What init found while booting.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "fields are for the daemon's entry point")]
pub(crate) struct BootContext {
    /// Host name set at boot (from `routerd.hostname=` or the board name).
    pub(crate) hostname: String,
    /// Board name from the initramfs (`/etc/routerd/board`), `unknown` if absent.
    pub(crate) board: String,
    /// Kernel release (`uname -r`).
    pub(crate) kernel_release: String,
    /// `routerd.*` kernel command line options.
    pub(crate) cmdline: Cmdline,
    /// Block device of the config partition (two slots; see `image_builder::layout`).
    pub(crate) config_partition: Option<PathBuf>,
    /// Block device of the state partition (raw region for persistent records).
    pub(crate) state_partition: Option<PathBuf>,
    /// Module loading results.
    pub(crate) modules: ModuleReport,
}

/// How the router's entry point ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A shutdown was requested and done in order: power off.
    Stopped,
    /// Neither config slot holds a config: wait for provisioning.
    NoConfig,
    /// The config was refused (bad signature, invalid, older serial...): the reason.
    Refused(String),
    /// Something that cannot be retried in place: reboot after a delay.
    Fatal(String),
}

/// Writes one line to the console (stdout of PID 1 is `/dev/console`), prefixed `routerd: `.
pub(crate) fn console(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "routerd: {line}");
    let _ = out.flush();
}

/// Performs the boot duties and returns what was found. Never fails: problems are
/// reported on the console and show up as missing fields.
pub(crate) fn boot() -> BootContext {
    const NOSUID_NODEV_NOEXEC: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let mounts: [(&str, &str, &str, libc::c_ulong, &str); 5] = [
        ("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, ""),
        ("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC, ""),
        ("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            "mode=0755",
        ),
        (
            "tmpfs",
            "/tmp",
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            "mode=1777",
        ),
    ];
    for (source, target, fstype, flags, data) in mounts {
        if let Err(e) = sys::mount(source, target, fstype, flags, data) {
            console(&format!("mount {target} failed: {e}"));
        }
    }
    let cmdline = Cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let kernel_release = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    let board = read_trimmed("/etc/routerd/board").unwrap_or_else(|| "unknown".into());
    let modules = modules::load_all(Path::new("/"), modules::LOAD_ORDER);
    let hostname = cmdline
        .get("hostname")
        .map(str::to_string)
        .unwrap_or_else(|| format!("routerd-{board}"));
    if let Err(e) = sys::sethostname(&hostname) {
        console(&format!("cannot set host name {hostname:?}: {e}"));
    }
    if let Err(e) = sys::ctrl_alt_del_to_signal() {
        console(&format!("cannot route ctrl-alt-del to a signal: {e}"));
    }
    let sys_block = Path::new("/sys/class/block");
    let wait = Duration::from_secs(3);
    let config_partition = partitions::find_by_name(sys_block, CONFIG_PARTITION, wait);
    let state_partition = partitions::find_by_name(sys_block, STATE_PARTITION, Duration::ZERO);
    let show = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("none".to_string(), |p| p.display().to_string())
    };
    console(&format!(
        "init complete board={board} kernel={kernel_release} modules={} failed={} config={} state={}",
        modules.loaded,
        modules.failed.len(),
        show(&config_partition),
        show(&state_partition)
    ));
    BootContext {
        hostname,
        board,
        kernel_release,
        cmdline,
        config_partition,
        state_partition,
        modules,
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Reaps exited children (zombies re-parented to PID 1). Called periodically by the
/// reaper thread [`main`] starts; safe to call at any time.
pub(crate) fn reap_children() -> usize {
    sys::reap_all()
}

/// Powers the machine off after syncing. Never returns (reboots if power-off fails).
pub(crate) fn power_off() -> ! {
    console("powering off");
    let err = sys::reboot(true);
    delayed_reboot(&format!("power off failed: {err}"))
}

/// Restarts the machine at once after syncing.
pub(crate) fn reboot() -> ! {
    console("rebooting");
    let err = sys::reboot(false);
    console(&format!("reboot failed: {err}; halting here"));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Logs a fatal error, waits `routerd.reboot_delay` seconds (default 10) and reboots.
pub(crate) fn delayed_reboot(reason: &str) -> ! {
    let delay = Cmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default())
        .get("reboot_delay")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10u64);
    console(&format!("rebooting in {delay} s: {reason}"));
    std::thread::sleep(Duration::from_secs(delay));
    reboot()
}

/// Runs routerd as PID 1: boot, then `entry`, then act on its [`Outcome`]. Never returns.
pub(crate) fn main(entry: impl FnOnce(&BootContext) -> Outcome) -> ! {
    let signals = match sys::block_signals() {
        Ok(set) => set,
        Err(e) => delayed_reboot(&format!("cannot block signals: {e}")),
    };
    let ctx = boot();
    spawn_helpers();
    if let Some(test) = ctx.cmdline.get("selftest") {
        let outcome = selftest::run(test);
        finish(outcome, &signals);
    }
    if let Err(e) = sys::unblock_signals(&signals) {
        delayed_reboot(&format!("cannot unblock signals: {e}"));
    }
    let outcome = entry(&ctx);
    if let Err(e) = sys::block_signals() {
        console(&format!("cannot block signals again: {e}"));
    }
    finish(outcome, &signals)
}

fn finish(outcome: Outcome, signals: &libc::sigset_t) -> ! {
    match outcome {
        Outcome::Stopped => power_off(),
        Outcome::Fatal(reason) => delayed_reboot(&reason),
        Outcome::NoConfig => console(&format!(
            "no config in partition {CONFIG_PARTITION}; waiting for provisioning \
             (write a signed config with routerd-tool provision, then restart)"
        )),
        Outcome::Refused(reason) => console(&format!(
            "config refused: {reason}; waiting for a valid config (not restarting)"
        )),
    }
    loop {
        if let Some(sig) = sys::wait_signal(signals, 60_000) {
            console(&format!("signal {sig} received, shutting down"));
            power_off();
        }
    }
}

fn spawn_helpers() {
    let reaper = std::thread::Builder::new().name("reaper".into()).spawn(|| {
        loop {
            reap_children();
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    if let Err(e) = reaper {
        console(&format!("cannot start the child reaper: {e}"));
    }
    power_button::spawn_watchers();
}
