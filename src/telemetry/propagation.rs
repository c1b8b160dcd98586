//! The trace context of the current span, carried into the calls a
//! handler makes: W3C `traceparent` and `tracestate`, so the next service's
//! server span is a child of this one.
//!
//! Inside a handler the current span is the request's server span. Work
//! spawned onto a task of its own leaves it behind: carry it with
//! [`tracing::Instrument::in_current_span`]. Without a span exported (no
//! endpoint, or outside any request), nothing is added.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Injector, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Adds the current span's trace context to `headers`, the headers of an
/// outgoing HTTP call (those it replaces are the trace context's own).
///
/// ```
/// use axum::http::{HeaderMap, Request};
///
/// // In a handler, before calling the next service:
/// let mut call = Request::get("http://inventory:8080/stock/7").body(()).unwrap();
/// micro::telemetry::inject(call.headers_mut());
/// # assert!(call.headers().get("traceparent").is_none(), "no span is exported here");
/// ```
pub fn inject(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut Headers(headers));
}

/// The current span's trace context as headers of their own, for a client
/// that takes a header map (`reqwest::RequestBuilder::headers`, say).
///
/// ```
/// let headers = micro::telemetry::headers();
/// // Outside a request exported, there is no trace to carry.
/// assert!(headers.is_empty());
/// ```
#[must_use]
pub fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    inject(&mut headers);
    headers
}

/// A tonic interceptor adding the current span's trace context to every
/// call of a client: `GreeterClient::with_interceptor(channel, Propagate)`.
///
/// ```
/// use tonic::service::Interceptor as _;
///
/// let mut propagate = micro::telemetry::Propagate;
/// let request = propagate.call(tonic::Request::new(())).unwrap();
/// // Outside a request exported, there is no trace to carry.
/// assert!(request.metadata().get("traceparent").is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Propagate;

impl tonic::service::Interceptor for Propagate {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut Metadata(request.metadata_mut()));
        Ok(request)
    }
}

/// Outgoing HTTP headers, as the propagator writes them.
struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes `traceparent` and `tracestate`, valid names,
        // and values from ids and a parsed `tracestate`: always valid.
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// Outgoing gRPC metadata, as the propagator writes it.
struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}
