//! The shutdown signal handlers read: every request the server serves
//! carries the server's [`Shutdown`] as a request extension, requested when
//! its drain begins (the listener closes). axum handlers take it as an
//! extractor; any other service in the stack (tonic) reads
//! `request.extensions().get::<Shutdown>()`.

use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use tower::Service;

use crate::worker::Shutdown;

/// `inner` with the server's [`Shutdown`] put into every request.
#[derive(Debug, Clone)]
pub(super) struct WithShutdown<S> {
    inner: S,
    shutdown: Shutdown,
}

impl<S> WithShutdown<S> {
    pub(super) fn new(inner: S, shutdown: Shutdown) -> Self {
        Self { inner, shutdown }
    }
}

impl<S, B> Service<Request<B>> for WithShutdown<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.shutdown.clone());
        self.inner.call(request)
    }
}

/// A handler's shutdown signal: requested when the server's drain begins,
/// so a WebSocket can send close 1001 (going away) and a stream (SSE,
/// chunked) can end before the drain's bound cuts it. Outside a server of
/// micro (a router called directly) there is none: 500.
///
/// ```
/// use axum::{Router, body::Body, http::Request, routing::get};
/// use micro_actors::Shutdown;
/// use tower::ServiceExt as _;
///
/// async fn until_shutdown(shutdown: Shutdown) -> &'static str {
///     shutdown.requested().await;
///     "stopping"
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = Router::new().route("/", get(until_shutdown));
/// // What micro's server does for every request:
/// let (stop, shutdown) = Shutdown::pair();
/// let mut request = Request::get("/").body(Body::empty()).unwrap();
/// request.extensions_mut().insert(shutdown);
/// stop.send_replace(true);
/// let response = app.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// // Without it:
/// let response = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(response.status(), 500);
/// # });
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Shutdown {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "no shutdown signal: the router is not served by micro",
        ))
    }
}
