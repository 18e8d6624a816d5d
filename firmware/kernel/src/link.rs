//! [`Links`]: creating and configuring interfaces over rtnetlink.
//!
//! Call [`Links::new`] inside a tokio runtime: it spawns the connection task. Every
//! method takes interface names; a name that does not exist gives
//! [`KernelError::NoSuchDevice`].

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::{Handle, LinkIpIp, LinkUnspec, LinkWireguard};

use crate::KernelError;

/// An IPIP tunnel to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// Outer source address.
    pub local: Ipv4Addr,
    /// Outer destination address.
    pub remote: Ipv4Addr,
    /// Outer TTL (64 is the usual choice; 0 inherits the inner TTL).
    pub ttl: u8,
    /// Interface MTU: underlay MTU − 20 (and − 80 more inside WireGuard).
    pub mtu: u32,
}

/// Interface operations over one rtnetlink connection.
#[derive(Debug, Clone)]
pub struct Links {
    handle: Handle,
}

impl Links {
    /// Opens the connection and spawns its task on the current tokio runtime.
    pub fn new() -> Result<Links, KernelError> {
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|source| KernelError::Socket { op: "open", source })?;
        tokio::spawn(connection);
        Ok(Links { handle })
    }

    /// Interface index of `name`, `None` when it does not exist.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, KernelError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(Some(link.header.index)),
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(msg)) if -msg.raw_code() == libc::ENODEV => Ok(None),
            Err(e) => Err(KernelError::from_rtnetlink("link lookup", None, e)),
        }
    }

    async fn require_index(&self, name: &str) -> Result<u32, KernelError> {
        self.link_index(name)
            .await?
            .ok_or_else(|| KernelError::NoSuchDevice {
                name: name.to_string(),
            })
    }

    /// Creates an IPIP tunnel with its MTU set (still down). A kernel without IPIP gives
    /// [`KernelError::Unsupported`]; an existing name gives `Refused` with EEXIST
    /// (delete it first to change its endpoints).
    pub async fn ipip_create(&self, spec: &TunnelSpec) -> Result<(), KernelError> {
        let message = LinkIpIp::new(&spec.name)
            .local(spec.local)
            .remote(spec.remote)
            .ttl(spec.ttl)
            .pmtudisc(true)
            .mtu(spec.mtu)
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("ipip link create", Some("ipip link"), e))
    }

    /// Creates a WireGuard interface (still down, unconfigured). A kernel without
    /// WireGuard gives [`KernelError::Unsupported`].
    pub async fn wireguard_create(&self, name: &str) -> Result<(), KernelError> {
        self.handle
            .link()
            .add(LinkWireguard::new(name).build())
            .execute()
            .await
            .map_err(|e| {
                KernelError::from_rtnetlink("wireguard link create", Some("wireguard link"), e)
            })
    }

    /// Sets the interface administratively up.
    pub async fn link_up(&self, name: &str) -> Result<(), KernelError> {
        let index = self.require_index(name).await?;
        let message = LinkUnspec::new_with_index(index).up().build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link up", None, e))
    }

    /// Sets the interface MTU.
    pub async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), KernelError> {
        let index = self.require_index(name).await?;
        let message = LinkUnspec::new_with_index(index).mtu(mtu).build();
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link mtu", None, e))
    }

    /// Adds (or refreshes) an address with its prefix length on the interface.
    pub async fn address_add(&self, name: &str, address: IpNet) -> Result<(), KernelError> {
        let index = self.require_index(name).await?;
        self.handle
            .address()
            .add(index, address.addr(), address.prefix_len())
            .replace()
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("address add", None, e))
    }

    /// Addresses configured on the interface.
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpNet>, KernelError> {
        use rtnetlink::packet_route::address::AddressAttribute;
        let index = self.require_index(name).await?;
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| KernelError::from_rtnetlink("address dump", None, e))?
        {
            for attr in &msg.attributes {
                if let AddressAttribute::Address(addr) = attr
                    && let Ok(net) = IpNet::new(*addr, msg.header.prefix_len)
                {
                    out.push(net);
                }
            }
        }
        Ok(out)
    }

    /// Deletes the interface; deleting an absent one is not an error.
    pub async fn delete_link(&self, name: &str) -> Result<(), KernelError> {
        let Some(index) = self.link_index(name).await? else {
            return Ok(());
        };
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link delete", None, e))
    }

    /// Creates an IPIP tunnel like [`Links::ipip_create`] whose outer packets are routed
    /// out of `underlying` only (`IFLA_IPTUN_LINK`): the kernel looks up the outer
    /// destination with that device as the required output interface, so routes to the
    /// same address through other devices (e.g. the tunnel's own) are skipped. This is
    /// how IPIP runs inside a WireGuard device between addresses that are also routed
    /// into the tunnel.
    pub async fn ipip_create_over(
        &self,
        spec: &TunnelSpec,
        underlying: &str,
    ) -> Result<(), KernelError> {
        let link = self.require_index(underlying).await?;
        let message = LinkIpIp::new(&spec.name)
            .local(spec.local)
            .remote(spec.remote)
            .ttl(spec.ttl)
            .pmtudisc(true)
            .dev(link)
            .mtu(spec.mtu)
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("ipip link create", Some("ipip link"), e))
    }
}

impl Links {
    /// The rtnetlink handle, for the crate's other interface modules.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}
