//! Interfaces from the config: links found (by MAC or name), renamed, sized, addressed
//! and brought up, with a DHCPv4 client where `dhcp4 = true`.
//!
//! [`start`] works in this order: `lo` up; then for each `[[interfaces]]` entry in
//! config order: find the link (by `mac`, else by `name`), rename it to `name` when it
//! was found by MAC under another name (the link goes down for that), set the MTU, add
//! the static addresses, bring it up; finally start one DHCP task per `dhcp4` interface
//! (reverse-path filtering turned off on it, see [`dhcp4_task`]).
//!
//! A missing link is an error for the underlay (tunnels, BGP and SAM have nothing to run
//! on: routerd does not start, the message names the interface and the fix) and a
//! warning for site and management interfaces (the router still routes; the interface
//! is reported absent in the status). Kernel refusals are errors naming the interface
//! and the step.
//!
//! [`InterfacesHandle::stop`] releases every DHCP lease (RELEASE sent, address and default
//! route removed); static configuration stays as it is.

mod dhcp4_client;
#[cfg(test)]
mod dhcp4_client_tests;
#[cfg(test)]
mod dhcp4_lease_tests;
mod dhcp4_task;
#[cfg(test)]
mod dhcp4_test_server;
mod dhcp4_wire;

use std::time::{Duration, Instant};

use config::{Interface, Role};
use ipnet::IpNet;
use kernel::{KernelError, Links};

pub(crate) use dhcp4_client::DhcpState;
use dhcp4_task::{DhcpSetup, DhcpTask};

/// How long [`InterfacesHandle::settle`] waits for the first DHCP leases before routing
/// starts anyway (sessions and listeners on the leased address retry until it arrives).
const DHCP_START_WAIT: Duration = Duration::from_secs(10);

/// Why the interfaces could not be configured; routerd does not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InterfacesError {
    /// The rtnetlink socket could not be opened.
    #[error("cannot talk to the kernel about interfaces: {0}")]
    Netlink(#[source] KernelError),
    /// The underlay link is not there.
    #[error(
        "underlay interface {interface} not found ({how}); fix: check the cable and NIC driver, or correct interfaces.{field} in the config"
    )]
    Missing {
        /// The configured name.
        interface: String,
        /// How it was looked for (`no link has MAC …`, `no link named …`).
        how: String,
        /// The config key to fix (`mac` or `name`).
        field: &'static str,
    },
    /// The kernel refused one step.
    #[error("interface {interface}: {step} failed: {source}; fix: {fix}")]
    Kernel {
        /// The configured name.
        interface: String,
        /// What was being done (`rename`, `mtu 9000`, `address 192.0.2.1/24`, ...).
        step: String,
        /// What the kernel said.
        source: KernelError,
        /// What to change.
        fix: &'static str,
    },
    /// The DHCP socket could not be opened.
    #[error(
        "interface {interface}: cannot open the dhcp client socket (udp port 68): {source}; fix: stop any other DHCP client on this host"
    )]
    DhcpSocket {
        /// The configured name.
        interface: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One interface as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterfaceStatus {
    /// Configured name.
    pub(crate) name: String,
    /// What it is for.
    pub(crate) role: Role,
    /// False when the link was missing at start (site or management only).
    pub(crate) present: bool,
    /// Addresses the kernel has on it now.
    pub(crate) addresses: Vec<IpNet>,
    /// The DHCP client's state, for `dhcp4` interfaces.
    pub(crate) dhcp_state: Option<DhcpState>,
    /// Time left on the DHCP lease (`None`: no lease or an infinite one).
    pub(crate) lease_expires_in: Option<Duration>,
}

struct Managed {
    name: String,
    role: Role,
    present: bool,
    dhcp: Option<DhcpTask>,
}

/// The configured interfaces and their DHCP tasks.
pub(crate) struct InterfacesHandle {
    links: Links,
    managed: Vec<Managed>,
}

impl std::fmt::Debug for InterfacesHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterfacesHandle")
            .field("interfaces", &self.managed.len())
            .finish()
    }
}

/// Configures `interfaces` (see the module contract for the order) and starts their
/// DHCP clients. Call inside the tokio runtime, before anything binds their addresses.
pub(crate) async fn start(interfaces: &[Interface]) -> Result<InterfacesHandle, InterfacesError> {
    let links = Links::new().map_err(InterfacesError::Netlink)?;
    links
        .link_up("lo")
        .await
        .map_err(|source| kernel_error("lo", "link up".into(), source))?;
    let mut managed = Vec::new();
    let mut dhcp_setups = Vec::new();
    for interface in interfaces {
        let name = interface.name.as_str().to_string();
        let Some(mac) = configure(&links, interface).await? else {
            tracing::warn!(
                interface = name,
                role = ?interface.role,
                "interface not found: routing goes on without it (fix interfaces.mac or interfaces.name in the config)"
            );
            managed.push(Managed {
                name,
                role: interface.role,
                present: false,
                dhcp: None,
            });
            continue;
        };
        if interface.dhcp4 {
            dhcp_setups.push((
                managed.len(),
                DhcpSetup {
                    interface: name.clone(),
                    mac,
                    default_route: interface.role == Role::Underlay,
                },
            ));
        }
        managed.push(Managed {
            name,
            role: interface.role,
            present: true,
            dhcp: None,
        });
    }
    let mut handle = InterfacesHandle { links, managed };
    for (position, setup) in dhcp_setups {
        allow_unnumbered_receive(&setup.interface);
        match dhcp4_task::spawn(handle.links.clone(), setup) {
            Ok(task) => handle.managed[position].dhcp = Some(task),
            Err(error) => {
                handle.stop().await;
                return Err(error);
            }
        }
    }
    Ok(handle)
}

/// Finds, renames, sizes, addresses and raises one interface. Returns its MAC, or
/// `None` when a site or management link is missing.
async fn configure(
    links: &Links,
    interface: &Interface,
) -> Result<Option<[u8; 6]>, InterfacesError> {
    let name = interface.name.as_str();
    let found = match interface.mac {
        Some(mac) => links.link_by_mac(mac.0).await,
        None => links.link_state(name).await,
    }
    .map_err(|source| kernel_error(name, "link lookup".into(), source))?;
    let Some(link) = found else {
        if interface.role != Role::Underlay {
            return Ok(None);
        }
        let (how, field) = match interface.mac {
            Some(mac) => (format!("no link has MAC {mac}"), "mac"),
            None => (format!("no link named {name}"), "name"),
        };
        return Err(InterfacesError::Missing {
            interface: name.to_string(),
            how,
            field,
        });
    };
    if link.name != name {
        tracing::info!(from = link.name, to = name, "renaming interface");
        links
            .rename(link.index, name)
            .await
            .map_err(|source| kernel_error(name, format!("rename from {}", link.name), source))?;
    }
    if let Some(mtu) = interface.mtu {
        links
            .set_mtu(name, u32::from(mtu))
            .await
            .map_err(|source| kernel_error(name, format!("mtu {mtu}"), source))?;
    }
    for &address in &interface.addresses {
        links
            .address_add(name, address)
            .await
            .map_err(|source| kernel_error(name, format!("address {address}"), source))?;
    }
    links
        .link_up(name)
        .await
        .map_err(|source| kernel_error(name, "link up".into(), source))?;
    tracing::info!(
        interface = name,
        role = ?interface.role,
        mtu = interface.mtu,
        addresses = ?interface.addresses,
        dhcp4 = interface.dhcp4,
        "interface up"
    );
    Ok(Some(link.mac.unwrap_or_default()))
}

fn kernel_error(interface: &str, step: String, source: KernelError) -> InterfacesError {
    let fix = match source.errno() {
        Some(libc::EEXIST) => "another link already has this name; rename or remove it",
        Some(libc::EINVAL) | Some(libc::ERANGE) => {
            "the NIC does not accept this value; change it in the config"
        }
        Some(libc::EPERM) | Some(libc::EACCES) => "run routerd as root (CAP_NET_ADMIN)",
        _ => "check the value in the config and the kernel log",
    };
    InterfacesError::Kernel {
        interface: interface.to_string(),
        step,
        source,
        fix,
    }
}

/// Offers arrive before the interface has an address, which reverse-path filtering
/// would drop: turn it off on this interface and warn when `all` still forces it.
fn allow_unnumbered_receive(interface: &str) {
    use kernel::sysctl::{RpFilter, rp_filter, set_rp_filter};
    if let Err(error) = set_rp_filter(interface, RpFilter::Off) {
        tracing::warn!(interface, %error, "cannot turn rp_filter off; dhcp offers may be dropped");
    }
    if let Ok(all) = rp_filter("all")
        && all != RpFilter::Off
    {
        tracing::warn!(
            interface,
            ?all,
            "net.ipv4.conf.all.rp_filter is on: dhcp offers to an interface without address are dropped; set it to 0 and filter per interface"
        );
    }
}

impl InterfacesHandle {
    /// Waits until every DHCP client holds a lease (at most [`DHCP_START_WAIT`]), then
    /// logs every interface's status. Call after [`start`], before routing starts.
    pub(crate) async fn settle(&self) {
        self.wait_for_leases(DHCP_START_WAIT).await;
        for status in self.status().await {
            tracing::info!(
                interface = status.name,
                present = status.present,
                addresses = ?status.addresses,
                dhcp = status.dhcp_state.map(DhcpState::as_str),
                lease_expires_in_secs = status.lease_expires_in.map(|d| d.as_secs()),
                "interface status"
            );
        }
    }

    /// Waits until every DHCP client holds a lease, or `limit` passes.
    async fn wait_for_leases(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let waiting: Vec<&str> = self
                .managed
                .iter()
                .filter(|m| m.dhcp.as_ref().is_some_and(|t| t.view().lease.is_none()))
                .map(|m| m.name.as_str())
                .collect();
            if waiting.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!(interfaces = ?waiting, "no dhcp lease yet; routing starts anyway and the clients keep trying");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every configured interface: name, addresses, DHCP state and lease time left.
    pub(crate) async fn status(&self) -> Vec<InterfaceStatus> {
        let now = Instant::now();
        let mut out = Vec::new();
        for managed in &self.managed {
            let addresses = if managed.present {
                self.links
                    .addresses(&managed.name)
                    .await
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let view = managed.dhcp.as_ref().map(DhcpTask::view);
            out.push(InterfaceStatus {
                name: managed.name.clone(),
                role: managed.role,
                present: managed.present,
                addresses,
                dhcp_state: view.as_ref().map(|v| v.state),
                lease_expires_in: view
                    .and_then(|v| v.lease)
                    .and_then(|l| l.expires_at)
                    .map(|at| at.saturating_duration_since(now)),
            });
        }
        out
    }

    /// Releases every DHCP lease and ends the DHCP tasks.
    pub(crate) async fn stop(&mut self) {
        for managed in &mut self.managed {
            if let Some(task) = managed.dhcp.take() {
                task.stop().await;
            }
        }
    }
}
