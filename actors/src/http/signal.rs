//! The shutdown signal handlers read: every request the server serves
//! carries the server's [`Shutdown`] as a request extension, requested when
//! its drain begins (the listener closes). axum handlers take it as an
//! extractor; any other service in the stack (tonic) reads
//! `request.extensions().get::<Shutdown>()`.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Extensions, Request, StatusCode};
use tower::Service;

use super::header_timeout::{Activity, PerConnection};
use crate::worker::Shutdown;

/// `inner` with the server's [`Shutdown`] put into every request.
#[derive(Debug, Clone)]
pub(super) struct WithShutdown<S> {
    inner: S,
    /// Extensions holding only the [`Shutdown`], in a map with room for
    /// what axum's router adds (original URI, matched path, path
    /// parameters): a request's extensions start as a copy of it, so the
    /// map does not grow under them (a rehash, ~500 instructions).
    /// Shared: hyper clones the service for every request.
    template: Arc<Extensions>,
}

/// Entries a request's extension map has room for without growing.
struct Room<const N: usize>;

impl<const N: usize> Clone for Room<N> {
    fn clone(&self) -> Self {
        Self
    }
}

impl<S> WithShutdown<S> {
    pub(super) fn new(inner: S, shutdown: Shutdown) -> Self {
        let mut template = Extensions::new();
        template.insert(shutdown);
        // Four entries grow the map to eight slots; removing entries
        // never shrinks it, and a copy keeps its slots.
        template.insert(Room::<1>);
        template.insert(Room::<2>);
        template.insert(Room::<3>);
        template.remove::<Room<1>>();
        template.remove::<Room<2>>();
        template.remove::<Room<3>>();
        Self {
            inner,
            template: Arc::new(template),
        }
    }
}

impl<S: PerConnection> PerConnection for WithShutdown<S> {
    fn for_connection(&self, activity: Option<Arc<Activity>>) -> Self {
        Self {
            inner: self.inner.for_connection(activity),
            template: Arc::clone(&self.template),
        }
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
        let extensions = request.extensions_mut();
        if extensions.is_empty() {
            extensions.clone_from(&self.template);
        } else {
            // hyper's upgrade handle is there already.
            extensions.extend(Extensions::clone(&self.template));
        }
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{ServiceExt as _, service_fn};

    use super::*;

    #[tokio::test]
    async fn a_request_gets_the_shutdown_alone_or_beside_the_extensions_it_came_with() {
        let (stop, shutdown) = Shutdown::pair();
        let service = WithShutdown::new(
            service_fn(|request: Request<()>| async move {
                let extensions = request.extensions();
                Ok::<_, Infallible>((
                    extensions.get::<Shutdown>().map(Shutdown::is_requested),
                    extensions.get::<&'static str>().copied(),
                    extensions.len(),
                ))
            }),
            shutdown,
        );
        let plain = service.clone().oneshot(Request::new(())).await.expect("infallible");
        assert_eq!(plain, (Some(false), None, 1), "the shutdown and nothing else");
        let mut upgrade = Request::new(());
        upgrade.extensions_mut().insert("hyper's upgrade handle");
        stop.send_replace(true);
        let upgrade = service.oneshot(upgrade).await.expect("infallible");
        assert_eq!(upgrade, (Some(true), Some("hyper's upgrade handle"), 2));
    }
}
