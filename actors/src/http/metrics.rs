//! Request metrics: `http_requests_total` and the latency histogram
//! `http_request_duration_seconds`, labelled by method, route and status.
//!
//! The route label is the route's pattern (`/users/{id}`), never the path a
//! client sent, and unknown methods count as `other`: a client cannot grow
//! the number of series. Metric handles are resolved once per (route,
//! method, status) and kept, so a request costs two clock reads, a map
//! lookup under a read lock and a few atomic updates — no allocation. The
//! histogram is micro's own once micro's recorder is installed (see
//! [`keep_durations`]), the recorder's otherwise.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::{Method, Request};
use axum::response::Response;
use metrics::{Counter, Histogram};
use tower::{Layer, Service};

pub use super::durations::{BUCKETS, DURATION_HELP, Durations, keep_durations};
use super::durations::{Series, kept};

/// The counter of finished requests.
pub const REQUESTS: &str = "http_requests_total";
/// The latency histogram, seconds from the request reaching the router to
/// its response headers.
pub const DURATION: &str = "http_request_duration_seconds";
/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// A tower layer recording [`REQUESTS`] and [`DURATION`] for each request.
/// It sits inside the router (it needs the matched route), under the panic
/// and timeout layers, so it records what they will answer: a handler that
/// panics as 500 (the panic then goes on to be caught), a request dropped
/// past `timeout` as 503, one dropped sooner (the client went away) as 499.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsLayer {
    handles: Handles,
    timeout: Option<Duration>,
    /// Record the matched route on the request's server span.
    spans: bool,
}

impl MetricsLayer {
    pub(crate) fn new(timeout: Option<Duration>, spans: bool) -> Self {
        Self {
            handles: Handles::default(),
            timeout,
            spans,
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured {
            inner,
            handles: self.handles.clone(),
            timeout: self.timeout,
            spans: self.spans,
        }
    }
}

/// The service [`MetricsLayer`] wraps around each route.
#[derive(Debug, Clone)]
pub(crate) struct Measured<S> {
    inner: S,
    handles: Handles,
    timeout: Option<Duration>,
    spans: bool,
}

impl<S, B> Service<Request<B>> for Measured<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MeasuredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = method_label(request.method());
        if self.spans
            && let Some(route) = &route
        {
            super::server_span::routed(method, route.as_str());
        }
        MeasuredFuture {
            inner: self.inner.call(request),
            started: Instant::now(),
            route,
            method,
            handles: self.handles.clone(),
            timeout: self.timeout,
            done: false,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Measured`]: records when the response is ready.
    pub(crate) struct MeasuredFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: Option<MatchedPath>,
        method: &'static str,
        handles: Handles,
        timeout: Option<Duration>,
        done: bool,
    }

    impl<F> PinnedDrop for MeasuredFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                // Cut before answering: by the timeout layer, or the client left.
                let took = this.started.elapsed();
                let status = if this.timeout.is_some_and(|bound| took >= bound) { 503 } else { 499 };
                let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
                this.handles.record(route, this.method, status, took.as_secs_f64());
            }
        }
    }
}

impl<F, E> Future for MeasuredFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => output,
            Err(panic) => {
                *this.done = true;
                this.handles
                    .record(route, this.method, 500, this.started.elapsed().as_secs_f64());
                std::panic::resume_unwind(panic);
            }
        };
        *this.done = true;
        let response = output?;
        let took = this.started.elapsed().as_secs_f64();
        this.handles
            .record(route, this.method, response.status().as_u16(), took);
        Poll::Ready(Ok(response))
    }
}

/// Metric handles by (route, method, status), resolved on first use. The
/// keys are the server's own (a route's address, a fixed method label, a
/// status), so a fast hash serves: SipHash was ~270 instructions a request.
#[derive(Debug, Clone, Default)]
struct Handles(Arc<RwLock<HashMap<Key, Entry, foldhash::fast::FixedState>>>);

/// A route is told by the address of its pattern text, which the router
/// shares between requests; the text itself is compared on each hit, so a
/// reused address cannot mislabel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    route: usize,
    method: &'static str,
    status: u16,
}

#[derive(Debug)]
struct Entry {
    route: Box<str>,
    requests: Counter,
    duration: Latency,
}

/// Where an entry's durations go.
#[derive(Debug)]
enum Latency {
    /// The `metrics` recorder in place (not micro's).
    Recorder(Histogram),
    /// micro's own, while micro's recorder is the one in place.
    Kept(Arc<Series>),
}

impl Latency {
    fn record(&self, seconds: f64) {
        match self {
            Self::Recorder(histogram) => histogram.record(seconds),
            Self::Kept(series) => series.record(seconds),
        }
    }
}

impl Handles {
    fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let key = Key {
            route: route.as_ptr() as usize,
            method,
            status,
        };
        {
            let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = map.get(&key).filter(|entry| *entry.route == *route) {
                entry.requests.increment(1);
                entry.duration.record(seconds);
                return;
            }
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let duration = match kept() {
            Some(durations) => Latency::Kept(durations.series(route, method, status)),
            None => Latency::Recorder(metrics::histogram!(DURATION, &labels)),
        };
        let entry = Entry {
            route: route.into(),
            requests: metrics::counter!(REQUESTS, &labels),
            duration,
        };
        entry.requests.increment(1);
        entry.duration.record(seconds);
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, entry);
    }
}

/// The method as a label: the standard ones by name, any other as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_outside_the_standard_ones_is_labelled_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        let custom = Method::from_bytes(b"PURGE").expect("a valid method");
        assert_eq!(method_label(&custom), "other");
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let handles = Handles::default();
            let route: Arc<str> = Arc::from("/users/{id}");
            handles.record(&route, "GET", 200, 0.001);
            handles.record(&route, "GET", 200, 0.002);
            handles.record(&route, "GET", 404, 0.001);
            // Same address, other text: a new entry, not a mislabel.
            handles.record(UNMATCHED, "other", 404, 0.001);
        });
        let text = handle.render();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/users/{id}",status="404"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_requests_total{method="other",route="unmatched",status="404"} 1"#),
            "{text}"
        );
    }
}
