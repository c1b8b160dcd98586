//! The tower-http stack around the service's router: request id (kept when
//! sane, generated otherwise, echoed), a trace span per request, request
//! metrics, panic → 500, request timeout → 503, body limit → 413. (The
//! in-flight count wraps all of it in the server: see `state.rs`.)
//! Each optional layer can be switched off in `site.http`.

use std::convert::Infallible;

use axum::BoxError;
use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::HttpLimits;
use super::metrics::MetricsLayer;
use super::timeout::TimeoutLayer;
use super::toggle::Toggle;

/// Which optional layers run.
///
/// ```
/// let layers = micro_actors::HttpLayers::default();
/// assert!(layers.request_id && layers.trace && layers.catch_panic && layers.metrics);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLayers {
    /// `x-request-id`: kept when the client sent a sane one, generated
    /// (a per-process random prefix and a counter) otherwise, echoed in
    /// the response.
    pub request_id: bool,
    /// A span per request (level DEBUG: free unless asked for) with the
    /// method, path and request id.
    pub trace: bool,
    /// A panicking handler answers 500; the process lives on.
    pub catch_panic: bool,
    /// `http_requests_total` and `http_request_duration_seconds` by method,
    /// route and status, recorded into the process's `metrics` recorder.
    pub metrics: bool,
    /// A request running past [`HttpLimits::request_timeout`] is answered
    /// 503 (a timer per request).
    pub timeout: bool,
    /// A request body over [`HttpLimits::body_limit`] is answered 413. Off,
    /// axum's own 2 MB limit still applies to its body extractors.
    pub limit_body: bool,
    /// Every request's headers must arrive within
    /// [`HttpLimits::header_read_timeout`] (hyper arms a timer per request).
    /// Off, only a new connection's first byte is bounded: for services
    /// behind a proxy that bounds slow clients itself.
    pub header_timeout: bool,
}

impl Default for HttpLayers {
    fn default() -> Self {
        Self {
            request_id: true,
            trace: true,
            catch_panic: true,
            metrics: true,
            timeout: true,
            limit_body: true,
            header_timeout: true,
        }
    }
}

/// The body limit axum's extractors apply by themselves.
const AXUM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The longest client-sent request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// `router` wrapped in the stack HttpActor serves it with. Request metrics
/// sit inside the router (they need the matched route); every other layer
/// wraps the router from outside, each behind a [`Toggle`], so the stack is
/// one type whatever is switched on and no layer boxes a body or a future.
///
/// ```
/// use micro_actors::{HttpLayers, HttpLimits, http::with_layers};
/// use tower::ServiceExt as _;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
/// let served = with_layers(app, HttpLimits::default(), HttpLayers::default());
/// let request = axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap();
/// let response = served.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert!(response.headers().contains_key("x-request-id"));
/// # });
/// ```
pub fn with_layers<B>(
    router: Router,
    limits: HttpLimits,
    layers: HttpLayers,
) -> impl Service<
    axum::http::Request<B>,
    Response = axum::http::Response<impl HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let router = if layers.metrics {
        let timeout = layers.timeout.then_some(limits.request_timeout);
        router.layer(MetricsLayer::new(timeout))
    } else {
        router
    };
    let any = layers.request_id || layers.trace || layers.catch_panic || layers.limit_body || layers.timeout;
    // All off: the router behind one `Toggle`, not five.
    let stack = Toggle::new(any, || {
        ServiceBuilder::new()
            .layer(Toggle::new(layers.request_id, || {
                ServiceBuilder::new()
                    .layer(SetRequestIdLayer::x_request_id(SequentialIds::default()))
                    .layer(PropagateRequestIdLayer::x_request_id())
                    .into_inner()
            }))
            .layer(Toggle::new(layers.trace, || {
                TraceLayer::new_for_http().make_span_with(request_span as fn(&axum::http::Request<B>) -> tracing::Span)
            }))
            .layer(Toggle::new(layers.catch_panic, CatchPanicLayer::new))
            .layer(Toggle::new(layers.limit_body, || {
                ServiceBuilder::new()
                    // axum's extractors stop at 2 MiB unless told otherwise:
                    // only a larger limit needs them told (an extension per
                    // request); up to 2 MiB ours answers first.
                    .layer(Toggle::new(
                        limits.body_limit > AXUM_BODY_LIMIT,
                        DefaultBodyLimit::disable,
                    ))
                    .layer(RequestBodyLimitLayer::new(limits.body_limit))
                    .into_inner()
            }))
            .layer(Toggle::new(layers.timeout, || {
                TimeoutLayer::new(limits.request_timeout)
            }))
            .into_inner()
    });
    ServiceBuilder::new().layer(stack).service(router)
}

/// The span of one request: DEBUG, so free unless asked for.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or("");
    tracing::debug_span!(target: "micro::request", "request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// Whether a client-sent id may be echoed and logged: short and plain
/// (letters, digits, `-`, `_`, `.`, `:`).
fn sane(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Drops a client-sent `x-request-id` that is not [`sane`], so one is
/// generated instead; called by the server's `Track` before the router.
pub(crate) fn drop_insane_request_id(headers: &mut axum::http::HeaderMap) {
    if headers.get(X_REQUEST_ID).is_some_and(|id| !sane(id)) {
        headers.remove(X_REQUEST_ID);
    }
}

const X_REQUEST_ID: &str = "x-request-id";

/// Request ids unique within the process and across restarts: a random
/// 64-bit prefix drawn once per process, then a counter
/// (`3f9a0c2e5b7d1184-000000000000002a`). A UUID v4 per request costs a
/// trip to the OS random source; these cost an atomic increment.
#[derive(Debug, Clone)]
struct SequentialIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl Default for SequentialIds {
    fn default() -> Self {
        // RandomState is seeded from the OS once per process (per thread
        // afterwards it only increments): good enough to tell processes apart.
        let prefix =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), std::process::id());
        Self {
            prefix,
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut text = [0_u8; 33];
        write_hex(&mut text[..16], self.prefix);
        text[16] = b'-';
        write_hex(&mut text[17..], n);
        HeaderValue::from_bytes(&text).ok().map(RequestId::new)
    }
}

/// `value` as lowercase hex, zero-padded to 16 digits.
fn write_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().take(16).enumerate() {
        *byte = DIGITS[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_plain_distinct_and_fixed_length() {
        let mut ids = SequentialIds::default();
        let request = axum::http::Request::new(());
        let first = ids.make_request_id(&request).expect("an id");
        let second = ids.make_request_id(&request).expect("an id");
        let (first, second) = (first.header_value().clone(), second.header_value().clone());
        assert_ne!(first, second);
        assert!(sane(&first) && sane(&second));
        assert_eq!(first.len(), 33);
        assert!(
            first.to_str().expect("ascii").ends_with("-0000000000000000"),
            "{first:?}"
        );
    }

    #[test]
    fn an_insane_client_id_is_dropped_and_a_sane_one_kept() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        drop_insane_request_id(&mut headers);
        assert_eq!(headers[X_REQUEST_ID], "abc-123");
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        drop_insane_request_id(&mut headers);
        assert!(headers.get(X_REQUEST_ID).is_none());
    }
}
