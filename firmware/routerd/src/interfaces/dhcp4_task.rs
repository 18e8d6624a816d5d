//! The I/O around [`Dhcp4Client`]: one UDP socket and one task per DHCP interface.
//!
//! The socket listens on `0.0.0.0:68`, bound to the interface (`SO_BINDTODEVICE`) with
//! `SO_BROADCAST` and `SO_REUSEADDR` (several DHCP interfaces share the port). Offers and
//! ACKs arrive as broadcasts because the client sets the broadcast flag, so the kernel
//! hands them over before the interface has an address; reverse-path filtering must be
//! off on the interface for that ([`super::start`] turns it off there).
//!
//! Lease events become kernel changes, in this order: acquired → address (with the
//! lease's prefix), then the default route via the lease's router (protocol `dhcp`) when
//! the interface is the underlay; lost → default route removed, then the address. Every
//! change is logged. Kernel errors are logged and the client goes on (the next renewal
//! retries).
//!
//! Call order: [`spawn`], then [`DhcpTask::view`] at any time, and [`DhcpTask::stop`]
//! once at shutdown (it sends RELEASE and removes the address before returning).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use kernel::{Links, PROTOCOL_DHCP};
use smoltcp::wire::{DHCP_CLIENT_PORT, DHCP_SERVER_PORT};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};

use super::InterfacesError;
use super::dhcp4_client::{Destination, Dhcp4Client, DhcpState, Lease, LeaseEvent, Output};

/// How long [`DhcpTask::stop`] waits for the RELEASE and the clean-up.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause after a failed receive, so a broken socket cannot spin.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The client's state and lease as the status shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DhcpView {
    /// Where the client is.
    pub(crate) state: DhcpState,
    /// The lease held, if any.
    pub(crate) lease: Option<Lease>,
}

/// A running DHCP client task.
#[derive(Debug)]
pub(crate) struct DhcpTask {
    stop: Option<oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<()>,
    view: watch::Receiver<DhcpView>,
}

impl DhcpTask {
    /// The latest state and lease.
    pub(crate) fn view(&self) -> DhcpView {
        self.view.borrow().clone()
    }

    /// Releases the lease (RELEASE to the server, address and route removed) and ends
    /// the task; gives up after [`STOP_TIMEOUT`].
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_TIMEOUT, &mut self.join)
            .await
            .is_err()
        {
            self.join.abort();
        }
    }
}

/// What one DHCP task works on.
#[derive(Debug, Clone)]
pub(crate) struct DhcpSetup {
    /// Interface name (already renamed).
    pub(crate) interface: String,
    /// Its hardware address.
    pub(crate) mac: [u8; 6],
    /// Install the default route via the lease's router.
    pub(crate) default_route: bool,
}

/// Opens the interface's DHCP socket and starts the client task.
pub(crate) fn spawn(links: Links, setup: DhcpSetup) -> Result<DhcpTask, InterfacesError> {
    let socket = open_socket(&setup.interface).map_err(|source| InterfacesError::DhcpSocket {
        interface: setup.interface.clone(),
        source,
    })?;
    let mut seed = [0u8; 8];
    if getrandom::fill(&mut seed).is_err() {
        // Transaction ids only need to differ between clients and boots.
        seed = u64::from(std::process::id()).to_le_bytes();
        seed[7] ^= setup.mac[5];
    }
    let client = Dhcp4Client::new(setup.mac, u64::from_le_bytes(seed), Instant::now());
    let (view_tx, view) = watch::channel(DhcpView {
        state: client.state(),
        lease: None,
    });
    let (stop, stop_rx) = oneshot::channel();
    let join = tokio::spawn(run(client, socket, links, setup, view_tx, stop_rx));
    Ok(DhcpTask {
        stop: Some(stop),
        join,
        view,
    })
}

fn open_socket(interface: &str) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(interface.as_bytes()))?;
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DHCP_CLIENT_PORT);
    socket.bind(&SocketAddr::V4(any).into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

async fn run(
    mut client: Dhcp4Client,
    socket: UdpSocket,
    links: Links,
    setup: DhcpSetup,
    view: watch::Sender<DhcpView>,
    mut stop: oneshot::Receiver<()>,
) {
    let name = setup.interface.as_str();
    tracing::info!(interface = name, "dhcp client started");
    let mut buffer = vec![0u8; 1500];
    loop {
        drain(&mut client, &socket, &links, &setup).await;
        view.send_replace(DhcpView {
            state: client.state(),
            lease: client.lease().cloned(),
        });
        let deadline = client.poll_timeout();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut stop => {
                client.release(Instant::now());
                drain(&mut client, &socket, &links, &setup).await;
                tracing::info!(interface = name, "dhcp client stopped");
                return;
            }
            () = timer => client.handle_timeout(Instant::now()),
            received = socket.recv_from(&mut buffer) => match received {
                Ok((length, from)) if from.port() == DHCP_SERVER_PORT => {
                    let payload = buffer.get(..length).unwrap_or_default();
                    if let Err(why) = client.handle_packet(Instant::now(), payload) {
                        tracing::debug!(interface = name, %from, %why, "dhcp packet ignored");
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(interface = name, %error, "dhcp receive failed; retrying");
                    tokio::time::sleep(RECEIVE_ERROR_PAUSE).await;
                }
            },
        }
    }
}

/// Sends what the client wants sent and applies its lease events to the kernel.
async fn drain(client: &mut Dhcp4Client, socket: &UdpSocket, links: &Links, setup: &DhcpSetup) {
    let name = setup.interface.as_str();
    while let Some(output) = client.poll_output() {
        match output {
            Output::Transmit { to, bytes } => {
                let ip = match to {
                    Destination::Broadcast => Ipv4Addr::BROADCAST,
                    Destination::Server(server) => server,
                };
                let target = SocketAddr::V4(SocketAddrV4::new(ip, DHCP_SERVER_PORT));
                if let Err(error) = socket.send_to(&bytes, target).await {
                    tracing::warn!(interface = name, %target, %error, "dhcp send failed; the client retries");
                }
            }
            Output::Event(LeaseEvent::Acquired(lease)) => {
                install(links, setup, &lease, "dhcp lease acquired").await
            }
            // Installed again: the same values, but an address removed by hand comes back.
            Output::Event(LeaseEvent::Extended(lease)) => {
                install(links, setup, &lease, "dhcp lease extended").await
            }
            Output::Event(LeaseEvent::Lost { lease, reason }) => {
                tracing::warn!(interface = name, address = %lease.address, ?reason, "dhcp lease lost: removing the address");
                if setup.default_route
                    && let Some(router) = lease.router
                    && let Err(error) = links
                        .default_route_delete(name, router, PROTOCOL_DHCP)
                        .await
                {
                    tracing::error!(interface = name, %router, %error, "cannot remove the dhcp default route");
                }
                if let Err(error) = links.address_delete(name, lease_net(&lease)).await {
                    tracing::error!(interface = name, address = %lease.address, %error, "cannot remove the dhcp address");
                }
            }
        }
    }
}

async fn install(links: &Links, setup: &DhcpSetup, lease: &Lease, what: &'static str) {
    let name = setup.interface.as_str();
    let net = lease_net(lease);
    tracing::info!(
        interface = name,
        address = %net,
        router = ?lease.router,
        server = %lease.server,
        lease_secs = lease.duration.map(|d| d.as_secs()),
        "{what}"
    );
    if let Err(error) = links.address_add(name, net).await {
        tracing::error!(interface = name, address = %net, %error, "cannot add the dhcp address; retrying at renewal");
        return;
    }
    if setup.default_route
        && let Some(router) = lease.router
        && let Err(error) = links
            .default_route_replace(name, router, PROTOCOL_DHCP)
            .await
    {
        tracing::error!(interface = name, %router, %error, "cannot install the dhcp default route");
    }
}

fn lease_net(lease: &Lease) -> IpNet {
    Ipv4Net::new(lease.address, lease.prefix_len)
        .map(IpNet::V4)
        .unwrap_or_else(|_| IpNet::V4(Ipv4Net::from(lease.address)))
}
