//! The network around the QEMU guests of the qemu flavour (the routers themselves are
//! guests; everything else is a namespace of the demo's [`Lab`]):
//!
//! ```text
//!  [vm] where QEMU runs: every guest NIC is a tap of this namespace, on a bridge
//!    bru  underlay 203.0.113.0/24: taps rr-wan, aws-wan, azure-wan, oci-wan; the NAT
//!         router's public side (.14); the namespace itself (.100, to reach the RR's API)
//!    brn  the pve site's private underlay 10.0.4.0/24: tap pve-wan, the NAT router's
//!         private side (.1, masquerade, DHCP server handing out 10.0.4.2)
//!    brs1..brs4  site LANs 10.20.N.0/24: tap <site>-lan and the site's client
//!  [nat]     nftables masquerade, no new inbound flows; dnsmasq on lan0
//!  [c-<site>] client 10.20.N.10/24, default route via its leaf's 10.20.N.1; it also
//!            reaches that leaf's API (bound on 10.20.N.1, allowed from 10.20.N.10)
//! ```
//!
//! Call order: [`build`] before any guest starts (QEMU opens the taps by name).

use super::evidence::RunDir;
use super::lab::{Lab, LabError};
use super::plan::{LAB_UNDERLAY, NAT_PRIVATE, NAT_PUBLIC, SITES};
use super::topology::{client_address, nat_rules};

/// The underlay bridge inside the `vm` namespace.
const UNDERLAY_BRIDGE: &str = "bru";
/// The NAT router's private bridge inside the `vm` namespace.
const NAT_BRIDGE: &str = "brn";
/// The address the NAT router's DHCP server gives the pve leaf (its documented underlay).
const PVE_DHCP_ADDRESS: &str = "10.0.4.2";

/// Namespace and tap names of one qemu-flavour run.
#[derive(Debug, Clone)]
pub(crate) struct GuestTopology {
    /// Where QEMU runs and the taps and bridges live.
    pub(crate) vm: String,
    /// Clients, in `SITES` order.
    pub(crate) clients: Vec<String>,
}

/// The WAN tap of router `node` (`rr`, or a site name).
pub(crate) fn wan_tap(node: &str) -> String {
    format!("{node}-wan")
}

/// The site-LAN tap of site `site`.
pub(crate) fn lan_tap(site: &str) -> String {
    format!("{site}-lan")
}

fn bridge(lab: &Lab, ns: &str, name: &str) -> Result<(), LabError> {
    lab.ip(
        ns,
        &[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ],
    )?;
    lab.ip(ns, &["link", "set", name, "up"]).map(drop)
}

fn tap(lab: &Lab, ns: &str, name: &str, bridge: &str) -> Result<(), LabError> {
    lab.ip(ns, &["tuntap", "add", "dev", name, "mode", "tap"])?;
    lab.ip(ns, &["link", "set", name, "master", bridge, "up"])
        .map(drop)
}

/// A veth from `ns` (`ns_if`) to a port of `bridge` in `vm`.
fn plug(
    lab: &Lab,
    ns: &str,
    ns_if: &str,
    vm: &str,
    port: &str,
    bridge: &str,
) -> Result<(), LabError> {
    lab.veth(ns, ns_if, vm, port)?;
    lab.ip(vm, &["link", "set", port, "master", bridge])
        .map(drop)
}

/// Creates the namespaces, bridges, taps, the NAT router with its DHCP server and the
/// clients; the caller starts the guests and the clients' listeners.
pub(crate) fn build(lab: &Lab, run: &RunDir) -> Result<GuestTopology, LabError> {
    let vm = lab.netns("vm")?;
    bridge(lab, &vm, UNDERLAY_BRIDGE)?;
    bridge(lab, &vm, NAT_BRIDGE)?;
    lab.addr(&vm, UNDERLAY_BRIDGE, &format!("{LAB_UNDERLAY}/24"))?;
    tap(lab, &vm, &wan_tap("rr"), UNDERLAY_BRIDGE)?;

    let nat = lab.netns("nat")?;
    plug(lab, &nat, "wan0", &vm, "p-nat", UNDERLAY_BRIDGE)?;
    lab.addr(&nat, "wan0", &format!("{NAT_PUBLIC}/24"))?;
    plug(lab, &nat, "lan0", &vm, "p-natl", NAT_BRIDGE)?;
    lab.addr(&nat, "lan0", &format!("{NAT_PRIVATE}/24"))?;
    lab.sysctl(
        &nat,
        &["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0"],
    )?;
    nat_rules(lab, &nat)?;
    let leases = run.root.join("logs").join("dnsmasq.leases");
    lab.spawn(
        &nat,
        std::path::Path::new("dnsmasq"),
        &[
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            "--user=root",
            "--pid-file=",
            "--interface=lan0",
            "--bind-interfaces",
            &format!("--dhcp-range={PVE_DHCP_ADDRESS},{PVE_DHCP_ADDRESS},255.255.255.0,1h"),
            &format!("--dhcp-option=option:router,{NAT_PRIVATE}"),
            &format!("--dhcp-leasefile={}", leases.display()),
            "--log-dhcp",
        ],
        &run.log("dnsmasq"),
    )?;

    let mut clients = Vec::new();
    for site in SITES {
        let lan_bridge = format!("brs{}", site.index);
        bridge(lab, &vm, &lan_bridge)?;
        let wan_bridge = if site.behind_nat {
            NAT_BRIDGE
        } else {
            UNDERLAY_BRIDGE
        };
        tap(lab, &vm, &wan_tap(site.name), wan_bridge)?;
        tap(lab, &vm, &lan_tap(site.name), &lan_bridge)?;
        let client = lab.netns(&format!("c-{}", site.name))?;
        plug(
            lab,
            &client,
            "eth0",
            &vm,
            &format!("c-{}", site.name),
            &lan_bridge,
        )?;
        client_address(lab, &client, &site)?;
        clients.push(client);
    }
    Ok(GuestTopology { vm, clients })
}
