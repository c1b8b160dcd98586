//! The tower-http stack around the service's router: in-flight count,
//! request id (kept when sane, generated otherwise, echoed), a trace span
//! per request, request metrics, panic → 500, request timeout → 503, body
//! limit → 413.
//! Each optional layer can be switched off in `site.http`.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::metrics::MetricsLayer;
use super::state::TrackLayer;
use super::{HttpLimits, InFlight};

/// Which optional layers run.
///
/// ```
/// let layers = micro_actors::HttpLayers::default();
/// assert!(layers.request_id && layers.trace && layers.catch_panic && layers.metrics);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLayers {
    /// `x-request-id`: kept when the client sent a sane one, generated
    /// (UUID v4) otherwise, echoed in the response.
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
        }
    }
}

/// The longest client-sent request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// `router` wrapped in the stack HttpActor serves it with.
///
/// ```
/// use micro_actors::{HttpLayers, HttpLimits, InFlight, http::with_layers};
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
/// let served = with_layers(app, HttpLimits::default(), HttpLayers::default(), InFlight::default());
/// # let _ = served;
/// ```
pub fn with_layers(router: Router, limits: HttpLimits, layers: HttpLayers, in_flight: InFlight) -> Router {
    let mut router = router;
    if layers.limit_body {
        router = router
            .layer(DefaultBodyLimit::disable())
            .layer(RequestBodyLimitLayer::new(limits.body_limit));
    }
    if layers.timeout {
        router = router.layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    }
    if layers.catch_panic {
        router = router.layer(CatchPanicLayer::new());
    }
    if layers.metrics {
        router = router.layer(MetricsLayer::default());
    }
    if layers.trace {
        router = router.layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|id| id.to_str().ok())
                .unwrap_or("");
            tracing::debug_span!(target: "micro::request", "request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }));
    }
    if layers.request_id {
        router = router
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(axum::middleware::map_request(drop_insane_request_id));
    }
    router.layer(TrackLayer(in_flight))
}

/// A client-sent id is echoed and logged: keep it only when it is short and
/// plain (letters, digits, `-`, `_`, `.`, `:`), so a client cannot inject
/// text into logs or responses; otherwise one is generated.
async fn drop_insane_request_id(mut request: Request) -> Request {
    let sane = |id: &HeaderValue| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    if request.headers().get("x-request-id").is_some_and(|id| !sane(id)) {
        request.headers_mut().remove("x-request-id");
    }
    request
}
