//! Shared HTTP state read on the request path without messages: readiness
//! and the in-flight request count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

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
    #[must_use]
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the service ready or not.
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
    /// Requests being handled now.
    #[must_use]
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Counts one request until the guard drops.
    #[must_use]
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(Arc::clone(&self.0))
    }

    /// Middleware body counting each request until its response body has
    /// been sent (or dropped), so a streaming response counts as in flight.
    pub(crate) async fn track(self, request: Request, next: Next) -> Response {
        let guard = self.enter();
        next.run(request)
            .await
            .map(|body| Body::new(GuardedBody { body, _guard: guard }))
    }
}

/// A response body that holds an [`InFlightGuard`] until it is finished or dropped.
struct GuardedBody {
    body: Body,
    _guard: InFlightGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Decrements the in-flight count when dropped.
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
