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
use support::Demo;

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

    /// How many root spans (traces started by the service) were received.
    fn roots(&self) -> usize {
        self.spans()
            .into_iter()
            .filter(|(_, span)| span.parent_span_id.is_empty())
            .count()
    }

    /// The first span received that `matches`, waited for at most [`support::DEADLINE`].
    fn wait_for(&self, what: &str, matches: impl Fn(&Span) -> bool) -> (Vec<KeyValue>, Span) {
        support::poll(what, || self.spans().into_iter().find(|(_, span)| matches(span)))
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

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf bodies) served by
/// `runtime`; its URL (the whole one) and, apart, every `x-api-key` header
/// it was sent.
fn http_receiver(runtime: &tokio::runtime::Runtime) -> (String, Received, Arc<Mutex<Vec<String>>>) {
    let received = Received::default();
    let keys = Arc::new(Mutex::new(Vec::new()));
    let keys_seen = Arc::clone(&keys);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sink = received.clone();
    let router = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                if let Some(key) = headers.get("x-api-key").and_then(|value| value.to_str().ok()) {
                    keys_seen.lock().expect("not poisoned").push(key.to_owned());
                }
                match <ExportTraceServiceRequest as prost::Message>::decode(body) {
                    Ok(request) => {
                        sink.0.lock().expect("not poisoned").push(request);
                        let answer = prost::Message::encode_to_vec(&ExportTraceServiceResponse::default());
                        (
                            axum::http::StatusCode::OK,
                            [("content-type", "application/x-protobuf")],
                            answer,
                        )
                    }
                    Err(_) => (
                        axum::http::StatusCode::BAD_REQUEST,
                        [("content-type", "text/plain")],
                        Vec::new(),
                    ),
                }
            },
        ),
    );
    runtime.spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/v1/traces"), received, keys)
}

/// The status of `GET path`, sent as a call from the span `parent` of `trace`
/// (a sampled W3C `traceparent`).
fn get_traced(demo: &support::Running, path: &str, trace: &str, parent: &str) -> u16 {
    ureq::get(&demo.url(path))
        .set("traceparent", &format!("00-{trace}-{parent}-01"))
        .call()
        .expect("answered")
        .status()
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
    assert_eq!(get_traced(&demo, "/hello", trace, caller), 200);
    assert!(received.spans().is_empty(), "exported before the batch delay");

    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
    let (resource, span) = received.wait_for("the span of the caller's trace", |span| hex(&span.trace_id) == trace);
    let resource = &resource;
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
    assert_eq!(text(&span.attributes, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        text(&span.attributes, "server.port"),
        demo.addr.map(|addr| addr.port().to_string())
    );
    assert_eq!(text(resource, "service.name").as_deref(), Some("micro-demo"));
    assert!(text(resource, "service.version").is_some(), "{resource:?}");
}

#[test]
fn a_json_line_logged_inside_a_request_carries_the_trace_and_span_ids_of_its_exported_span() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (endpoint, received) = receiver(&runtime);
    let mut demo = Demo::new()
        .args(["--production"])
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "10ms")
        .start();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(get_traced(&demo, "/sleep/1", trace, "b7ad6b7169203331"), 200);
    let line = demo.wait_for_line("sleeping 1 ms");
    let logged: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"));
    assert_eq!(logged["trace_id"], trace, "{line}");

    let (_, exported) = received.wait_for("the span of the caller's trace", |span| hex(&span.trace_id) == trace);
    assert_eq!(logged["span_id"], hex(&exported.span_id), "{line}");
    assert_eq!(exported.name, "GET /sleep/{ms}");
    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
}

/// A collector that takes connections and never answers.
fn hanging() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => open.push(stream),
                Err(_) => return,
            }
        }
    });
    (format!("http://{addr}"), held)
}

/// 20 requests to `/hello`, each answered 200: 20 spans.
fn twenty_hellos(demo: &support::Running) {
    for _ in 0..20 {
        assert_eq!(demo.get("/hello").0, 200);
    }
}

/// SIGTERM: a clean exit within 3 s, the flush bound, the quiet period and
/// the rest of the stop, far less than the export timeout a failing
/// collector would otherwise cost.
fn stops_within_its_bounds(demo: &mut support::Running) {
    let signalled = Instant::now();
    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
    let stopped_in = signalled.elapsed();
    assert!(
        stopped_in < Duration::from_secs(3),
        "stopped in {stopped_in:?}: {}",
        demo.stderr()
    );
}

#[test]
fn a_collector_that_hangs_drops_and_counts_spans_and_the_stop_keeps_to_its_flush_bound() {
    let (endpoint, _held) = hanging();
    let mut demo = Demo::new()
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .env("MICRO__SITE__TELEMETRY__EXPORT_TIMEOUT", "5s")
        .env("MICRO__SITE__TELEMETRY__QUEUE_SIZE", "4")
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "10ms")
        .env("MICRO__SITE__SHUTDOWN__FLUSH_TIMEOUT", "500ms")
        .env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "10ms")
        .start();
    twenty_hellos(&demo);
    // The first batch hangs in its export; the queue holds 4; the rest are dropped.
    let dropped = demo.metric("micro_otel_spans_dropped_total");
    assert!(dropped >= 15.0, "dropped {dropped} of 20 with a queue of 4");

    stops_within_its_bounds(&mut demo);
    assert!(
        demo.stderr().contains("flush: spans:"),
        "the flush's bound is reported: {}",
        demo.stderr()
    );
}

#[test]
fn a_collector_that_is_down_has_every_span_counted_dropped_and_the_stop_waits_for_nothing() {
    // A port nothing listens on: every export is refused at once.
    let endpoint = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let mut demo = Demo::new()
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "10ms")
        .env("MICRO__SITE__SHUTDOWN__FLUSH_TIMEOUT", "500ms")
        .env("MICRO__SITE__SHUTDOWN__QUIET_PERIOD", "10ms")
        .start();
    twenty_hellos(&demo);
    support::poll("all 20 spans counted dropped", || {
        (demo.metric("micro_otel_spans_dropped_total") >= 20.0).then_some(())
    });

    stops_within_its_bounds(&mut demo);
}

#[test]
fn spans_reach_an_http_protobuf_collector() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (endpoint, received, _) = http_receiver(&runtime);
    let mut demo = Demo::new()
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .env("MICRO__SITE__TELEMETRY__PROTOCOL", "http/protobuf")
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "10ms")
        .start();
    assert_eq!(demo.get("/hello").0, 200);
    let (_, span) = received.wait_for("a span over HTTP", |span| span.name == "GET /hello");
    assert_eq!(span.parent_span_id, Vec::<u8>::new(), "no traceparent: a root span");
    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
}

#[test]
fn a_reload_changes_the_sampling_ratio_of_the_traces_that_start_here() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (endpoint, received) = receiver(&runtime);
    let site = |ratio: &str| format!("telemetry:\n  sampling_ratio: {ratio}\n  batch_delay: 10ms\n");
    let dir = support::config_dir(&[("site.yaml", &site("0"))]);
    let mut demo = Demo::new()
        .config(dir.path())
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .start();
    // At 0, a trace that starts here is not recorded; one whose caller
    // recorded it is, and shows that the first had its turn to be sent.
    assert_eq!(demo.get("/hello").0, 200);
    let marker = "5b8efff798038103d269b633813fc60c";
    assert_eq!(get_traced(&demo, "/hello", marker, "eee19b7ec3c1b174"), 200);
    received.wait_for("the caller's trace to be exported", |span| {
        hex(&span.trace_id) == marker
    });
    assert_eq!(received.roots(), 0, "a trace started here was recorded at ratio 0");

    std::fs::write(dir.path().join("site.yaml"), site("1")).expect("write");
    demo.signal(Signal::SIGHUP);
    demo.wait_for_line("config reloaded: generation 2, changed: site.telemetry.sampling_ratio");
    support::poll("a trace started here to be recorded at ratio 1", || {
        assert_eq!(demo.get("/hello").0, 200);
        (received.roots() > 0).then_some(())
    });
    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
}

/// `SayHellos` to `name`, `count` replies `interval_ms` apart, sent with
/// `traceparent`; every reply read.
async fn say_hellos(demo: &support::Running, name: &str, count: u32, interval_ms: u64, traceparent: &str) {
    use crate::grpc::proto::HellosRequest;
    let mut greeter = crate::grpc::greeter(demo).await;
    let mut request = tonic::Request::new(HellosRequest {
        name: name.into(),
        count,
        interval_ms,
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().expect("ascii"));
    let mut replies = greeter.say_hellos(request).await.expect("streaming").into_inner();
    for _ in 0..count {
        replies.message().await.expect("a reply").expect("not ended");
    }
    assert!(replies.message().await.expect("ended with OK").is_none());
}

#[test]
fn a_grpc_call_is_one_span_named_by_its_method_with_the_rpc_attributes_lasting_until_its_status() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (endpoint, received) = receiver(&runtime);
    let demo = Demo::new()
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", &endpoint)
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "10ms")
        .start();
    let trace = "d4cda95b652f4a1592b449d5929fda1b";
    let traceparent = format!("00-{trace}-6e0c63257de34c92-01");
    // Three replies 100 ms apart: the status comes in the trailers, after
    // the last; the span lasts until then.
    runtime.block_on(say_hellos(&demo, "ada", 3, 100, &traceparent));
    let (_, span) = received.wait_for("the stream's span", |span| hex(&span.trace_id) == trace);
    assert_eq!(span.name, "greeter.Greeter/SayHellos");
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(hex(&span.parent_span_id), "6e0c63257de34c92");
    assert_eq!(text(&span.attributes, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        text(&span.attributes, "rpc.service").as_deref(),
        Some("greeter.Greeter")
    );
    assert_eq!(text(&span.attributes, "rpc.method").as_deref(), Some("SayHellos"));
    assert_eq!(text(&span.attributes, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(text(&span.attributes, "network.protocol.version").as_deref(), Some("2"));
    let lasted = Duration::from_nanos(span.end_time_unix_nano - span.start_time_unix_nano);
    assert!(
        lasted >= Duration::from_millis(200),
        "ended after the last reply: {lasted:?}"
    );
    assert_ne!(span.status.map(|status| status.code), Some(2), "OK is no error");

    // A status the client caused (INVALID_ARGUMENT) is recorded, not an error.
    let refused = "8b1e5dd8e5a8a4a5f7d0c0d1c6c0a2b1";
    runtime.block_on(async {
        let mut greeter = crate::grpc::greeter(&demo).await;
        let mut request = tonic::Request::new(crate::grpc::proto::HelloRequest {
            name: "bob".into(),
            delay_ms: 600_001,
        });
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{refused}-6e0c63257de34c92-01").parse().expect("ascii"),
        );
        let status = greeter.say_hello(request).await.expect_err("past the bound");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    });
    let (_, span) = received.wait_for("the refused call's span", |span| hex(&span.trace_id) == refused);
    assert_eq!(span.name, "greeter.Greeter/SayHello");
    assert_eq!(text(&span.attributes, "rpc.grpc.status_code").as_deref(), Some("3"));
    assert_ne!(span.status.map(|status| status.code), Some(2), "the client's error");

    // A method the service does not have: UNIMPLEMENTED, the server's error.
    let unknown = "f1e2d3c4b5a6978812345678abcdef01";
    runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(demo.url(""))
            .expect("an endpoint")
            .connect()
            .await
            .expect("connected");
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.expect("ready");
        let mut request = tonic::Request::new(crate::grpc::proto::HelloRequest::default());
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{unknown}-6e0c63257de34c92-01").parse().expect("ascii"),
        );
        let path = axum::http::uri::PathAndQuery::from_static("/greeter.Greeter/SayNothing");
        let codec = tonic_prost::ProstCodec::<_, crate::grpc::proto::HelloReply>::default();
        let status = grpc.unary(request, path, codec).await.expect_err("no such method");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
    });
    let (_, span) = received.wait_for("the unknown method's span", |span| hex(&span.trace_id) == unknown);
    assert_eq!(span.name, "greeter.Greeter/SayNothing");
    assert_eq!(text(&span.attributes, "rpc.grpc.status_code").as_deref(), Some("12"));
    assert_eq!(span.status.map(|status| status.code), Some(2), "STATUS_CODE_ERROR");
}

#[test]
fn the_standard_otel_variables_set_what_the_site_leaves_unset() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (traces, received, keys) = http_receiver(&runtime);
    let base = traces.trim_end_matches("/v1/traces").to_owned();
    let mut demo = Demo::new()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging")
        .env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
        .env("OTEL_TRACES_SAMPLER_ARG", "0")
        .env("MICRO__SITE__TELEMETRY__BATCH_DELAY", "10ms")
        .start();
    demo.wait_for_line(&format!(
        "telemetry: exporting spans to {traces} over http/protobuf, recording 0 of the traces that start here"
    ));
    // Ratio 0: a trace started here is not recorded; a caller's is.
    assert_eq!(demo.get("/hello").0, 200);
    let trace = "77d0c8a5e9f34b1c8b2a1d0e9f8a7b6c";
    assert_eq!(get_traced(&demo, "/hello", trace, "a1b2c3d4e5f60718"), 200);
    let (resource, _) = received.wait_for("the caller's trace at the base URL's /v1/traces", |span| {
        hex(&span.trace_id) == trace
    });
    assert_eq!(text(&resource, "deployment.environment").as_deref(), Some("staging"));
    assert_eq!(text(&resource, "service.name").as_deref(), Some("micro-demo"));
    assert!(
        keys.lock().expect("not poisoned").iter().all(|key| key == "s3cret"),
        "the export carried OTEL_EXPORTER_OTLP_HEADERS"
    );
    assert!(!keys.lock().expect("not poisoned").is_empty(), "no x-api-key sent");
    assert_eq!(
        received.roots(),
        0,
        "a trace started here was recorded at OTEL_TRACES_SAMPLER_ARG=0"
    );
    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
}

#[test]
fn a_standard_variable_that_cannot_be_used_stops_the_start_naming_it() {
    let mut demo = Demo::new()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .spawn();
    let exit = demo.wait_exit();
    let stderr = demo.stderr();
    assert_eq!(exit.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not `grpc` or `http/protobuf`"),
        "{stderr}"
    );
}

#[test]
fn otel_sdk_disabled_turns_the_export_off_whatever_the_site_says() {
    let mut demo = Demo::new()
        .env("MICRO__SITE__TELEMETRY__ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_SDK_DISABLED", "true")
        .start();
    // The line is written before the server starts; the demo is serving.
    assert!(!demo.stderr().contains("telemetry: exporting"), "{}", demo.stderr());
    assert_eq!(demo.get("/hello").0, 200);
    demo.signal(Signal::SIGTERM);
    assert!(demo.wait_exit().success(), "{}", demo.stderr());
}
