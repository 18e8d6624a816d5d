//! Bringing up physical interfaces over rtnetlink: finding a link by MAC, renaming it,
//! reading its state, removing addresses and managing a default route.
//!
//! These are more [`Links`] methods (see [`crate::link`] for MTU, up and address add).
//! Invariants:
//! - [`Links::rename`] takes the link down first (the kernel refuses to rename a running
//!   link) and leaves it down: the caller sets MTU and addresses, then brings it up.
//! - Default routes written here carry the protocol tag the caller gives
//!   ([`PROTOCOL_DHCP`] for leases), and [`Links::default_route_delete`] removes only a
//!   route with that tag, so a static default route of the operator is never touched.

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::RouteProtocol;
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

use crate::{KernelError, Links};

/// The protocol tag of routes learned from DHCP (`dhcp` in `/etc/iproute2/rt_protos`).
pub const PROTOCOL_DHCP: u8 = 16;

/// The main routing table, where default routes go.
const MAIN_TABLE: u32 = 254;

/// What the kernel says about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Interface index.
    pub index: u32,
    /// Current name.
    pub name: String,
    /// Hardware address, when the link has a 6-byte one.
    pub mac: Option<[u8; 6]>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Carrier present (`LOWER_UP`).
    pub carrier: bool,
}

impl LinkState {
    fn from_message(message: &LinkMessage) -> LinkState {
        let mut state = LinkState {
            index: message.header.index,
            name: String::new(),
            mac: None,
            mtu: None,
            up: message.header.flags.contains(LinkFlags::Up),
            carrier: message.header.flags.contains(LinkFlags::LowerUp),
        };
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::IfName(name) => state.name = name.clone(),
                LinkAttribute::Address(bytes) => state.mac = <[u8; 6]>::try_from(&bytes[..]).ok(),
                LinkAttribute::Mtu(mtu) => state.mtu = Some(*mtu),
                _ => {}
            }
        }
        state
    }
}

impl Links {
    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<LinkState>, KernelError> {
        let mut stream = self.handle().link().get().execute();
        let mut out = Vec::new();
        while let Some(message) = stream
            .try_next()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link dump", None, e))?
        {
            out.push(LinkState::from_message(&message));
        }
        Ok(out)
    }

    /// The link whose hardware address is `mac`, `None` when no link has it.
    pub async fn link_by_mac(&self, mac: [u8; 6]) -> Result<Option<LinkState>, KernelError> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .find(|link| link.mac == Some(mac)))
    }

    /// The state of the link named `name`, `None` when it does not exist.
    pub async fn link_state(&self, name: &str) -> Result<Option<LinkState>, KernelError> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .find(|link| link.name == name))
    }

    /// Sets the interface administratively down.
    pub async fn link_down(&self, name: &str) -> Result<(), KernelError> {
        let index = self.index_of(name).await?;
        self.handle()
            .link()
            .set(LinkUnspec::new_with_index(index).down().build())
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link down", None, e))
    }

    /// Renames the link with interface index `index` to `new_name`, taking it down
    /// first; it stays down. An existing `new_name` gives `Refused` with EEXIST.
    pub async fn rename(&self, index: u32, new_name: &str) -> Result<(), KernelError> {
        if new_name.is_empty() || new_name.len() > 15 || new_name.contains(['/', ' ', '\0']) {
            return Err(KernelError::Invalid {
                reason: format!("bad interface name {new_name:?}"),
            });
        }
        self.handle()
            .link()
            .set(LinkUnspec::new_with_index(index).down().build())
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link down", None, e))?;
        self.handle()
            .link()
            .set(LinkUnspec::new_with_index(index).name(new_name).build())
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("link rename", None, e))
    }

    /// Removes one address from the interface; removing an absent address is not an
    /// error.
    pub async fn address_delete(&self, name: &str, address: IpNet) -> Result<(), KernelError> {
        let index = self.index_of(name).await?;
        let mut stream = self
            .handle()
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut found: Option<AddressMessage> = None;
        while let Some(message) = stream
            .try_next()
            .await
            .map_err(|e| KernelError::from_rtnetlink("address dump", None, e))?
        {
            let matches = message.header.prefix_len == address.prefix_len()
                && message
                    .attributes
                    .iter()
                    .any(|a| matches!(a, AddressAttribute::Local(ip) if *ip == address.addr()));
            if matches && found.is_none() {
                found = Some(message);
            }
        }
        let Some(message) = found else {
            return Ok(());
        };
        match self.handle().address().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(msg)) if -msg.raw_code() == libc::EADDRNOTAVAIL => {
                Ok(())
            }
            Err(e) => Err(KernelError::from_rtnetlink("address delete", None, e)),
        }
    }

    /// Installs (or replaces) the IPv4 default route in the main table through
    /// `gateway` on `name`, tagged with `protocol`.
    pub async fn default_route_replace(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        protocol: u8,
    ) -> Result<(), KernelError> {
        let index = self.index_of(name).await?;
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
            .gateway(gateway)
            .output_interface(index)
            .table_id(MAIN_TABLE)
            .protocol(RouteProtocol::from(protocol))
            .build();
        self.handle()
            .route()
            .add(message)
            .replace()
            .execute()
            .await
            .map_err(|e| KernelError::from_rtnetlink("default route replace", None, e))
    }

    /// Removes the IPv4 default route through `gateway` on `name` tagged with
    /// `protocol`; an absent route (or interface) is not an error.
    pub async fn default_route_delete(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        protocol: u8,
    ) -> Result<(), KernelError> {
        let Some(index) = self.link_index(name).await? else {
            return Ok(());
        };
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
            .gateway(gateway)
            .output_interface(index)
            .table_id(MAIN_TABLE)
            .protocol(RouteProtocol::from(protocol))
            .build();
        match self.handle().route().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(msg)) if -msg.raw_code() == libc::ESRCH => Ok(()),
            Err(e) => Err(KernelError::from_rtnetlink("default route delete", None, e)),
        }
    }

    async fn index_of(&self, name: &str) -> Result<u32, KernelError> {
        self.link_index(name)
            .await?
            .ok_or_else(|| KernelError::NoSuchDevice {
                name: name.to_string(),
            })
    }
}
