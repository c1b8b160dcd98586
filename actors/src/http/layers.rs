//! The stack around the service's router: request id (kept when sane,
//! generated otherwise, echoed), a span per request, the in-flight count,
//! panic → 500, request timeout → 503 and body limit → 413 in the one
//! service around it (`track.rs`); request metrics inside it. Each
//! optional layer can be switched off in `site.http`.

use std::convert::Infallible;

use axum::BoxError;
use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::extract::DefaultBodyLimit;
use http_body_util::Limited;
use tower::util::Either;
use tower::{Layer as _, Service};

use super::admission::Admission;
use super::bounds::Bounds;
use super::metrics::MetricsLayer;
use super::request_id::RequestIds;
use super::track::{Duties, Track};
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
    /// 503 (a timer for each request whose handler waits).
    pub timeout: bool,
    /// A request body over [`HttpLimits::body_limit`] is answered 413. Off,
    /// axum's own 2 MB limit still applies to its body extractors.
    pub limit_body: bool,
    /// Every request's headers must arrive within
    /// [`HttpLimits::header_read_timeout`] (up to a quarter more): a
    /// connection with no request in progress for that long is closed.
    /// Off, only a new connection's first byte is bounded: for services
    /// behind a proxy that bounds slow clients itself.
    pub header_timeout: bool,
    /// An INFO span per request for OpenTelemetry (the HTTP server span:
    /// method, route, status), parented on the request's `traceparent`
    /// when micro-actors is built with the feature `otel`; with its trace
    /// and span ids on every log line inside the request. Set when
    /// telemetry exports, never by `site.http`.
    pub server_spans: bool,
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
            server_spans: false,
        }
    }
}

impl From<&micro_config::site::HttpConfig> for HttpLayers {
    /// The switches of `site.http`.
    ///
    /// ```
    /// let site = micro_config::SiteConfig::default();
    /// assert_eq!(micro_actors::HttpLayers::from(&site.http), micro_actors::HttpLayers::default());
    /// ```
    fn from(http: &micro_config::site::HttpConfig) -> Self {
        Self {
            request_id: http.request_id,
            trace: http.trace,
            catch_panic: http.catch_panic,
            metrics: http.metrics,
            timeout: http.timeout,
            limit_body: http.limit_body,
            header_timeout: http.header_timeout,
            server_spans: false,
        }
    }
}

/// The body limit axum's extractors apply by themselves.
const AXUM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// `router` as HttpActor serves it: request metrics inside the router
/// (they need the matched route); around it one service (`Track`) that
/// counts the request in flight (until its body is sent), admits it or
/// not, assigns and echoes its request id, opens its span, catches panics
/// and keeps its body limit and timeout. No layer boxes a body or a
/// future.
///
/// ```
/// use micro_actors::{HttpLayers, HttpLimits, InFlight, http::with_layers};
/// use tower::ServiceExt as _;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
/// let served = with_layers(app, HttpLimits::default(), HttpLayers::default(), InFlight::default());
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
    in_flight: InFlight,
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
    if tells_extractors(limits, layers) {
        Either::Left(widened(router, limits, layers, in_flight))
    } else {
        Either::Right(tracked(router, limits, layers, in_flight))
    }
}

/// Whether axum's extractors must be told that the body limit is ours:
/// they stop at 2 MiB by themselves, so only a larger limit needs them told
/// (an extension per request); up to 2 MiB ours answers first.
pub(crate) fn tells_extractors(limits: HttpLimits, layers: HttpLayers) -> bool {
    layers.limit_body && limits.body_limit > AXUM_BODY_LIMIT
}

/// `router` with nothing but [`Track`] around it: what the server serves
/// unless [`tells_extractors`]. One type chosen per server, not a `Toggle`
/// per request: a request moves no futures sized for what is off.
pub(crate) fn tracked(router: Router, limits: HttpLimits, layers: HttpLayers, in_flight: InFlight) -> Track<Router> {
    Track::new(measured(router, limits, layers), in_flight, duties(layers, &limits))
}

/// [`tracked`], with axum's extractors told to leave the body limit to
/// ours (a body limit over 2 MiB).
pub(crate) fn widened<B>(
    router: Router,
    limits: HttpLimits,
    layers: HttpLayers,
    in_flight: InFlight,
) -> Track<
    impl Service<
        axum::http::Request<Limited<B>>,
        Response = axum::http::Response<axum::body::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static,
>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let router = DefaultBodyLimit::disable().layer(measured(router, limits, layers));
    Track::new(router, in_flight, duties(layers, &limits))
}

/// The router with request metrics inside it (they need the matched
/// route), its handlers made routes once (`with_state`, as `axum::serve`
/// does) instead of at every request.
fn measured(router: Router, limits: HttpLimits, layers: HttpLayers) -> Router {
    let router = if layers.metrics {
        let timeout = layers.timeout.then_some(limits.request_timeout);
        router.layer(MetricsLayer::new(timeout, layers.server_spans))
    } else {
        router
    };
    router.with_state(())
}

fn duties(layers: HttpLayers, limits: &HttpLimits) -> Duties {
    Duties {
        admission: Admission::new(limits),
        ids: layers.request_id.then(RequestIds::new),
        trace: layers.trace,
        server_spans: layers.server_spans,
        catch_panic: layers.catch_panic,
        bounds: Bounds {
            body_limit: layers.limit_body.then_some(limits.body_limit),
            timeout: layers.timeout.then_some(limits.request_timeout),
        },
    }
}
