//! The running routers of the qemu flavour: one QEMU guest per router (TCG, `-cpu max`
//! for RDRAND, 224 MiB, direct kernel boot of the run's image with the router's own disk
//! attached in place), NICs on taps of the `vm` namespace (see [`super::guest_lab`]),
//! serial console into `logs/<node>.log`. No user-mode networking: every NIC is a tap.
//!
//! The demo reads each guest only through its API (the RR's on its underlay address from
//! the `vm` namespace, each leaf's on its LAN address from the site's client namespace);
//! kernel routes come from `GET /v1/kernel`. The RR is killed by PID (SIGKILL to QEMU: a
//! power cut, as the netns flavour's SIGKILL) and started again from the same disk, whose
//! state partition kept its registry.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image_builder::guest::{self, Arch, Boot, DiskMode, GuestSpec, tap_nics};

use super::Progress;
use super::evidence::RunDir;
use super::guest_disks::GuestImage;
use super::guest_lab::{GuestTopology, lan_tap, wan_tap};
use super::kernel_agreement::{KERNEL_VIEW, leaf_kernel_from_view, rr_kernel_from_view};
use super::lab::Lab;
use super::netns::DemoError;
use super::observe::{ApiAt, LeafKernel, NodeDocs, Observation, Observer};
use super::persisted::EnrollmentState;
use super::phases::{FabricParts, Routers};
use super::plan::{self, GUEST_API_PORT, RR_UNDERLAY, SITES};

/// RAM of each guest in MiB.
pub(crate) const GUEST_MIB: u32 = 224;
/// How long the fabric may take to converge: five TCG guests booting at once on a loaded
/// 2-core machine, then enrollment, WireGuard handshakes, sessions and routes.
const CONVERGE_SECS: u64 = 600;
/// How long a guest's API may take to answer after QEMU starts (all five boot at once).
const API_UP_SECS: u64 = 420;

/// One guest: its node name, disk and NICs (tap, MAC).
#[derive(Debug, Clone)]
pub(crate) struct GuestRouter {
    /// `rr` or `<site>-leaf`.
    pub(crate) node: String,
    /// Its own disk (config slot A holds its blob; the state partition its state).
    pub(crate) disk: PathBuf,
    /// `(tap in the vm namespace, MAC)` per NIC: WAN first, then the site LAN.
    pub(crate) nics: Vec<(String, String)>,
    /// Where its API is reached.
    pub(crate) api: ApiAt,
    /// QEMU's PID while it runs.
    pub(crate) pid: u32,
}

impl GuestRouter {
    /// The RR guest on `disk`.
    pub(crate) fn rr(disk: PathBuf, topo: &GuestTopology) -> GuestRouter {
        GuestRouter {
            node: "rr".into(),
            disk,
            nics: vec![(wan_tap("rr"), plan::wan_mac(0))],
            api: ApiAt {
                ns: topo.vm.clone(),
                url: format!("http://{RR_UNDERLAY}:{GUEST_API_PORT}"),
            },
            pid: 0,
        }
    }

    /// The leaf guest of `SITES[i]` on `disk`.
    pub(crate) fn leaf(i: usize, disk: PathBuf, topo: &GuestTopology) -> GuestRouter {
        let site = SITES[i];
        GuestRouter {
            node: site.leaf_node(),
            disk,
            nics: vec![
                (wan_tap(site.name), plan::wan_mac(site.index)),
                (lan_tap(site.name), plan::lan_mac(site.index)),
            ],
            api: ApiAt {
                ns: topo.clients[i].clone(),
                url: format!("http://{}:{GUEST_API_PORT}", site.lan_gateway()),
            },
            pid: 0,
        }
    }
}

/// The QEMU guest of `image` on `disk` (in place) with `nics`, run in namespace `vm`:
/// TCG, `-cpu max` (RDRAND: kernel WireGuard answers handshakes only once the random
/// pool is ready), [`GUEST_MIB`], direct kernel boot (`no_timer_check`: five TCG guests
/// booting at once on two cores otherwise trip the kernel's IO-APIC timer check).
pub(crate) fn guest_spec(
    image: &GuestImage,
    disk: &Path,
    nics: &[(String, String)],
    vm: &str,
) -> GuestSpec {
    let mut extra = vec!["-cpu".to_string(), "max".to_string()];
    extra.extend(tap_nics(nics));
    GuestSpec {
        arch: Arch::X86_64,
        boot: Boot::Direct {
            kernel: image.vmlinuz.clone(),
            initrd: image.initrd.clone(),
            append: "console=ttyS0,115200 quiet panic=-1 no_timer_check".into(),
        },
        disk: Some(disk.to_path_buf()),
        memory_mib: GUEST_MIB,
        extra,
        netns: Some(vm.to_string()),
    }
}

/// The guests and how to start them.
pub(crate) struct Guests<'a> {
    /// The namespaces and processes (QEMU included).
    pub(crate) lab: &'a Lab,
    /// The run directory.
    pub(crate) run: &'a RunDir,
    /// Progress output.
    pub(crate) progress: &'a Progress,
    /// Namespace names.
    pub(crate) topo: GuestTopology,
    /// Reads API documents.
    pub(crate) observer: Observer<'a>,
    /// The run's image.
    pub(crate) image: GuestImage,
    /// The RR guest.
    pub(crate) rr: GuestRouter,
    /// The leaf guests, in `SITES` order.
    pub(crate) leaves: Vec<GuestRouter>,
    /// Set while the RR guest is killed (between [`Routers::kill_rr`] and
    /// [`Routers::restart_rr`]).
    pub(crate) rr_down: bool,
}

impl Guests<'_> {
    /// Starts QEMU for `guest`; the console goes to `logs/<node>.log` (an earlier log of
    /// the same node moves to `.log.1`). Returns QEMU's PID.
    fn launch(&self, guest: &GuestRouter) -> Result<u32, DemoError> {
        let log = self.run.log(&guest.node);
        if log.exists() {
            let _ = std::fs::rename(&log, log.with_extension("log.1"));
        }
        let spec = guest_spec(&self.image, &guest.disk, &guest.nics, &self.topo.vm);
        let scratch = self.run.secret(&format!("qemu-{}", guest.node));
        let cmd = std::fs::create_dir_all(&scratch)
            .and_then(|()| guest::command(&spec, &scratch, DiskMode::InPlace))
            .map_err(|e| DemoError::Precondition(format!("QEMU for {}: {e}", guest.node)))?;
        let pid = self.lab.spawn_command(cmd, &log)?;
        self.progress.say(&format!(
            "{}: QEMU started (pid {pid}, {GUEST_MIB} MiB, TCG)",
            guest.node
        ));
        Ok(pid)
    }

    /// Waits until `guest`'s API answers.
    fn wait_api(&self, guest: &GuestRouter, since: Instant) -> Result<(), DemoError> {
        let deadline = since + Duration::from_secs(API_UP_SECS);
        loop {
            if !self.lab.running(guest.pid) {
                return Err(DemoError::RouterStart(format!(
                    "QEMU of {} exited at start; last console lines:\n{}",
                    guest.node,
                    self.run.log_tail(&guest.node, 20)
                )));
            }
            if self.observer.fetch_at(&guest.api, "/v1/status").is_ok() {
                self.progress.say(&format!(
                    "{}: guest booted, API answers at {} ({:.0}s after QEMU started)",
                    guest.node,
                    guest.api.url,
                    since.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(DemoError::RouterStart(format!(
                    "{} does not answer its API at {} after {API_UP_SECS}s; last console lines:\n{}",
                    guest.node,
                    guest.api.url,
                    self.run.log_tail(&guest.node, 20)
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Starts all five guests at once, then waits for every API.
    pub(crate) fn start_all(&mut self) -> Result<(), DemoError> {
        let since = Instant::now();
        self.rr.pid = self.launch(&self.rr)?;
        for i in 0..self.leaves.len() {
            self.leaves[i].pid = self.launch(&self.leaves[i])?;
        }
        self.wait_api(&self.rr, since)?;
        for leaf in &self.leaves {
            self.wait_api(leaf, since)?;
        }
        Ok(())
    }
}

impl Routers for Guests<'_> {
    fn parts(&self) -> FabricParts<'_> {
        FabricParts {
            lab: self.lab,
            run: self.run,
            progress: self.progress,
            tool: &self.observer.tool,
            clients: &self.topo.clients,
            processes: std::iter::once(("rr", self.rr.pid))
                .chain(self.leaves.iter().zip(SITES).map(|(g, s)| (s.name, g.pid)))
                .collect(),
        }
    }

    fn observe(&self) -> Observation {
        // A killed guest's API would only cost a connect timeout per read.
        let rr = if self.rr_down {
            NodeDocs::unreachable("rr", "not read: the RR guest is powered off (QEMU killed)")
        } else {
            self.observer.node_at("rr", &self.rr.api)
        };
        let leaves: Vec<_> = self
            .leaves
            .iter()
            .map(|g| self.observer.node_at(&g.node, &g.api))
            .collect();
        let kernel = SITES
            .iter()
            .zip(&leaves)
            .map(|(site, docs)| match docs.doc(KERNEL_VIEW) {
                Ok(view) => leaf_kernel_from_view(*site, view),
                Err(e) => LeafKernel {
                    site: *site,
                    bgp_routes: Err(format!("{KERNEL_VIEW} unavailable: {e}")),
                    route_get: Vec::new(),
                    links: Err(format!("{KERNEL_VIEW} unavailable: {e}")),
                },
            })
            .collect();
        Observation {
            rr_kernel: rr_kernel_from_view(rr.doc(KERNEL_VIEW)),
            rr,
            leaves,
            kernel,
            kernels_read_directly: false,
        }
    }

    fn converge_secs(&self) -> u64 {
        CONVERGE_SECS
    }

    fn enrollment(&self) -> Result<EnrollmentState, DemoError> {
        let obs = Routers::observe(self);
        Ok(EnrollmentState::from_api(&obs.rr, &obs.leaves))
    }

    fn kill_rr(&mut self) {
        self.progress.say(&format!(
            "killing the RR guest (SIGKILL to QEMU, pid {}: a power cut)",
            self.rr.pid
        ));
        self.lab.kill(self.rr.pid);
        self.rr_down = true;
    }

    fn restart_rr(&mut self) -> Result<(), DemoError> {
        let since = Instant::now();
        self.rr.pid = self.launch(&self.rr)?;
        self.rr_down = false;
        self.wait_api(&self.rr, since)
    }

    fn hold_time_secs(&self) -> u64 {
        plan::GUEST_HOLD_TIME_SECS
    }

    fn outage_explanation(&self) -> &'static str {
        "every leaf's tunnels end at the RR guest, the hub of all inter-site traffic; with its QEMU killed no packet between sites can flow"
    }
}
