//! Builds the four-site topology out of network namespaces (see [`super::plan`] for the
//! addresses):
//!
//! ```text
//!                      [net] bridge br0, underlay 203.0.113.0/24
//!        +-------------+-----------+-----------+-------------+
//!     [rr] .10    [aws-leaf] .11 [azure-leaf] .12 [oci-leaf] .13   [nat] .14 (masquerade)
//!                     |              |              |                 | 10.0.4.0/24
//!                 [c-aws]        [c-azure]      [c-oci]           [pve-leaf] .2
//!                 10.20.1.10     10.20.2.10     10.20.3.10            |
//!                                                                  [c-pve] 10.20.4.10
//! ```
//!
//! Leaves use `wan0` (underlay) and `lan0` (site LAN); clients use `eth0` with a default
//! route to their leaf. The NAT router masquerades the private underlay and drops new
//! inbound connections, so the pve leaf is reachable only through mappings it opened.

use super::lab::{Lab, LabError};
use super::plan::{NAT_PRIVATE, NAT_PRIVATE_NET, NAT_PUBLIC, RR_UNDERLAY, SITES, Site};

/// Namespace names of one run.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    /// The route reflector.
    pub(crate) rr: String,
    /// Leaf routers, in `SITES` order.
    pub(crate) leaves: Vec<String>,
    /// Clients, in `SITES` order.
    pub(crate) clients: Vec<String>,
}

const FORWARDING: [&str; 3] = [
    "net.ipv4.ip_forward=1",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
];

/// Plugs `ns` into the underlay bridge with `wan0` = `cidr`.
fn attach(lab: &Lab, net: &str, ns: &str, port: &str, cidr: &str) -> Result<(), LabError> {
    lab.veth(ns, "wan0", net, port)?;
    lab.ip(net, &["link", "set", port, "master", "br0"])?;
    lab.addr(ns, "wan0", cidr)
}

/// The NAT router's nftables rules: masquerade out of `wan0`, no new inbound flows.
/// A client's address on its site LAN (`eth0`) and its default route to the leaf (both
/// flavours).
pub(crate) fn client_address(lab: &Lab, client: &str, site: &Site) -> Result<(), LabError> {
    lab.addr(client, "eth0", &format!("{}/24", site.client()))?;
    lab.ip(
        client,
        &[
            "route",
            "add",
            "default",
            "via",
            &site.lan_gateway().to_string(),
        ],
    )?;
    Ok(())
}

pub(crate) fn nat_rules(lab: &Lab, nat: &str) -> Result<(), LabError> {
    let rules: [&[&str]; 5] = [
        &["add", "table", "ip", "sitenat"],
        &[
            "add",
            "chain",
            "ip",
            "sitenat",
            "post",
            "{ type nat hook postrouting priority srcnat ; policy accept ; }",
        ],
        &[
            "add",
            "rule",
            "ip",
            "sitenat",
            "post",
            "ip",
            "saddr",
            NAT_PRIVATE_NET,
            "oifname",
            "wan0",
            "masquerade",
        ],
        &[
            "add",
            "chain",
            "ip",
            "sitenat",
            "inbound",
            "{ type filter hook forward priority filter ; policy accept ; }",
        ],
        &[
            "add", "rule", "ip", "sitenat", "inbound", "iifname", "wan0", "ct", "state", "new",
            "drop",
        ],
    ];
    for r in rules {
        lab.exec(nat, "nft", r)?;
    }
    Ok(())
}

/// Creates every namespace and link; routers and clients are started by the caller.
pub(crate) fn build(lab: &Lab) -> Result<Topology, LabError> {
    let net = lab.netns("net")?;
    lab.ip(
        &net,
        &[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ],
    )?;
    lab.ip(&net, &["link", "set", "br0", "up"])?;

    let rr = lab.netns("rr")?;
    attach(lab, &net, &rr, "p-rr", &format!("{RR_UNDERLAY}/24"))?;
    lab.sysctl(&rr, &FORWARDING)?;

    let nat = lab.netns("nat")?;
    attach(lab, &net, &nat, "p-nat", &format!("{NAT_PUBLIC}/24"))?;
    lab.sysctl(&nat, &FORWARDING)?;
    nat_rules(lab, &nat)?;

    let mut leaves = Vec::new();
    let mut clients = Vec::new();
    for site in SITES {
        let leaf = lab.netns(&site.leaf_node())?;
        if site.behind_nat {
            lab.veth(&nat, "lan0", &leaf, "wan0")?;
            lab.addr(&nat, "lan0", &format!("{NAT_PRIVATE}/24"))?;
            lab.addr(&leaf, "wan0", &format!("{}/24", site.underlay()))?;
            lab.ip(
                &leaf,
                &["route", "add", "default", "via", &NAT_PRIVATE.to_string()],
            )?;
        } else {
            attach(
                lab,
                &net,
                &leaf,
                &format!("p-{}", site.name),
                &format!("{}/24", site.underlay()),
            )?;
        }
        lab.sysctl(&leaf, &FORWARDING)?;
        let client = lab.netns(&format!("c-{}", site.name))?;
        lab.veth(&leaf, "lan0", &client, "eth0")?;
        lab.addr(&leaf, "lan0", &format!("{}/24", site.lan_gateway()))?;
        client_address(lab, &client, &site)?;
        leaves.push(leaf);
        clients.push(client);
    }
    Ok(Topology {
        rr,
        leaves,
        clients,
    })
}
