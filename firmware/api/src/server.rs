//! The HTTP JSON server (axum) over the latest published [`Snapshot`].
//!
//! Call order: bind a `tokio::net::TcpListener` on the configured address (the daemon
//! reports bind errors at start), then spawn [`serve`]. Handlers only read the newest
//! `Arc<Snapshot>` from the watch channel: they never wait for the core.
//!
//! Authentication: with [`Auth::BearerSha256`] every request must carry
//! `Authorization: Bearer <token>` whose SHA-256 equals the configured hash (the config
//! holds only the hash); anything else is answered `401` before a handler runs.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{PeerList, Snapshot, Status};

/// Who may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No token: only for development configs bound to loopback.
    Open,
    /// A bearer token whose SHA-256 digest is this.
    BearerSha256([u8; 32]),
}

/// The server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting or serving connections failed; the API is down until restart.
    #[error("status api stopped: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
struct AppState {
    snapshots: watch::Receiver<Arc<Snapshot>>,
}

/// The API's routes with authentication applied.
pub fn router(snapshots: watch::Receiver<Arc<Snapshot>>, auth: Auth) -> Router {
    let auth = Arc::new(auth);
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .layer(middleware::from_fn_with_state(auth, require_token))
        .with_state(AppState { snapshots })
}

/// Serves the API on `listener` until the task is dropped or accepting fails.
pub async fn serve(
    listener: TcpListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    auth: Auth,
) -> Result<(), ServeError> {
    axum::serve(listener, router(snapshots, auth)).await?;
    Ok(())
}

async fn status(State(state): State<AppState>) -> Json<Status> {
    let snapshot = state.snapshots.borrow().clone();
    Json(snapshot.status(Instant::now()))
}

async fn peers(State(state): State<AppState>) -> Json<PeerList> {
    let snapshot = state.snapshots.borrow().clone();
    Json(snapshot.peer_list(Instant::now()))
}

async fn require_token(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    match auth.as_ref() {
        Auth::Open => next.run(request).await,
        Auth::BearerSha256(expected) => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match presented {
                Some(token) if digest_matches(token, expected) => next.run(request).await,
                _ => (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "missing or wrong bearer token\n",
                )
                    .into_response(),
            }
        }
    }
}

/// Compares the token's SHA-256 with `expected` in constant time.
fn digest_matches(token: &str, expected: &[u8; 32]) -> bool {
    let digest = Sha256::digest(token.as_bytes());
    digest
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// SHA-256 of a token, as stored in configs.
pub fn token_sha256(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}
