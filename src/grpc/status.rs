//! `grpc_requests_total{service, code}`: each gRPC call counted once, when
//! its status is known. A call's status travels in the `grpc-status`
//! header when it fails before any message (a trailers-only response), and
//! otherwise in the trailers, after the last message: so the call is
//! counted when the headers carry it, else when the trailers arrive.
//! `http_requests_total` records the same calls by HTTP status (200 for
//! any call that answered, whatever its gRPC status).
//!
//! While telemetry exports, the request's server span is marked a gRPC
//! call when it is routed here, and gets its status when it is counted:
//! the span lasts until then, trailers included.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, Response};
use axum::response::IntoResponse;
use futures::future::BoxFuture;
use http_body::Frame;
use tonic::Code;
use tower::Service;

/// The counter of finished gRPC calls.
pub(crate) const GRPC_REQUESTS: &str = "grpc_requests_total";

/// The service of one registered tonic service, counting its calls.
#[derive(Debug, Clone)]
pub(super) struct Counted<S> {
    pub(super) inner: S,
    pub(super) service: &'static str,
}

impl<S> Service<Request<Body>> for Counted<S>
where
    S: Service<Request<Body>, Response: IntoResponse, Error = Infallible, Future: Send + 'static>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let method = request
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|path| path.strip_prefix(self.service))
            .and_then(|path| path.strip_prefix('/'))
            .unwrap_or_default();
        let mut call = Call {
            service: self.service,
            counted: false,
            span: micro_actors::http::grpc_called(self.service, method),
        };
        let answering = self.inner.call(request);
        Box::pin(async move {
            let response = answering.await?.into_response();
            if let Some(code) = code(response.headers()) {
                call.count(code);
                return Ok(response);
            }
            Ok(response.map(|body| Body::new(Trailed { body, call })))
        })
    }
}

/// One call until it is counted; dropped uncounted (the client went away,
/// the request timeout answered in its place, the connection was cut), it
/// counts as CANCELLED: the call ended without a status from the service.
struct Call {
    service: &'static str,
    counted: bool,
    // The request's server span, open until the call is counted.
    span: tracing::Span,
}

impl Call {
    fn count(&mut self, code: Code) {
        if !std::mem::replace(&mut self.counted, true) {
            let labels = [("service", self.service), ("code", label(code))];
            metrics::counter!(GRPC_REQUESTS, &labels).increment(1);
            micro_actors::http::grpc_answered(&self.span, code as i32, is_server_error(code));
            self.span = tracing::Span::none();
        }
    }
}

/// The statuses that are the server's failure, as OpenTelemetry's gRPC
/// conventions list them (the others are the client's, or no failure).
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

impl Drop for Call {
    fn drop(&mut self) {
        self.count(Code::Cancelled);
    }
}

/// The status a header map carries, if any.
fn code(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

pin_project_lite::pin_project! {
    /// A response body that counts its call when its trailers pass.
    struct Trailed {
        #[pin]
        body: Body,
        call: Call,
    }
}

impl http_body::Body for Trailed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(code) {
                    this.call.count(code);
                }
            }
            // A body that fails or ends without a status: no status was sent.
            Poll::Ready(Some(Err(_)) | None) => this.call.count(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The status's name as the gRPC specification spells it.
fn label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_header_is_read_as_its_code_and_named_as_the_specification_does() {
        let mut headers = HeaderMap::new();
        assert_eq!(code(&headers), None);
        headers.insert("grpc-status", "5".parse().expect("a header value"));
        assert_eq!(code(&headers).map(label), Some("NOT_FOUND"));
        headers.insert("grpc-status", "0".parse().expect("a header value"));
        assert_eq!(code(&headers).map(label), Some("OK"));
    }
}
