//! [`Track`]: the outermost service, wrapped around the layered router.
//! For each request it
//! - counts it in flight until its response body has been sent (or
//!   dropped), so a streaming response counts too (the drain waits on this);
//! - refuses it with 503 and `Retry-After`, at once and counted, when
//!   `max_in_flight` requests already are, unless it is a probe or a
//!   scrape (see `admission.rs`);
//! - assigns and echoes its `x-request-id` (see `request_id.rs`), when on;
//! - opens the request's span (`micro::request`, DEBUG: method, path,
//!   request id) around the handler, with a "started processing request"
//!   and a "finished processing request" (status, latency) event, when on;
//!   a disabled span costs a callsite check, no clock read;
//! - answers 500 when anything under it panics, when on (the panic hook has
//!   already logged the panic through tracing), and the process lives on;
//! - keeps the request's body limit (413) and timeout (503), when on (see
//!   `bounds.rs`);
//! - counts the request busy on its connection, for the header read
//!   timeout (see `header_timeout.rs`).
//!
//! One pass, no boxing: the response body is wrapped in [`GuardedBody`],
//! never boxed again. (tower-http's `CatchPanicLayer` boxes every response
//! body, ~4,300 instructions per request; its `TraceLayer` with the span
//! disabled still cost ~1,500.)

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Bytes, HttpBody};
use axum::http::{self, HeaderValue, StatusCode, header};
use http_body::{Frame, SizeHint};
use http_body_util::{Either, Full, Limited};
use tower::Service;

use super::admission::{Admission, overloaded};
use super::bounds::{Bounds, Deadline, timed_out, too_large};
use super::header_timeout::{Activity, Busy, PerConnection};
use super::request_id::{RequestIds, echo};
use super::{InFlight, InFlightGuard};

/// What [`Track`] does besides counting.
#[derive(Debug, Clone)]
pub(crate) struct Duties {
    pub(crate) admission: Option<Admission>,
    pub(crate) ids: Option<RequestIds>,
    pub(crate) trace: bool,
    pub(crate) server_spans: bool,
    pub(crate) catch_panic: bool,
    pub(crate) bounds: Bounds,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Track<S> {
    inner: S,
    // One `Arc`: hyper clones the service for every request.
    shared: Arc<(InFlight, Duties)>,
    /// The connection's, while the header timeout is on.
    activity: Option<Arc<Activity>>,
}

impl<S: Clone> PerConnection for Track<S> {
    fn for_connection(&self, activity: Option<Arc<Activity>>) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            activity,
        }
    }
}

impl<S> Track<S> {
    pub(crate) fn new(inner: S, in_flight: InFlight, duties: Duties) -> Self {
        Self {
            inner,
            shared: Arc::new((in_flight, duties)),
            activity: None,
        }
    }
}

impl<S, B, RB> Service<http::Request<B>> for Track<S>
where
    S: Service<http::Request<Limited<B>>, Response = http::Response<RB>>,
{
    type Response = http::Response<GuardedBody<RB>>;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let (in_flight, duties) = &*self.shared;
        let busy = self.activity.as_ref().map(|a| Busy::begin(a, request.version()));
        let id = duties.ids.as_ref().map(|ids| ids.assign(request.headers_mut()));
        let traffic = in_flight.traffic();
        let is_traffic = traffic.arrived(request.uri().path());
        // HTTP/2 and later close with GOAWAY; the header is HTTP/1's.
        let close = traffic.is_winding_down() && request.version() <= http::Version::HTTP_11;
        let guard = match &duties.admission {
            Some(admission) if is_traffic => match admission.admit(in_flight) {
                Ok(guard) => guard,
                Err(retry_after) => {
                    return TrackFuture::refused(Refusal::Overloaded(retry_after), None, id, close, busy);
                }
            },
            _ => in_flight.enter(),
        };
        let Some(body_limit) = duties.bounds.body_limit(request.headers()) else {
            return TrackFuture::refused(Refusal::TooLarge, Some(guard), id, close, busy);
        };
        let request = request.map(|body| Limited::new(body, body_limit));
        let span = if duties.server_spans {
            super::server_span::open(&request)
        } else if duties.trace {
            request_span(&request)
        } else {
            tracing::Span::none()
        };
        let entered = span.enter();
        // The two events are DEBUG; the server span is INFO.
        let started =
            (!span.is_none() && tracing::enabled!(target: "micro::request", tracing::Level::DEBUG)).then(|| {
                tracing::debug!(target: "micro::request", "started processing request");
                Instant::now()
            });
        let inner = if duties.catch_panic {
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))).ok()
        } else {
            Some(self.inner.call(request))
        };
        drop(entered);
        TrackFuture {
            inner,
            guard: Some(guard),
            busy,
            id,
            catch_panic: duties.catch_panic,
            span,
            started,
            close,
            refused: None,
            deadline: Deadline::new(duties.bounds.timeout),
        }
    }
}

impl<F> TrackFuture<F> {
    /// The answer to a request refused: nothing called; counted in flight
    /// with `guard` (none for the in-flight limit).
    fn refused(
        refusal: Refusal,
        guard: Option<InFlightGuard>,
        id: Option<HeaderValue>,
        close: bool,
        busy: Option<Busy>,
    ) -> Self {
        Self {
            inner: None,
            guard,
            busy,
            id,
            catch_panic: false,
            span: tracing::Span::none(),
            started: None,
            close,
            refused: Some(refusal),
            deadline: Deadline::default(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Track`]: hands its guard to the body.
    pub(crate) struct TrackFuture<F> {
        // `None`: calling the service panicked, or the request was refused.
        #[pin]
        inner: Option<F>,
        guard: Option<InFlightGuard>,
        // The request on its connection, for the header timeout.
        busy: Option<Busy>,
        id: Option<HeaderValue>,
        catch_panic: bool,
        // `Span::none()` unless the request span is enabled.
        span: tracing::Span,
        // When the request started, while its span is enabled.
        started: Option<Instant>,
        // Answer with `Connection: close` (winding down).
        close: bool,
        // Refused, before calling the service.
        refused: Option<Refusal>,
        // The request timeout, while on, and its timer once the handler waited.
        deadline: Deadline,
    }
}

/// Why a request was answered without calling the service.
#[derive(Debug)]
enum Refusal {
    /// The in-flight limit: 503 with this `Retry-After`.
    Overloaded(HeaderValue),
    /// The body announced is over the limit: 413.
    TooLarge,
}

impl<F, E, RB> Future for TrackFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<GuardedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let polled = match this.inner.as_mut().as_pin_mut() {
            Some(inner) if *this.catch_panic => std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))).ok(),
            Some(inner) => Some(inner.poll(cx)),
            None => None,
        };
        let mut response = match polled {
            Some(Poll::Pending) if this.deadline.passed(cx) => {
                // Dropped now: what it holds is released, and the metrics
                // inside record it as 503.
                this.inner.set(None);
                timed_out()
            }
            Some(Poll::Pending) => return Poll::Pending,
            Some(Poll::Ready(output)) => output?.map(Either::Left),
            None => match this.refused.take() {
                Some(Refusal::Overloaded(retry_after)) => overloaded(retry_after),
                Some(Refusal::TooLarge) => too_large(),
                None => {
                    // Never poll what panicked again.
                    this.inner.set(None);
                    panicked()
                }
            },
        };
        super::server_span::answered(this.span, response.status());
        if let Some(started) = this.started.take() {
            tracing::debug!(
                target: "micro::request",
                status = response.status().as_u16(),
                latency = ?started.elapsed(),
                "finished processing request"
            );
        }
        if let Some(id) = this.id.take() {
            echo(response.headers_mut(), id);
        }
        if *this.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let (guard, busy) = (this.guard.take(), this.busy.take());
        Poll::Ready(Ok(response.map(|body| GuardedBody {
            body,
            _guard: guard,
            _busy: busy,
        })))
    }
}

/// The span of one request: DEBUG, so free unless asked for (e.g.
/// `RUST_LOG=info,micro::request=debug`). The request id is the one just
/// assigned or kept, looked up only when the span is enabled.
fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    tracing::debug_span!(target: "micro::request", "request", method = %request.method(), path = %request.uri().path(), request_id = %request_id(request))
}

/// The request's `x-request-id`, or nothing.
fn request_id<B>(request: &http::Request<B>) -> &str {
    request
        .headers()
        .get(&super::request_id::X_REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or("")
}

/// 500, as tower-http's `CatchPanicLayer` answers.
fn panicked<B>() -> http::Response<Either<B, Full<Bytes>>> {
    let mut response = http::Response::new(Either::Right(Full::from("Service panicked")));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pin_project_lite::pin_project! {
    /// A response body that holds an [`InFlightGuard`] (and its request's
    /// [`Busy`]) until it is finished or dropped.
    pub(crate) struct GuardedBody<B> {
        #[pin]
        body: Either<B, Full<Bytes>>,
        _guard: Option<InFlightGuard>,
        _busy: Option<Busy>,
    }
}

impl<B> HttpBody for GuardedBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
