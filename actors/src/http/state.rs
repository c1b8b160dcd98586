//! Shared HTTP state read on the request path without messages: readiness
//! and the in-flight request count.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::HttpBody;
use axum::http;
use http_body::{Frame, SizeHint};
use tower::Service;

/// Whether the service wants traffic. Flipped by HttpActor on `SetReady`,
/// read by the health routes with one atomic load.
///
/// ```
/// let ready = micro_actors::Readiness::default();
/// assert!(!ready.get());
/// ready.set(true);
/// assert!(ready.clone().get());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Whether the service is ready.
    ///
    /// ```
    /// let ready = micro_actors::Readiness::default();
    /// assert!(!ready.get()); // not ready until told
    /// ```
    #[must_use]
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the service ready or not; every clone sees the change.
    ///
    /// ```
    /// let ready = micro_actors::Readiness::default();
    /// let seen_by_routes = ready.clone();
    /// ready.set(true);
    /// assert!(seen_by_routes.get());
    /// ready.set(false);
    /// assert!(!seen_by_routes.get());
    /// ```
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
}

/// Counts requests being handled. A guard per request decrements on drop,
/// so cancelled requests count down too.
///
/// ```
/// let in_flight = micro_actors::InFlight::default();
/// let guard = in_flight.enter();
/// assert_eq!(in_flight.current(), 1);
/// drop(guard);
/// assert_eq!(in_flight.current(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Requests being handled now, across every clone.
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::default();
    /// assert_eq!(in_flight.current(), 0);
    /// let _first = in_flight.clone().enter();
    /// let _second = in_flight.enter();
    /// assert_eq!(in_flight.current(), 2);
    /// ```
    #[must_use]
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Counts one request until the guard drops, even when the request's
    /// future is cancelled before it finishes.
    ///
    /// ```
    /// let in_flight = micro_actors::InFlight::default();
    /// let guard = in_flight.enter();
    /// let request = async move {
    ///     let _guard = guard;
    /// };
    /// assert_eq!(in_flight.current(), 1);
    /// drop(request); // cancelled, never polled
    /// assert_eq!(in_flight.current(), 0);
    /// ```
    #[must_use]
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(Arc::clone(&self.0))
    }
}

/// The service the server calls for each request: the router, with each
/// request counted as in flight until its response body has been sent (or
/// dropped), so a streaming response counts too. It wraps the router from
/// outside, so the response body is wrapped without being boxed again.
/// When request ids are on, a client-sent `x-request-id` that is not short
/// and plain is dropped here (a new one is then generated), so a client
/// cannot inject text into logs or responses.
#[derive(Debug, Clone)]
pub(crate) struct Track<S> {
    inner: S,
    in_flight: InFlight,
    sanitize_request_id: bool,
}

impl<S> Track<S> {
    pub(crate) fn new(inner: S, in_flight: InFlight, sanitize_request_id: bool) -> Self {
        Self {
            inner,
            in_flight,
            sanitize_request_id,
        }
    }
}

impl<S, B, RB> Service<http::Request<B>> for Track<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<GuardedBody<RB>>;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if self.sanitize_request_id {
            super::layers::drop_insane_request_id(request.headers_mut());
        }
        let guard = self.in_flight.enter();
        TrackFuture {
            inner: self.inner.call(request),
            guard: Some(guard),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Track`]: hands its guard to the body.
    pub(crate) struct TrackFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlightGuard>,
    }
}

impl<F, E, RB> Future for TrackFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<GuardedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(response.map(|body| GuardedBody { body, _guard: guard })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that holds an [`InFlightGuard`] until it is finished or dropped.
    pub(crate) struct GuardedBody<B> {
        #[pin]
        body: B,
        _guard: Option<InFlightGuard>,
    }
}

impl<B: HttpBody> HttpBody for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Decrements the in-flight count when dropped.
///
/// ```
/// let in_flight = micro_actors::InFlight::default();
/// let guards: Vec<micro_actors::http::InFlightGuard> = (0..3).map(|_| in_flight.enter()).collect();
/// assert_eq!(in_flight.current(), 3);
/// drop(guards);
/// assert_eq!(in_flight.current(), 0);
/// ```
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
