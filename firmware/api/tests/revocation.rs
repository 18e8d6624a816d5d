//! `POST /v1/enrollment/revoke|reinstate|revoke-claim` over loopback: the body is checked before the
//! core sees it, the core's answers and refusals reach the client unchanged, and without
//! a core channel the endpoints answer 503. The core here is a task that answers the
//! commands by the contract of `api::revocation` (a revoked set of leaf ids).

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use api::Snapshot;
use api::client::{Client, ClientError};
use api::revocation::{
    ClaimRef, ClaimRevoked, EnrollmentCommand, EnrollmentRefused, LeafRef, Reinstated, Revoked,
};
use api::server::{Access, Backend, serve};
use tokio::sync::{mpsc, watch};

fn snapshot() -> Snapshot {
    support::quiet_snapshot("rr", Ipv4Addr::new(192, 0, 2, 1))
}

fn unknown_policy(leaf: &LeafRef) -> Option<EnrollmentRefused> {
    (leaf.policy != "sites").then(|| EnrollmentRefused {
        status: 404,
        error: format!("no enrollment policy `{}`", leaf.policy),
        hint: "check the policy name".into(),
    })
}

/// Answers commands until the channel closes; counts what reached it.
async fn core(mut commands: mpsc::Receiver<EnrollmentCommand>, seen: mpsc::UnboundedSender<()>) {
    let mut revoked = BTreeSet::new();
    while let Some(command) = commands.recv().await {
        let _ = seen.send(());
        match command {
            EnrollmentCommand::Revoke { leaf, reply } => {
                let answer = match unknown_policy(&leaf) {
                    Some(refused) => Err(refused),
                    None => {
                        revoked.insert(leaf.leaf_id.clone());
                        Ok(Revoked {
                            revoked: true,
                            claim_dropped: leaf.leaf_id == "enrolled",
                        })
                    }
                };
                let _ = reply.send(answer);
            }
            EnrollmentCommand::Reinstate { leaf, reply } => {
                let answer = match unknown_policy(&leaf) {
                    Some(refused) => Err(refused),
                    None => Ok(Reinstated {
                        reinstated: true,
                        was_revoked: revoked.remove(&leaf.leaf_id),
                    }),
                };
                let _ = reply.send(answer);
            }
            EnrollmentCommand::RevokeClaim { claim, reply } => {
                let current = claim.bytes() == Ok([0xab; 32]);
                let _ = reply.send(Ok(ClaimRevoked {
                    revoked: true,
                    claim_dropped_for: current.then(|| leaf("sites", "enrolled")),
                }));
            }
        }
    }
}

fn start(rt: &tokio::runtime::Runtime, with_core: bool) -> (String, mpsc::UnboundedReceiver<()>) {
    let (_tx, rx) = watch::channel(Arc::new(snapshot()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let enrollment = with_core.then(|| {
        let (tx, commands) = mpsc::channel(4);
        rt.spawn(core(commands, seen_tx));
        tx
    });
    let backend = Backend {
        snapshots: rx,
        queries: None,
        config: None,
        enrollment,
        kernel: None,
    };
    rt.spawn(serve(listener, backend, Access::open()));
    (url, seen)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn leaf(policy: &str, leaf_id: &str) -> LeafRef {
    LeafRef {
        policy: policy.into(),
        leaf_id: leaf_id.into(),
    }
}

fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Status { status, body }) => (status, body),
        other => panic!("expected an error status, got {other:?}"),
    }
}

#[test]
fn answers_and_refusals_of_the_core_reach_the_client() {
    let rt = runtime();
    let (url, mut seen) = start(&rt, true);
    let client = Client::new(&url, None).unwrap();
    let revoked = client.revoke_leaf(&leaf("sites", "enrolled")).unwrap();
    assert_eq!((revoked.revoked, revoked.claim_dropped), (true, true));
    let back = client.reinstate_leaf(&leaf("sites", "enrolled")).unwrap();
    assert_eq!((back.reinstated, back.was_revoked), (true, true));
    let again = client.reinstate_leaf(&leaf("sites", "enrolled")).unwrap();
    assert!(!again.was_revoked);
    let (status, body) = status_of(client.revoke_leaf(&leaf("nope", "a")));
    assert_eq!(status, 404);
    assert!(body.contains("no enrollment policy `nope`"), "{body}");
    let claim = ClaimRef {
        digest: format!("sha256:{}", "ab".repeat(32)),
    };
    let dropped = client.revoke_claim(&claim).unwrap();
    assert_eq!(dropped.claim_dropped_for, Some(leaf("sites", "enrolled")));
    let old = ClaimRef {
        digest: "cd".repeat(32),
    };
    assert_eq!(client.revoke_claim(&old).unwrap().claim_dropped_for, None);
    let mut reached = 0;
    while seen.try_recv().is_ok() {
        reached += 1;
    }
    assert_eq!(reached, 6);
}

#[test]
fn a_bad_body_is_refused_before_the_core() {
    let rt = runtime();
    let (url, mut seen) = start(&rt, true);
    let client = Client::new(&url, None).unwrap();
    for (bad, field) in [
        (leaf("", "a"), "`policy` is empty"),
        (leaf("sites", " "), "`leaf_id` is empty"),
    ] {
        let (status, body) = status_of(client.revoke_leaf(&bad));
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(field), "{body}");
    }
    let short = ClaimRef {
        digest: "sha256:12".into(),
    };
    let (status, body) = status_of(client.revoke_claim(&short));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`digest`"), "{body}");
    assert!(seen.try_recv().is_err(), "a bad body reached the core");
}

#[test]
fn without_a_core_the_endpoints_answer_503() {
    let rt = runtime();
    let (url, _seen) = start(&rt, false);
    let client = Client::new(&url, None).unwrap();
    assert_eq!(status_of(client.revoke_leaf(&leaf("sites", "a"))).0, 503);
    assert_eq!(status_of(client.reinstate_leaf(&leaf("sites", "a"))).0, 503);
    let claim = ClaimRef {
        digest: "ab".repeat(32),
    };
    assert_eq!(status_of(client.revoke_claim(&claim)).0, 503);
}
