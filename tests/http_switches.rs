//! Each switch of `site.http` (`request_id`, `trace`, `catch_panic`,
//! `limit_body`, `timeout`, `metrics`, `header_timeout`) turned off takes
//! its layer away, as README's "HTTP layers" says; each test also shows the
//! layer at work when it is on, so that "gone" is not vacuous.

#![cfg(feature = "testing")]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Router, body::Bytes};
use micro::config::MemoryBackend;
use micro::testing::TestService;

const BOUND: Duration = Duration::from_secs(20);

/// Panics, to show what answers a panicking handler.
async fn panic() -> &'static str {
    panic!("this handler panics, as asked")
}

/// The request span the handler runs in, as `target name`, or `none`.
async fn span() -> String {
    tracing::Span::current().metadata().map_or_else(
        || "none".to_owned(),
        |meta| format!("{} {}", meta.target(), meta.name()),
    )
}

fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/hello-counted", get(|| async { "counted?" }))
        .route("/hello-uncounted", get(|| async { "counted?" }))
        .route(
            "/sleep/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                format!("slept {ms} ms")
            }),
        )
        .route(
            "/echo",
            post(|body: Bytes| async move { format!("{} bytes", body.len()) }),
        )
        .route("/panic", get(panic))
        .route("/span", get(span))
}

/// The service with `site` (YAML) over the defaults, serving.
async fn serving(site: &str) -> TestService {
    let overrides = MemoryBackend::labelled("test").with_yaml("site", site).expect("yaml");
    let builder = micro::Service::builder("switched", "layers switched in site.http").app(app());
    TestService::start(builder, overrides).await.expect("serving")
}

/// What a request got: the status, the `x-request-id` answered and the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: String,
}

/// Sends `request` off the runtime; `Err` when no HTTP answer came (the
/// connection closed).
async fn send(request: ureq::Request, body: Option<Vec<u8>>) -> Result<Answer, String> {
    tokio::task::spawn_blocking(move || {
        let answered = match body {
            Some(body) => request.send_bytes(&body),
            None => request.call(),
        };
        let response = match answered {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(err) => return Err(err.to_string()),
        };
        let (status, request_id) = (response.status(), response.header("x-request-id").map(str::to_owned));
        let body = response.into_string().map_err(|err| err.to_string())?;
        Ok(Answer {
            status,
            request_id,
            body,
        })
    })
    .await
    .expect("joined")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(BOUND).build()
}

async fn get_path(svc: &TestService, path: &str) -> Answer {
    let url = svc.url(path);
    send(agent().get(&url), None)
        .await
        .unwrap_or_else(|err| panic!("GET {url}: {err}"))
}

async fn stopped(svc: TestService) {
    let exit = svc.stop().await.expect("stopped");
    assert_eq!(exit.code(), 0, "{}", exit.reason);
}

#[tokio::test]
async fn with_request_id_off_no_request_id_is_assigned_or_echoed() {
    let on = serving("{}").await;
    assert!(
        get_path(&on, "/hello").await.request_id.is_some(),
        "on: an id is assigned"
    );
    stopped(on).await;

    let off = serving("http: {request_id: false}").await;
    let answer = get_path(&off, "/hello").await;
    assert_eq!((answer.status, answer.request_id), (200, None));
    stopped(off).await;
}

#[tokio::test]
async fn with_trace_off_a_handler_runs_in_no_request_span_even_at_debug_level() {
    let level = "logging: {level: 'info,micro::request=debug'}";
    let on = serving(&format!("{level}\nhttp: {{trace: true}}")).await;
    assert_eq!(get_path(&on, "/span").await.body, "micro::request request");
    stopped(on).await;

    let off = serving(&format!("{level}\nhttp: {{trace: false}}")).await;
    assert_eq!(get_path(&off, "/span").await.body, "none");
    stopped(off).await;
}

#[tokio::test]
async fn with_catch_panic_off_a_panicking_handler_gets_no_500_and_the_service_lives_on() {
    let on = serving("{}").await;
    assert_eq!(get_path(&on, "/panic").await.status, 500);
    stopped(on).await;

    let off = serving("http: {catch_panic: false}").await;
    let url = off.url("/panic");
    let answer = send(agent().get(&url), None).await;
    assert!(answer.is_err(), "no answer, the connection closes: {answer:?}");
    assert_eq!(get_path(&off, "/hello").await.body, "hello", "still serving");
    stopped(off).await;
}

#[tokio::test]
async fn with_limit_body_off_a_body_over_body_limit_is_read_in_full() {
    let two_kib = vec![b'x'; 2048];
    let on = serving("http: {body_limit: 1KiB}").await;
    let answer = send(agent().post(&on.url("/echo")), Some(two_kib.clone())).await;
    assert_eq!(answer.expect("answered").status, 413);
    stopped(on).await;

    let off = serving("http: {body_limit: 1KiB, limit_body: false}").await;
    let answer = send(agent().post(&off.url("/echo")), Some(two_kib))
        .await
        .expect("answered");
    assert_eq!((answer.status, answer.body.as_str()), (200, "2048 bytes"));
    stopped(off).await;
}

#[tokio::test]
async fn with_timeout_off_a_request_past_request_timeout_completes() {
    let on = serving("http: {request_timeout: 100ms}").await;
    assert_eq!(get_path(&on, "/sleep/400").await.status, 503);
    stopped(on).await;

    let off = serving("http: {request_timeout: 100ms, timeout: false}").await;
    let answer = get_path(&off, "/sleep/400").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "slept 400 ms"));
    stopped(off).await;
}

/// The `http_requests_total` lines of `/metrics` for `route`.
async fn request_series(svc: &TestService, route: &str) -> (String, Vec<String>) {
    let metrics = get_path(svc, "/metrics").await.body;
    let prefix = format!("http_requests_total{{method=\"GET\",route=\"{route}\"");
    let lines = metrics
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    (metrics, lines)
}

#[tokio::test]
async fn with_metrics_off_requests_are_not_counted_and_the_other_series_stay() {
    // One recorder per process: each case counts a route of its own.
    let on = serving("{}").await;
    get_path(&on, "/hello-counted").await;
    let (metrics, lines) = request_series(&on, "/hello-counted").await;
    assert_eq!(
        lines,
        [r#"http_requests_total{method="GET",route="/hello-counted",status="200"} 1"#],
        "{metrics}"
    );
    stopped(on).await;

    let off = serving("http: {metrics: false}").await;
    assert_eq!(get_path(&off, "/hello-uncounted").await.status, 200);
    let (metrics, lines) = request_series(&off, "/hello-uncounted").await;
    assert_eq!(lines, Vec::<String>::new(), "{metrics}");
    assert!(metrics.contains("micro_build_info{"), "the rest stays:\n{metrics}");
    assert!(
        metrics.contains("micro_config_generation 1"),
        "the rest stays:\n{metrics}"
    );
    stopped(off).await;
}

/// Opens a connection to `svc`, sends a request's first line at once, then
/// its headers one byte every 50 ms for `trickle`, then the end of the
/// headers: what the service answered (empty when it closed first).
fn slow_headers(svc: &TestService, trickle: Duration) -> String {
    let mut stream = TcpStream::connect(svc.addr()).expect("connected");
    stream.set_read_timeout(Some(BOUND)).expect("read timeout");
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .expect("first bytes");
    let until = Instant::now() + trickle;
    let mut open = true;
    while open && Instant::now() < until {
        // Pacing the client, not waiting for the server: the trickle is what is tested.
        std::thread::sleep(Duration::from_millis(50));
        open = stream.write_all(b"a").is_ok();
    }
    if open {
        let _ = stream.write_all(b"\r\nconnection: close\r\n\r\n");
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_header_timeout_off_slow_headers_are_not_cut_at_header_read_timeout() {
    let trickle = Duration::from_secs(2);
    let on = serving("http: {header_read_timeout: 200ms}").await;
    let answer = tokio::task::block_in_place(|| slow_headers(&on, trickle));
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "on: cut at 200ms, not answered after 2s of headers: {answer:?}"
    );
    stopped(on).await;

    let off = serving("http: {header_read_timeout: 200ms, header_timeout: false}").await;
    let answer = tokio::task::block_in_place(|| slow_headers(&off, trickle));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("hello"), "{answer:?}");
    stopped(off).await;
}
