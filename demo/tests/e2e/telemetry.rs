//! OpenTelemetry on the real binary (feature `otel`), against an OTLP
//! receiver in this process built on the official protobuf definitions,
//! over real gRPC.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use support::{DEADLINE, Demo};

/// What the receiver was sent.
#[derive(Debug, Clone, Default)]
struct Received(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().expect("not poisoned").push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Received {
    /// Every span received so far, with its resource's attributes.
    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let requests = self.0.lock().expect("not poisoned");
        let mut spans = Vec::new();
        for request in requests.iter() {
            for resource in &request.resource_spans {
                let attributes = resource
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for scope in &resource.scope_spans {
                    spans.extend(scope.spans.iter().map(|span| (attributes.clone(), span.clone())));
                }
            }
        }
        spans
    }
}

/// An OTLP/gRPC receiver on a port of its own, served by `runtime`.
fn receiver(runtime: &tokio::runtime::Runtime) -> (String, Received) {
    let received = Received::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = tonic::service::Routes::new(TraceServiceServer::new(received.clone())).into_axum_router();
    runtime.spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), received)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::IntValue(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_request_span_reaches_the_collector_parented_on_the_callers_traceparent_and_sigterm_exports_it() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (endpoint, received) = receiver(&runtime);
    // A batch delay longer than the test: only the stop's flush sends it.
    let mut demo = Demo::new()
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "60s")
        .start();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let answer = ureq::get(&demo.url("/hello"))
        .set("traceparent", &format!("00-{trace}-{caller}-01"))
        .call()
        .expect("answered");
    assert_eq!(answer.status(), 200);
    assert!(received.spans().is_empty(), "exported before the batch delay");

    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
    let until = Instant::now() + DEADLINE;
    while received.spans().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let spans = received.spans();
    let (resource, span) = spans
        .iter()
        .find(|(_, span)| hex(&span.trace_id) == trace)
        .unwrap_or_else(|| panic!("no span of trace {trace} in {spans:#?}"));
    assert_eq!(hex(&span.parent_span_id), caller, "parented on the caller's span");
    assert_eq!(span.name, "GET /hello");
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(text(&span.attributes, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(text(&span.attributes, "http.route").as_deref(), Some("/hello"));
    assert_eq!(text(&span.attributes, "url.path").as_deref(), Some("/hello"));
    assert_eq!(
        text(&span.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(text(resource, "service.name").as_deref(), Some("micro-demo"));
    assert!(text(resource, "service.version").is_some(), "{resource:?}");
}
