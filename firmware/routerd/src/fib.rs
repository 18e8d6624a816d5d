//! Forwarding-table output: best-path changes from the speaker, applied to one kernel
//! table in batches by a task of its own.
//!
//! The core hands over the FIB changes of each drain as one batch ([`FibHandle::submit`])
//! and never waits for the kernel. The task takes every batch queued since its last
//! apply, keeps the last change per prefix, and applies them in one
//! [`kernel::Fib::apply`] call. At start [`FibHandle::start`] removes routes an earlier
//! run left in the table with routerd's protocol tag; routes with any other tag are
//! never touched.

use std::collections::HashMap;
use std::net::IpAddr;

use bgp::speaker::FibChange;
use ipnet::IpNet;
use kernel::{Device, Fib, KernelError, NextHop, PROTOCOL_BGP, RouteChange};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where and how routes are installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FibSettings {
    /// Kernel routing table id (254 = main).
    pub(crate) table: u32,
    /// Send every next hop through this device (with `onlink`), if set.
    pub(crate) device: Option<String>,
}

/// The core's side of the FIB task.
pub(crate) struct FibHandle {
    batches: mpsc::UnboundedSender<Vec<FibChange>>,
    task: JoinHandle<()>,
}

/// The FIB could not be opened or cleaned at start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FibError {
    /// Opening the netlink socket or removing stale routes failed; routerd stops because
    /// it could not keep the table consistent.
    #[error("cannot prepare routing table {table}: {source}")]
    Start {
        /// The table.
        table: u32,
        /// The kernel's answer.
        source: KernelError,
    },
}

impl FibHandle {
    /// Opens the table, removes stale routerd routes from it and starts the task.
    pub(crate) async fn start(settings: FibSettings) -> Result<FibHandle, FibError> {
        let table = settings.table;
        let fib = Fib::new(table).map_err(|source| FibError::Start { table, source })?;
        let stale = fib
            .flush_stale(table, PROTOCOL_BGP)
            .await
            .map_err(|source| FibError::Start { table, source })?;
        tracing::info!(
            table,
            stale,
            "routing table ready; removed stale routes of an earlier run"
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(apply_loop(fib, settings.device, rx));
        Ok(FibHandle { batches: tx, task })
    }

    /// Queues the changes of one drain.
    pub(crate) fn submit(&self, batch: Vec<FibChange>) {
        if !batch.is_empty() {
            let _ = self.batches.send(batch);
        }
    }

    /// Applies what is still queued, then stops the task.
    pub(crate) async fn finish(self) {
        drop(self.batches);
        let _ = self.task.await;
    }
}

async fn apply_loop(
    fib: Fib,
    device: Option<String>,
    mut batches: mpsc::UnboundedReceiver<Vec<FibChange>>,
) {
    while let Some(first) = batches.recv().await {
        let mut pending = Pending::default();
        pending.extend(first);
        while let Ok(more) = batches.try_recv() {
            pending.extend(more);
        }
        let changes = pending.into_route_changes(device.as_deref());
        let count = changes.len();
        let report = fib.apply(changes).await;
        tracing::debug!(count, applied = report.applied, "routing table updated");
        for (prefix, error) in report.failed {
            tracing::warn!(%prefix, %error, "kernel refused a route change; it will be retried on the next change of that prefix");
        }
    }
}

/// Changes waiting to be applied: the last one per prefix wins.
#[derive(Default)]
struct Pending {
    by_prefix: HashMap<IpNet, FibChange>,
}

impl Pending {
    fn extend(&mut self, batch: Vec<FibChange>) {
        for change in batch {
            let prefix = match &change {
                FibChange::Replace { prefix, .. } | FibChange::Withdraw { prefix } => *prefix,
            };
            self.by_prefix.insert(prefix, change);
        }
    }

    fn into_route_changes(self, device: Option<&str>) -> Vec<RouteChange> {
        self.by_prefix
            .into_values()
            .map(|c| route_change(c, device))
            .collect()
    }
}

/// The kernel form of one speaker change. A replace without next hops becomes a delete.
fn route_change(change: FibChange, device: Option<&str>) -> RouteChange {
    match change {
        FibChange::Replace { prefix, next_hops } if !next_hops.is_empty() => RouteChange::Replace {
            prefix,
            next_hops: next_hops
                .into_iter()
                .map(|via| next_hop(via, device))
                .collect(),
        },
        FibChange::Replace { prefix, .. } | FibChange::Withdraw { prefix } => {
            RouteChange::Delete { prefix }
        }
    }
}

fn next_hop(via: IpAddr, device: Option<&str>) -> NextHop {
    NextHop {
        via: Some(via),
        dev: device.map(|d| Device::Name(d.to_string())),
        onlink: device.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn last_change_per_prefix_wins_and_empty_replace_deletes() {
        let mut pending = Pending::default();
        let nh: IpAddr = "192.0.2.11".parse().unwrap();
        pending.extend(vec![
            FibChange::Replace {
                prefix: net("198.51.100.1/32"),
                next_hops: vec![nh],
            },
            FibChange::Replace {
                prefix: net("198.51.100.2/32"),
                next_hops: vec![nh],
            },
        ]);
        pending.extend(vec![
            FibChange::Withdraw {
                prefix: net("198.51.100.1/32"),
            },
            FibChange::Replace {
                prefix: net("198.51.100.3/32"),
                next_hops: vec![],
            },
        ]);
        let mut changes = pending.into_route_changes(Some("eth0"));
        changes.sort_by_key(|c| c.prefix());
        assert_eq!(
            changes,
            vec![
                RouteChange::Delete {
                    prefix: net("198.51.100.1/32")
                },
                RouteChange::Replace {
                    prefix: net("198.51.100.2/32"),
                    next_hops: vec![NextHop {
                        via: Some(nh),
                        dev: Some(Device::Name("eth0".into())),
                        onlink: true
                    }],
                },
                RouteChange::Delete {
                    prefix: net("198.51.100.3/32")
                },
            ]
        );
    }

    #[test]
    fn without_device_next_hops_are_plain_gateways() {
        let nh: IpAddr = "192.0.2.11".parse().unwrap();
        let change = route_change(
            FibChange::Replace {
                prefix: net("198.51.100.1/32"),
                next_hops: vec![nh],
            },
            None,
        );
        let RouteChange::Replace { next_hops, .. } = change else {
            panic!("expected replace")
        };
        assert_eq!(
            next_hops,
            vec![NextHop {
                via: Some(nh),
                dev: None,
                onlink: false
            }]
        );
    }
}
