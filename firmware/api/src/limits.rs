//! Request limits: a token bucket per source address (`429`) and a cap on request bodies
//! (`413`), both answered with an [`ErrorBody`] that says what to do.
//!
//! Contract: [`Limits`] is fixed when the server starts (from the config's `[api]`
//! `rate_per_second` and `rate_burst`, through [`crate::server::Access::limits`]). The rate limit runs before any
//! other check, so a client guessing tokens is slowed down as much as any other; a source
//! spends one token per request, its bucket holds at most [`Limits::burst`] tokens and
//! refills at [`Limits::per_second`]. At most [`Limits::max_sources`] buckets are kept:
//! full buckets are forgotten first, and while every tracked source is active a new source
//! is answered `429` (it retries like any limited client). The body cap applies to the
//! declared `Content-Length` and, for chunked bodies, to the bytes actually read: the
//! handler only ever sees a body that fits.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// How much one source may ask, and how large a request may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes (a signed config blob fits with room to spare).
    pub max_body_bytes: usize,
    /// Requests a quiet source may send at once.
    pub burst: u32,
    /// Requests per second a source may sustain.
    pub per_second: u32,
    /// Sources tracked at once.
    pub max_sources: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 256 * 1024,
            burst: 60,
            per_second: 30,
            max_sources: 4096,
        }
    }
}

impl Limits {
    /// The default limits with this request rate per source.
    pub fn with_rate(per_second: u32, burst: u32) -> Limits {
        Limits {
            per_second,
            burst,
            ..Limits::default()
        }
    }
}

/// JSON body of every refusal by the limits: what went wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, e.g. `too many requests`.
    pub error: String,
    /// What to do next, e.g. `retry after 1 s`.
    pub hint: String,
}

impl ErrorBody {
    /// A response with `status` and this body as JSON.
    pub fn respond(
        status: StatusCode,
        error: impl Into<String>,
        hint: impl Into<String>,
    ) -> Response {
        let body = ErrorBody {
            error: error.into(),
            hint: hint.into(),
        };
        (status, Json(body)).into_response()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-source token buckets.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: Limits,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// Empty buckets table for `limits`.
    pub(crate) fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one token of `source` at `now`; `Err(wait)` when none is left.
    pub(crate) fn take(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.limits.burst.max(1));
        let rate = f64::from(self.limits.per_second.max(1));
        let refill = |b: &Bucket| {
            (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(burst)
        };
        // A poisoned lock only means another request panicked mid-update; the table
        // itself is still a valid map of buckets.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&source) && buckets.len() >= self.limits.max_sources {
            buckets.retain(|_, b| refill(b) < burst);
            if buckets.len() >= self.limits.max_sources {
                return Err(Duration::from_secs_f64(1.0 / rate));
            }
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64((1.0 - tokens) / rate))
        }
    }
}

/// The state of [`enforce_rate`] and [`enforce_body`].
#[derive(Debug, Clone)]
pub(crate) struct Enforcer {
    limits: Limits,
    rate: Arc<RateLimiter>,
}

impl Enforcer {
    /// Enforces `limits` with fresh buckets.
    pub(crate) fn new(limits: Limits) -> Enforcer {
        Enforcer {
            limits,
            rate: Arc::new(RateLimiter::new(limits)),
        }
    }
}

/// Middleware: one token per request from the connection's source, else `429`.
pub(crate) async fn enforce_rate(
    State(enforcer): State<Enforcer>,
    request: Request,
    next: Next,
) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    if let Some(source) = source
        && let Err(wait) = enforcer.rate.take(source, Instant::now())
    {
        let secs = wait.as_secs().max(1);
        let mut response = ErrorBody::respond(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many requests from {source} (at most {} at once, {} per second)",
                enforcer.limits.burst, enforcer.limits.per_second
            ),
            format!("wait {secs} s (Retry-After) and send fewer requests per second"),
        );
        if let Ok(value) = secs.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

/// Middleware: bodies larger than [`Limits::max_body_bytes`] are answered `413`.
pub(crate) async fn enforce_body(
    State(enforcer): State<Enforcer>,
    request: Request,
    next: Next,
) -> Response {
    let max = enforcer.limits.max_body_bytes;
    let too_large = || {
        ErrorBody::respond(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {max} bytes"),
            "send a smaller body; a signed config blob is far below this limit",
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, max).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => too_large(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_second: u32, max_sources: usize) -> RateLimiter {
        RateLimiter::new(Limits {
            burst,
            per_second,
            max_sources,
            ..Limits::default()
        })
    }

    #[test]
    fn a_source_gets_its_burst_then_waits_for_refill() {
        let rl = limiter(3, 2, 16);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.take(a, t0), Ok(()));
        }
        let wait = rl.take(a, t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Half a second at 2/s refills one token, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(rl.take(a, t1), Ok(()));
        assert!(rl.take(a, t1).is_err());
    }

    #[test]
    fn sources_have_separate_buckets() {
        let rl = limiter(1, 1, 16);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(rl.take(a, t0).is_ok());
        assert!(rl.take(a, t0).is_err());
        assert!(rl.take(b, t0).is_ok());
    }

    #[test]
    fn full_buckets_are_forgotten_when_the_table_is_full() {
        let rl = limiter(2, 1, 2);
        let t0 = Instant::now();
        let ip = |i: u8| IpAddr::from([192, 0, 2, i]);
        assert!(rl.take(ip(1), t0).is_ok());
        assert!(rl.take(ip(2), t0).is_ok());
        // Both tracked sources are active: a third one waits.
        assert!(rl.take(ip(3), t0).is_err());
        // Two seconds later their buckets are full again and make room.
        assert!(rl.take(ip(3), t0 + Duration::from_secs(2)).is_ok());
    }
}
