//! A service's handler carries its trace into the calls it makes
//! (`micro::telemetry::inject`, `headers`, `Propagate`): the next service
//! sees a `traceparent` naming the server span micro exported. Run in
//! process, as a service team's own test would, against an OTLP/HTTP
//! receiver and a downstream service on real sockets.

#![cfg(all(feature = "otel", feature = "testing"))]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Router, extract::State};
use micro::config::{MemoryBackend, PreloadedConfig};
use micro::testing::TestService;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::service::Interceptor as _;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The `traceparent` and `tracestate` of each call the stock service got.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Serves `router` on a port of its own; its base URL.
async fn serve(router: Router) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}

/// An OTLP/HTTP receiver: every span sent to `POST /v1/traces`.
async fn receiver() -> Result<(String, Arc<Mutex<Vec<Span>>>), Error> {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&spans);
    let export = post(move |body: Bytes| async move {
        let Ok(request) = <ExportTraceServiceRequest as prost::Message>::decode(body) else {
            return axum::http::StatusCode::BAD_REQUEST;
        };
        let received = request
            .resource_spans
            .into_iter()
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans);
        sink.lock().expect("not poisoned").extend(received);
        axum::http::StatusCode::OK
    });
    let url = serve(Router::new().route("/v1/traces", export)).await?;
    Ok((format!("{url}/v1/traces"), spans))
}

/// The span of `trace` the receiver got, waited for at most 30 s.
async fn exported_span(exported: &Mutex<Vec<Span>>, trace: &str) -> Span {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = exported
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|span| hex(&span.trace_id) == trace)
            .cloned();
        if let Some(span) = found {
            return span;
        }
        assert!(
            Instant::now() < deadline,
            "the span of {trace} was not exported within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The service: `/order` asks the stock service at `stock`, carrying its
/// trace, and answers with the trace context its gRPC calls would carry.
fn orders(stock: String) -> micro::ServiceBuilder {
    let order = move || {
        let url = format!("{stock}/stock");
        async move {
            let headers = micro::telemetry::headers();
            let grpc = micro::telemetry::Propagate
                .call(tonic::Request::new(()))
                .map(|request| request.metadata().get("traceparent").cloned());
            let called = tokio::task::spawn_blocking(move || {
                let mut call = ureq::get(&url);
                for (name, value) in &headers {
                    call = call.set(name.as_str(), value.to_str().unwrap_or_default());
                }
                call.call().map(|answer| answer.status()).map_err(|err| err.to_string())
            })
            .await;
            match (called, grpc) {
                (Ok(Ok(200)), Ok(Some(traceparent))) => traceparent.to_str().unwrap_or_default().to_owned(),
                (called, grpc) => format!("failed: {called:?} {grpc:?}"),
            }
        }
    };
    micro::Service::builder("orders", "takes orders")
        .app(Router::new().route("/order", get(order)))
        .config(PreloadedConfig::new(["site"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_carries_its_server_span_into_the_calls_it_makes_over_http_and_grpc() -> Result<(), Error> {
    let (endpoint, exported) = receiver().await?;
    let seen = Seen::default();
    let stock = Router::new()
        .route(
            "/stock",
            get(|State(seen): State<Seen>, headers: HeaderMap| async move {
                let header = |name| {
                    let value = headers.get(name).and_then(|value| value.to_str().ok());
                    value.unwrap_or("none").to_owned()
                };
                let context = (header("traceparent"), header("tracestate"));
                seen.lock().expect("not poisoned").push(context);
                "7"
            }),
        )
        .with_state(Arc::clone(&seen));
    let stock = serve(stock).await?;
    let site = format!("telemetry:\n  endpoint: {endpoint}\n  protocol: http/protobuf\n  batch_delay: 10ms\n");
    let overrides = MemoryBackend::labelled("test").with_yaml("site", &site)?;
    let svc = TestService::start(orders(stock), overrides).await?;

    let trace = "2c6f1f3e9a1b4c5d8e7f60718293a4b5";
    let caller = "1122334455667788";
    let url = svc.url("/order");
    let grpc = tokio::task::spawn_blocking(move || -> Result<String, Error> {
        let answer = ureq::get(&url)
            .set("traceparent", &format!("00-{trace}-{caller}-01"))
            .set("tracestate", "vendor=t61rcWkgMzE")
            .call()?;
        Ok(answer.into_string()?)
    })
    .await??;
    let (http, state) = seen.lock().expect("not poisoned").pop().unwrap_or_default();
    assert_eq!(state, "vendor=t61rcWkgMzE", "the caller's tracestate is carried on");
    let parts: Vec<&str> = http.split('-').collect();
    assert_eq!(parts.len(), 4, "a traceparent reached the stock service: {http:?}");
    assert_eq!(parts[1], trace, "the caller's trace");
    assert_ne!(parts[2], caller, "parented on this service's span, not the caller's");
    assert_eq!(parts[3], "01", "sampled");
    assert_eq!(grpc, http, "gRPC metadata carries the same context");

    let server = exported_span(&exported, trace).await;
    assert_eq!(server.name, "GET /order");
    assert_eq!(server.trace_state, "vendor=t61rcWkgMzE");
    assert_eq!(hex(&server.parent_span_id), caller);
    assert_eq!(
        hex(&server.span_id),
        parts[2],
        "the call names the exported span as its parent"
    );

    let exit = svc.stop().await?;
    assert_eq!(exit.code(), 0);
    Ok(())
}

/// Runs `orders` exporting to a receiver of its own, sends one traced
/// request and waits for its span: the trace id it was sent with.
async fn one_run_exports(trace: &str) -> Result<(), Error> {
    let (endpoint, exported) = receiver().await?;
    let stock = serve(Router::new().route("/stock", get(|| async { "7" }))).await?;
    let site = format!("telemetry:\n  endpoint: {endpoint}\n  protocol: http/protobuf\n  batch_delay: 10ms\n");
    let svc = TestService::start(orders(stock), MemoryBackend::labelled("test").with_yaml("site", &site)?).await?;
    let url = svc.url("/order");
    let traceparent = format!("00-{trace}-1122334455667788-01");
    tokio::task::spawn_blocking(move || -> Result<(), Error> {
        ureq::get(&url).set("traceparent", &traceparent).call()?;
        Ok(())
    })
    .await??;
    exported_span(&exported, trace).await;
    assert_eq!(svc.stop().await?.code(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_one_after_another_in_one_process_each_export_their_spans() -> Result<(), Error> {
    one_run_exports("0102030405060708090a0b0c0d0e0f10").await?;
    one_run_exports("1112131415161718191a1b1c1d1e1f20").await
}

#[tokio::test]
async fn outside_a_request_nothing_is_carried() {
    assert!(micro::telemetry::headers().is_empty());
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", "kept".parse().expect("a header value"));
    micro::telemetry::inject(&mut headers);
    assert_eq!(
        headers.get("traceparent").map(|value| value.as_bytes()),
        Some(&b"kept"[..])
    );
}
