//! The HTTP JSON server (axum) over the latest published [`Snapshot`].
//!
//! Call order: bind a `tokio::net::TcpListener` on the configured address (the daemon
//! reports bind errors at start), then spawn [`serve`]. Handlers only read the newest
//! `Arc<Snapshot>` from the watch channel: they never wait for the core.
//!
//! Access control, before any handler runs: a source outside [`Access::allow_sources`]
//! (when it is not empty) is answered `403`; with [`Auth::BearerSha256`] every request
//! must carry `Authorization: Bearer <token>` whose SHA-256 equals the configured hash
//! (the config holds only the hash), else `401`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config_push::{ConfigCommand, PushRefused};
use crate::limits::{Enforcer, ErrorBody, Limits};
use crate::revocation::{ClaimRef, EnrollmentCommand, EnrollmentRefused, LeafRef};
use crate::routes::{DEFAULT_PAGE, MAX_PAGE, RouteQuery};
use crate::{PeerList, Snapshot, Status};

/// Who may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No token: only for development configs bound to loopback.
    Open,
    /// A bearer token whose SHA-256 digest is this.
    BearerSha256([u8; 32]),
}

/// Who may call the API, and how much: sources, credentials and request limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Token check.
    pub auth: Auth,
    /// Source prefixes allowed to connect; empty means any source.
    pub allow_sources: Vec<ipnet::IpNet>,
    /// Request rate per source and body size (the config's `api.rate_per_second` and
    /// `api.rate_burst`).
    pub limits: Limits,
}

impl Access {
    /// Any source, no token: only for development configs bound to loopback.
    pub fn open() -> Access {
        Access {
            auth: Auth::Open,
            allow_sources: Vec::new(),
            limits: Limits::default(),
        }
    }

    fn source_allowed(&self, source: Option<SocketAddr>) -> bool {
        if self.allow_sources.is_empty() {
            return true;
        }
        source.is_some_and(|s| {
            let ip = s.ip().to_canonical();
            self.allow_sources.iter().any(|net| net.contains(&ip))
        })
    }
}

/// The server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting or serving connections failed; the API is down until restart.
    #[error("status api stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// What the handlers read: the published snapshots, and the core's query channel for
/// `/v1/routes` (`None`: that endpoint answers 503).
#[derive(Clone, Debug)]
pub struct Backend {
    /// The latest snapshot.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Questions for the core.
    pub queries: Option<mpsc::Sender<RouteQuery>>,
    /// Config pushes and confirms for the core (`None`: those endpoints answer 503).
    pub config: Option<mpsc::Sender<ConfigCommand>>,
    /// Revocations for the core (`None`: those endpoints answer 503).
    pub enrollment: Option<mpsc::Sender<EnrollmentCommand>>,
    /// The latest read of the router's kernel (`None`: `/v1/kernel` answers 404).
    pub kernel: Option<watch::Receiver<Arc<crate::kernel::KernelView>>>,
}

/// The local address a server instance is bound to (the address a push came in on).
#[derive(Debug, Clone, Copy)]
struct BoundAddr(SocketAddr);

/// How long `/v1/routes` waits for the core before answering 503.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The API's routes with `access` applied. Checks run in this order: rate limit
/// (`429`, [`Access::limits`]), source allowlist (`403`), token (`401`), body size
/// (`413`). Source filtering and rate limits need the peer address, which [`serve`]
/// provides (`ConnectInfo`).
pub fn router(backend: Backend, access: Access) -> Router {
    let enforcer = Enforcer::new(access.limits);
    let access = Arc::new(access);
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/metrics", get(metrics))
        .route("/v1/routes", get(routes))
        .route("/v1/enrollment", get(enrollment))
        .route("/v1/tunnels", get(tunnels))
        .route("/v1/kernel", get(kernel_view))
        .route("/v1/config", post(push_config))
        .route("/v1/config/confirm", post(confirm_config))
        .route("/v1/enrollment/revoke", post(revoke_leaf))
        .route("/v1/enrollment/revoke-claim", post(revoke_claim))
        .route("/v1/enrollment/reinstate", post(reinstate_leaf))
        .layer(middleware::from_fn_with_state(
            enforcer.clone(),
            crate::limits::enforce_body,
        ))
        .layer(middleware::from_fn_with_state(access, check_access))
        .layer(middleware::from_fn_with_state(
            enforcer,
            crate::limits::enforce_rate,
        ))
        .with_state(backend)
}

/// Serves the API on `listener` until the task is dropped or accepting fails.
pub async fn serve(
    listener: TcpListener,
    backend: Backend,
    access: Access,
) -> Result<(), ServeError> {
    let bound = BoundAddr(listener.local_addr()?);
    let app = router(backend, access)
        .layer(axum::Extension(bound))
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}

async fn status(State(state): State<Backend>) -> Json<Status> {
    let snapshot = state.snapshots.borrow().clone();
    Json(snapshot.status(Instant::now()))
}

async fn peers(State(state): State<Backend>) -> Json<PeerList> {
    let snapshot = state.snapshots.borrow().clone();
    Json(snapshot.peer_list(Instant::now()))
}

async fn metrics(State(state): State<Backend>) -> Response {
    let snapshot = state.snapshots.borrow().clone();
    let text = crate::metrics::render(&snapshot, Instant::now());
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

const NO_SAM: &str = "this router has no [sam] section\n";

async fn enrollment(State(state): State<Backend>) -> Response {
    let snapshot = state.snapshots.borrow().clone();
    match &snapshot.sam {
        Some(sam) => Json(sam.enrollment.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, NO_SAM).into_response(),
    }
}

async fn tunnels(State(state): State<Backend>) -> Response {
    let snapshot = state.snapshots.borrow().clone();
    match &snapshot.sam {
        Some(sam) => Json(crate::sam::TunnelList {
            datapath: sam.datapath.clone(),
            tunnels: sam.tunnels.clone(),
        })
        .into_response(),
        None => (StatusCode::NOT_FOUND, NO_SAM).into_response(),
    }
}

/// `GET /v1/kernel`: the latest kernel read, or 404 on a router without a kernel table.
async fn kernel_view(State(state): State<Backend>) -> Response {
    match &state.kernel {
        Some(view) => {
            let view = view.borrow().clone();
            Json(view.as_ref().clone()).into_response()
        }
        None => (StatusCode::NOT_FOUND, NO_KERNEL_VIEW).into_response(),
    }
}

const NO_KERNEL_VIEW: &str = "this router installs no kernel routes (no kernel table)\n";

/// Query string of `/v1/routes`.
#[derive(serde::Deserialize)]
struct RoutesParams {
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

fn bad_request(error: String, hint: &str) -> Response {
    ErrorBody::respond(StatusCode::BAD_REQUEST, error, hint)
}

/// Parses the query parameter `name`; the error is the `400` answer to send.
fn parse_prefix(name: &str, text: Option<&str>) -> Result<Option<ipnet::IpNet>, Box<Response>> {
    let Some(text) = text else {
        return Ok(None);
    };
    text.parse::<ipnet::IpNet>().map(Some).map_err(|_| {
        Box::new(bad_request(
            format!("`{name}={text}` is not a prefix"),
            "write a prefix like 198.51.100.0/24 or 2001:db8::/32",
        ))
    })
}

async fn routes(State(state): State<Backend>, Query(params): Query<RoutesParams>) -> Response {
    let prefix = match parse_prefix("prefix", params.prefix.as_deref()) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let after = match parse_prefix("after", params.after.as_deref()) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let limit = match params.limit.as_deref().map(str::parse::<usize>) {
        None => None,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => Some(n),
        Some(_) => {
            return bad_request(
                format!("`limit` must be a number from 1 to {MAX_PAGE}"),
                "ask for smaller pages and follow `next`",
            );
        }
    };
    match (prefix, after, limit) {
        (Some(prefix), None, None) => {
            let prefix = prefix.trunc();
            ask_core(&state, |reply| RouteQuery::Explain { prefix, reply }).await
        }
        (within, after, limit) => {
            ask_core(&state, |reply| RouteQuery::List {
                within: within.map(|w| w.trunc()),
                after,
                limit: limit.unwrap_or(DEFAULT_PAGE),
                reply,
            })
            .await
        }
    }
}

/// Sends a question to the core and answers with its reply as JSON, or `503`.
async fn ask_core<T: serde::Serialize>(
    state: &Backend,
    question: impl FnOnce(oneshot::Sender<T>) -> RouteQuery,
) -> Response {
    let unavailable = |error: &str, hint: &str| {
        ErrorBody::respond(
            StatusCode::SERVICE_UNAVAILABLE,
            error.to_string(),
            hint.to_string(),
        )
    };
    let Some(queries) = &state.queries else {
        return unavailable(
            "route queries are not served here",
            "ask the router's own API address",
        );
    };
    let (reply, answer) = oneshot::channel();
    if queries.try_send(question(reply)).is_err() {
        return unavailable("the router is busy", "retry in a second");
    }
    match tokio::time::timeout(QUERY_TIMEOUT, answer).await {
        Ok(Ok(view)) => Json(view).into_response(),
        _ => unavailable("the router did not answer in time", "retry in a second"),
    }
}

/// How long a push or confirm waits for the core (verifying and applying take
/// milliseconds; a busy core answers late rather than never).
const CONFIG_TIMEOUT: Duration = Duration::from_secs(10);

async fn push_config(
    State(state): State<Backend>,
    bound: Option<axum::Extension<BoundAddr>>,
    body: axum::body::Bytes,
) -> Response {
    let arrived_on = bound.map(|b| b.0.0);
    ask_config(&state, |reply| ConfigCommand::Push {
        blob: body.to_vec(),
        arrived_on,
        reply,
    })
    .await
}

async fn confirm_config(State(state): State<Backend>) -> Response {
    ask_config(&state, |reply| ConfigCommand::Confirm { reply }).await
}

/// Sends a config command to the core; its reply as JSON, a refusal as an error body.
async fn ask_config<T: serde::Serialize>(
    state: &Backend,
    command: impl FnOnce(oneshot::Sender<Result<T, PushRefused>>) -> ConfigCommand,
) -> Response {
    let ask = CoreAsk {
        channel: state.config.as_ref(),
        not_served: (
            "config push is not served here",
            "push to the router's own API address",
        ),
        late_hint: "check /v1/status for the running config serial before retrying",
    };
    command_core(ask, command, |r: PushRefused| (r.status, r.error, r.hint)).await
}

async fn revoke_leaf(State(state): State<Backend>, body: axum::body::Bytes) -> Response {
    let leaf = match LeafRef::parse(&body) {
        Ok(leaf) => leaf,
        Err(error) => return bad_request(error, "send the leaf's policy and leaf id as JSON"),
    };
    ask_enrollment(&state, |reply| EnrollmentCommand::Revoke { leaf, reply }).await
}

async fn revoke_claim(State(state): State<Backend>, body: axum::body::Bytes) -> Response {
    let claim = match ClaimRef::parse(&body) {
        Ok(claim) => claim,
        Err(error) => return bad_request(error, "send the claim digest GET /v1/enrollment lists"),
    };
    ask_enrollment(&state, |reply| EnrollmentCommand::RevokeClaim {
        claim,
        reply,
    })
    .await
}

async fn reinstate_leaf(State(state): State<Backend>, body: axum::body::Bytes) -> Response {
    let leaf = match LeafRef::parse(&body) {
        Ok(leaf) => leaf,
        Err(error) => return bad_request(error, "send the leaf's policy and leaf id as JSON"),
    };
    ask_enrollment(&state, |reply| EnrollmentCommand::Reinstate { leaf, reply }).await
}

/// Sends a revocation command to the core; its reply as JSON, a refusal as an error body.
async fn ask_enrollment<T: serde::Serialize>(
    state: &Backend,
    command: impl FnOnce(oneshot::Sender<Result<T, EnrollmentRefused>>) -> EnrollmentCommand,
) -> Response {
    let ask = CoreAsk {
        channel: state.enrollment.as_ref(),
        not_served: (
            "revocation is not served here",
            "ask the route reflector's own API address",
        ),
        late_hint: "check GET /v1/enrollment before retrying",
    };
    command_core(ask, command, |r: EnrollmentRefused| {
        (r.status, r.error, r.hint)
    })
    .await
}

/// Where a command for the core goes, and what to say when it cannot be answered.
struct CoreAsk<'a, C> {
    /// The core's command channel; `None`: this server does not take such commands.
    channel: Option<&'a mpsc::Sender<C>>,
    /// Error and hint when `channel` is `None` (503).
    not_served: (&'static str, &'static str),
    /// Hint when the core does not answer within [`CONFIG_TIMEOUT`] (503).
    late_hint: &'static str,
}

/// Sends `command` to the core and waits (bounded) for its answer: the value as JSON, a
/// refusal as an error body with the refusal's status (409 when it is not a valid one),
/// 503 when the core is busy, absent or late.
async fn command_core<C, T: serde::Serialize, R>(
    ask: CoreAsk<'_, C>,
    command: impl FnOnce(oneshot::Sender<Result<T, R>>) -> C,
    refusal: impl FnOnce(R) -> (u16, String, String),
) -> Response {
    let unavailable = |error: &str, hint: &str| {
        ErrorBody::respond(
            StatusCode::SERVICE_UNAVAILABLE,
            error.to_string(),
            hint.to_string(),
        )
    };
    let Some(channel) = ask.channel else {
        return unavailable(ask.not_served.0, ask.not_served.1);
    };
    let (reply, answer) = oneshot::channel();
    if channel.try_send(command(reply)).is_err() {
        return unavailable("the router is busy", "retry in a second");
    }
    match tokio::time::timeout(CONFIG_TIMEOUT, answer).await {
        Ok(Ok(Ok(value))) => Json(value).into_response(),
        Ok(Ok(Err(refused))) => {
            let (status, error, hint) = refusal(refused);
            ErrorBody::respond(
                StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
                error,
                hint,
            )
        }
        _ => unavailable("the router did not answer in time", ask.late_hint),
    }
}

async fn check_access(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if !access.source_allowed(source) {
        return (StatusCode::FORBIDDEN, "source address not allowed\n").into_response();
    }
    match &access.auth {
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
