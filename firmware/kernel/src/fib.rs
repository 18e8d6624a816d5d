//! [`Fib`]: routerd's routes in one kernel table, programmed in batches.
//!
//! Every route carries the protocol tag given at construction ([`PROTOCOL_BGP`] by
//! default); deletes match on it, so routes of other protocols in the same table are
//! never removed. Call order: [`Fib::new`], [`Fib::flush_stale`] once at start, then
//! [`Fib::apply`] as best paths change. Changes of one call are applied in order.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::KernelError;
use crate::batch::BatchSocket;
use crate::route::{
    Device, InstalledRoute, PROTOCOL_BGP, ResolvedHop, RouteChange, decode, delete_message,
    replace_message,
};

/// What [`Fib::apply`] did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Changes the kernel accepted.
    pub applied: usize,
    /// Changes it refused, with the reason; the table holds the state from before them.
    pub failed: Vec<(IpNet, KernelError)>,
}

/// A kernel routing table programmed by routerd.
#[derive(Clone)]
pub struct Fib {
    table: u32,
    protocol: u8,
    socket: Arc<Mutex<BatchSocket>>,
}

impl std::fmt::Debug for Fib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fib")
            .field("table", &self.table)
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl Fib {
    /// Opens the netlink socket for `table` with protocol `bgp`.
    pub fn new(table: u32) -> Result<Fib, KernelError> {
        Fib::with_protocol(table, PROTOCOL_BGP)
    }

    /// Opens the netlink socket for `table` tagging routes with `protocol`.
    pub fn with_protocol(table: u32, protocol: u8) -> Result<Fib, KernelError> {
        let socket =
            BatchSocket::open().map_err(|source| KernelError::Socket { op: "open", source })?;
        Ok(Fib {
            table,
            protocol,
            socket: Arc::new(Mutex::new(socket)),
        })
    }

    /// The table this object programs.
    pub fn table(&self) -> u32 {
        self.table
    }

    /// Applies `changes` in order, many per system call. Deleting an absent route counts
    /// as applied. If the socket itself fails, every change is reported failed (some may
    /// have been applied; re-applying is safe because replace and delete are idempotent).
    pub async fn apply(&self, changes: Vec<RouteChange>) -> ApplyReport {
        let fib = self.clone();
        match tokio::task::spawn_blocking(move || fib.apply_blocking(&changes)).await {
            Ok(report) => report,
            Err(join) => ApplyReport {
                applied: 0,
                failed: vec![(
                    IpNet::default(),
                    KernelError::Socket {
                        op: "route batch",
                        source: io::Error::other(join),
                    },
                )],
            },
        }
    }

    /// The same as [`Fib::apply`], on the calling thread (it blocks).
    pub fn apply_blocking(&self, changes: &[RouteChange]) -> ApplyReport {
        let mut failed: Vec<(IpNet, KernelError)> = Vec::new();
        let mut socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        // Resolve every interface name once, before the batch starts.
        let mut names: HashMap<&str, Option<u32>> = HashMap::new();
        for change in changes {
            if let RouteChange::Replace { next_hops, .. } = change {
                for hop in next_hops {
                    if let Some(Device::Name(n)) = &hop.dev
                        && !names.contains_key(n.as_str())
                    {
                        names.insert(n, socket.link_index(n).ok().flatten());
                    }
                }
            }
        }
        let (table, protocol) = (self.table, self.protocol);
        let requests = changes.iter().enumerate().filter_map(|(tag, change)| {
            let built = match change {
                RouteChange::Replace { prefix, next_hops } => {
                    let mut hops = Vec::with_capacity(next_hops.len());
                    let mut missing = None;
                    for hop in next_hops {
                        let ifindex = match &hop.dev {
                            None => None,
                            Some(Device::Index(i)) => Some(*i),
                            Some(Device::Name(n)) => {
                                let index = names.get(n.as_str()).copied().flatten();
                                if index.is_none() {
                                    missing = Some(n.clone());
                                }
                                index
                            }
                        };
                        hops.push(ResolvedHop {
                            via: hop.via,
                            ifindex,
                            onlink: hop.onlink,
                        });
                    }
                    match missing {
                        Some(name) => Err(KernelError::NoSuchDevice { name }),
                        None => replace_message(prefix, &hops, table, protocol).map(|m| {
                            (
                                RouteNetlinkMessage::NewRoute(m),
                                NLM_F_CREATE | NLM_F_REPLACE,
                            )
                        }),
                    }
                }
                RouteChange::Delete { prefix } => Ok((
                    RouteNetlinkMessage::DelRoute(delete_message(prefix, table, protocol)),
                    0,
                )),
            };
            match built {
                Ok((message, flags)) => Some((tag, message, flags)),
                Err(e) => {
                    failed.push((change.prefix(), e));
                    None
                }
            }
        });
        let result = socket.execute(requests);
        drop(socket);
        match result {
            Ok(refused) => {
                for (tag, errno) in refused {
                    let change = &changes[tag];
                    let absent =
                        matches!(change, RouteChange::Delete { .. }) && errno == libc::ESRCH;
                    if !absent {
                        let op = match change {
                            RouteChange::Replace { .. } => "route replace",
                            RouteChange::Delete { .. } => "route delete",
                        };
                        failed.push((change.prefix(), KernelError::Refused { op, errno }));
                    }
                }
                ApplyReport {
                    applied: changes.len() - failed.len(),
                    failed,
                }
            }
            Err(e) => ApplyReport {
                applied: 0,
                failed: changes
                    .iter()
                    .map(|c| {
                        let source = io::Error::new(e.kind(), e.to_string());
                        (
                            c.prefix(),
                            KernelError::Socket {
                                op: "route batch",
                                source,
                            },
                        )
                    })
                    .collect(),
            },
        }
    }

    /// Routes in `table` carrying `protocol` (both address families).
    pub async fn routes(
        &self,
        table: u32,
        protocol: u8,
    ) -> Result<Vec<InstalledRoute>, KernelError> {
        let fib = self.clone();
        tokio::task::spawn_blocking(move || fib.routes_blocking(table, protocol))
            .await
            .map_err(|e| KernelError::Socket {
                op: "route dump",
                source: io::Error::other(e),
            })?
    }

    /// The same as [`Fib::routes`], on the calling thread.
    pub fn routes_blocking(
        &self,
        table: u32,
        protocol: u8,
    ) -> Result<Vec<InstalledRoute>, KernelError> {
        let mut routes = Vec::new();
        let mut socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut request = RouteMessage::default();
            request.header.address_family = family;
            socket
                .request(RouteNetlinkMessage::GetRoute(request), true, |msg| {
                    if let RouteNetlinkMessage::NewRoute(m) = msg
                        && let Some(route) = decode(&m)
                        && route.table == table
                        && route.protocol == protocol
                    {
                        routes.push(route);
                    }
                })
                .map_err(|source| KernelError::Socket {
                    op: "route dump",
                    source,
                })?;
        }
        Ok(routes)
    }

    /// Removes every route in `table` tagged `protocol`, left by an earlier run; routes
    /// of any other protocol stay. Returns how many were removed.
    pub async fn flush_stale(&self, table: u32, protocol: u8) -> Result<usize, KernelError> {
        let routes = self.routes(table, protocol).await?;
        let fib = Fib {
            table,
            protocol,
            socket: self.socket.clone(),
        };
        let deletes: Vec<RouteChange> = routes
            .iter()
            .map(|r| RouteChange::Delete { prefix: r.prefix })
            .collect();
        let report = fib.apply(deletes).await;
        match report.failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(report.applied),
        }
    }
}
