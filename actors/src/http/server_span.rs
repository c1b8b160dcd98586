//! The HTTP server span, opened by `Track` for each request while telemetry
//! exports (`HttpLayers::server_spans`): INFO, named `{method} {route}`,
//! with the attributes of OpenTelemetry's HTTP server conventions; a gRPC
//! call is named `{service}/{method}` and gets the RPC ones
//! ([`grpc_called`], [`grpc_answered`]). With the feature `otel`, it is
//! parented on the request's W3C `traceparent` (and `tracestate`), and its
//! trace and span ids are kept on it, so every log line inside the request
//! carries them. Two fields are recorded after it opens (the route and the
//! status; a gRPC call's three more): a record passes every layer.

use axum::http::uri::Authority;
use axum::http::{self, StatusCode, Version, header};
use tracing::Span;
use tracing::field::Empty;

/// The server span's target: the log lines leave the span out (their
/// `trace_id` and `span_id` name it), so its fields are not formatted for
/// them at each record.
pub(crate) const TARGET: &str = "micro::http::server";

/// The span of `request`, not yet entered.
pub(crate) fn open<B>(request: &http::Request<B>) -> Span {
    let authority = authority(request);
    let span = tracing::info_span!(
        target: TARGET,
        "HTTP request",
        otel.name = request.method().as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = request.method().as_str(),
        url.path = request.uri().path(),
        http.route = Empty,
        http.response.status_code = Empty,
        network.protocol.version = protocol(request.version()),
        server.address = authority.as_ref().map(Authority::host),
        server.port = authority.as_ref().and_then(Authority::port_u16),
        rpc.system = Empty,
        rpc.service = Empty,
        rpc.method = Empty,
        rpc.grpc.status_code = Empty,
    );
    #[cfg(feature = "otel")]
    otel::parent(&span, request.headers());
    span
}

/// The host the client addressed: the URI's authority (HTTP/2's
/// `:authority`), else the `Host` header; `None` when it is no authority.
fn authority<B>(request: &http::Request<B>) -> Option<Authority> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.clone());
    }
    let host = request.headers().get(header::HOST)?;
    Authority::try_from(host.as_bytes()).ok()
}

/// Records the status the request is answered with: 5xx marks the span
/// an error, as the conventions say (4xx is the client's).
pub(crate) fn answered(span: &Span, status: StatusCode) {
    if span.is_none() {
        return;
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

/// Records the route the router matched on the request's span (called
/// from inside the router, where the route is known).
pub(crate) fn routed(method: &str, route: &str) {
    let span = Span::current();
    if span.is_none() || span.field("http.route").is_none() {
        return;
    }
    span.record("http.route", route);
    // The OpenTelemetry span started when the request's span was entered:
    // an `otel.name` recorded now is not applied to it, so it is renamed.
    #[cfg(feature = "otel")]
    otel::rename(&span, format!("{method} {route}"));
    #[cfg(not(feature = "otel"))]
    let _ = method;
}

/// Marks the current span, a request's server span, a gRPC call of
/// `method` on `service` (the path `/{service}/{method}`): renamed
/// `{service}/{method}`, with `rpc.system`, `rpc.service` and `rpc.method`.
/// Returns the span, for [`grpc_answered`] once the call's status is known,
/// possibly after the response's head (in its trailers).
///
/// ```
/// let span = micro_actors::http::grpc_called("greeter.Greeter", "SayHello");
/// micro_actors::http::grpc_answered(&span, 0, false);
/// ```
pub fn grpc_called(service: &str, method: &str) -> Span {
    let span = Span::current();
    if span.is_none() || span.field("rpc.system").is_none() {
        return Span::none();
    }
    span.record("rpc.system", "grpc");
    span.record("rpc.service", service);
    span.record("rpc.method", method);
    #[cfg(feature = "otel")]
    otel::rename(&span, format!("{service}/{method}"));
    span
}

/// Records the gRPC status `code` a call ended with on its `span` (from
/// [`grpc_called`]); `is_error`: the status is the server's failure
/// (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
/// DATA_LOSS, as the conventions list), which marks the span an error.
/// The span ends now, when its last handle is dropped: a stream's span
/// lasts until its trailers.
pub fn grpc_answered(span: &Span, code: i32, is_error: bool) {
    if span.is_none() {
        return;
    }
    // A span ends when it is last exited: entered now, it ends with the call.
    let _entered = span.enter();
    span.record("rpc.grpc.status_code", code);
    if is_error {
        span.record("otel.status_code", "error");
    }
}

/// `network.protocol.version`.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[cfg(feature = "otel")]
mod otel {
    use axum::http::HeaderMap;
    use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use crate::logger::trace_ids::TraceIds;

    /// Parents `span` on the trace context `headers` carry (a new trace
    /// when they carry none, or a malformed one), and keeps its ids on it.
    pub(super) fn parent(span: &Span, headers: &HeaderMap) {
        if span.is_none() {
            return;
        }
        let parent =
            TraceContextPropagator::new().extract_with_context(&opentelemetry::Context::new(), &Headers(headers));
        // Fails only for a span the OpenTelemetry layer does not see.
        let _ = span.set_parent(parent);
        let context = span.context();
        let ids = context.span().span_context().clone();
        if ids.is_valid() {
            let ids = TraceIds {
                trace_id: u128::from_be_bytes(ids.trace_id().to_bytes()),
                span_id: u64::from_be_bytes(ids.span_id().to_bytes()),
            };
            crate::logger::trace_ids::attach(span, ids);
        }
    }

    /// Renames the OpenTelemetry span of `span` (started already).
    pub(super) fn rename(span: &Span, name: String) {
        span.context().span().update_name(name);
    }

    /// A request's headers, as the propagator reads them.
    struct Headers<'a>(&'a HeaderMap);

    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|value| value.to_str().ok())
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(axum::http::HeaderName::as_str).collect()
        }
    }
}
