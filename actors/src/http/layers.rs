//! The stack around the service's router: request id (kept when sane,
//! generated otherwise, echoed), a span per request, the in-flight count
//! and panic → 500 in the outermost service (`track.rs`); request timeout
//! → 503 and body limit → 413 around the router; request metrics inside
//! it. Each optional layer can be switched off in `site.http`.

use std::convert::Infallible;

use axum::BoxError;
use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::extract::DefaultBodyLimit;
use tower::{Service, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;

use super::admission::Admission;
use super::metrics::MetricsLayer;
use super::request_id::RequestIds;
use super::server::Serves;
use super::timeout::TimeoutLayer;
use super::toggle::Toggle;
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
    /// 503 (a timer per request).
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

impl HttpLayers {
    /// Whether any layer wraps the router from outside (body limit,
    /// timeout); request id, the request span, panic catching and the
    /// in-flight count live in the outermost service, and metrics inside
    /// the router.
    ///
    /// ```
    /// let mut layers = micro_actors::HttpLayers::default();
    /// assert!(layers.wrap_router());
    /// (layers.limit_body, layers.timeout) = (false, false);
    /// assert!(!layers.wrap_router());
    /// ```
    #[must_use]
    pub fn wrap_router(&self) -> bool {
        self.limit_body || self.timeout
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
        }
    }
}

/// The body limit axum's extractors apply by themselves.
const AXUM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// `router` wrapped in the stack HttpActor serves it with. Request metrics
/// sit inside the router (they need the matched route); every other layer
/// wraps the router from outside, each behind a `Toggle`, so the stack is
/// one type whatever is switched on and no layer boxes a body or a future;
/// outermost, one service counts the request in flight (until its body is
/// sent) and assigns and echoes its request id.
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
    toggled(router, limits, layers, in_flight)
}

/// [`with_layers`], as the server serves it (one per connection).
pub(crate) fn toggled<B>(
    router: Router,
    limits: HttpLimits,
    layers: HttpLayers,
    in_flight: InFlight,
) -> Track<
    impl Service<
        axum::http::Request<B>,
        Response = axum::http::Response<impl HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static>,
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
    let router = measured(router, limits, layers);
    // All off: the router behind one `Toggle`, not three.
    let stack = Toggle::new(layers.wrap_router(), || {
        ServiceBuilder::new()
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
    Track::new(
        ServiceBuilder::new().layer(stack).service(router),
        in_flight,
        duties(layers, &limits),
    )
}

/// Both bounds on (the production defaults): the body limit and the
/// timeout around the router with no [`Toggle`] around each, one stack
/// type chosen per server as [`tracked`] is (a request moves through one
/// layer less of `Either` futures for each).
pub(crate) fn bounded(router: Router, limits: HttpLimits, layers: HttpLayers, in_flight: InFlight) -> impl Serves {
    let router = measured(router, limits, layers);
    let stack = ServiceBuilder::new()
        .layer(Toggle::new(
            limits.body_limit > AXUM_BODY_LIMIT,
            DefaultBodyLimit::disable,
        ))
        .layer(RequestBodyLimitLayer::new(limits.body_limit))
        .layer(TimeoutLayer::new(limits.request_timeout))
        .service(router);
    Track::new(stack, in_flight, duties(layers, &limits))
}

/// `router` with nothing but [`Track`] around it: what the server serves
/// when no layer wraps the router ([`HttpLayers::wrap_router`] is false).
/// One type chosen per server, not a `Toggle` per request: a request moves
/// no futures sized for layers that are off.
pub(crate) fn tracked(router: Router, limits: HttpLimits, layers: HttpLayers, in_flight: InFlight) -> Track<Router> {
    Track::new(measured(router, limits, layers), in_flight, duties(layers, &limits))
}

/// The router with request metrics inside it (they need the matched
/// route), its handlers made routes once (`with_state`, as `axum::serve`
/// does) instead of at every request.
fn measured(router: Router, limits: HttpLimits, layers: HttpLayers) -> Router {
    let router = if layers.metrics {
        let timeout = layers.timeout.then_some(limits.request_timeout);
        router.layer(MetricsLayer::new(timeout))
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
        catch_panic: layers.catch_panic,
    }
}
